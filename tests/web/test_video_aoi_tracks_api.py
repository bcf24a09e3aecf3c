"""Tracked video AOIs through PUT /v1/assets/{id}/aois (no browser): a kept element that moves is
measured with its box where it is at each instant, not with its mean box; a malformed track is
refused with a precise message and nothing is stored; AOIs stored as one box still work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from impactlens.engine.image import attention_shares
from impactlens.engine.types import AOI
from impactlens.jobs.analysis import results_prefix
from impactlens.media.heatmap import upsample_density
from impactlens.media.video_io import target_size
from impactlens.pipeline.chunks import load_result
from tests.api_support import World, make_world
from tests.video_cases import write_video

W, H, SECONDS = 320, 240, 4.0
SIDE = 60
X_FROM, X_TO, Y = 10.0, 250.0, 90.0


def square_x(t: float) -> float:
    return X_FROM + (X_TO - X_FROM) * t / SECONDS


def moving_square(i: int, t: float) -> np.ndarray:
    """A dark, striped backdrop and a white square crossing it left to right at constant speed."""
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 0] = 30 + 15 * np.sin(xx / 19.0)
    img[..., 2] = 50
    pil = Image.fromarray(img)
    x = round(square_x(t))
    ImageDraw.Draw(pil).rectangle((x, Y, x + SIDE, Y + SIDE), fill=(255, 255, 255))
    return np.asarray(pil)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(tmp_path_factory.mktemp("video-tracks"))
    for org in ("acme", "other"):
        w.campaign(w.add_org(org))
    return w


@pytest.fixture(scope="module")
def video(world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    o = world.orgs["acme"]
    path = write_video(tmp_path_factory.mktemp("clip") / "v.mp4", seconds=SECONDS, size=(W, H), frame=moving_square)
    asset = str(world.asset(o, "crossing")["asset"])
    assert world.upload(o, asset, Path(path).read_bytes(), "v.mp4").status_code == 202
    assert world.run_jobs() == 1
    return asset


def _put(world: World, asset: str, aois: list[dict[str, Any]], org: str = "acme") -> Any:
    return world.client.put(f"/v1/assets/{asset}/aois", json={"aois": aois}, headers=world.orgs[org].headers)


def _state(world: World, asset: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    h = world.orgs["acme"].headers
    aois = world.client.get(f"/v1/assets/{asset}", headers=h).json()["aois"]
    attention = world.client.get(f"/v1/assets/{asset}/results", headers=h).json()["analysis"]["attention"]
    return aois, attention


def _keyframes(times: list[float]) -> list[dict[str, float]]:
    return [{"t": t, "x": square_x(t), "y": Y, "w": SIDE, "h": SIDE} for t in times]


def _direct_shares(world: World, asset: str, box_at: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each sampled instant's full-size attention map (the stored grids upsampled, as an image's
    heatmap), summed inside the box given for that instant: the definition, written out."""
    org = world.orgs["acme"].org
    item = world.services.repo.get_asset(org, asset)
    assert item is not None
    version = str(item["result_version"])
    stored = world.services.repo.get_result(org, asset, version)
    assert stored is not None
    saved = load_result(world.services.blobs.read(f"{results_prefix(org, asset, version)}/saliency.npz"))
    fw, fh = stored.get("frame_size") or target_size(W, H, world.services.settings.video_long_side)
    sx, sy = fw / W, fh / H
    shares = []
    for t, grid in zip(saved.t, saved.grids, strict=True):
        x, y, w, h = box_at(float(t))
        box = AOI(name="b", x=x * sx, y=y * sy, w=w * sx, h=h * sy)
        shares.append(attention_shares(upsample_density(grid, int(fw), int(fh)), [box])[0].share)
    return np.asarray(saved.t), np.asarray(shares)


def test_a_moving_element_is_measured_where_it_is_at_each_instant_not_at_its_mean_box(world: World, video: str) -> None:
    track = _keyframes([0.0, 3.5])
    mean = {k: float(np.mean([p[k] for p in track])) for k in ("x", "y", "w", "h")}
    r = _put(world, video, [{"name": "square", **mean, "track": track}, {"name": "square_mean", **mean}])
    assert r.status_code == 200, r.text
    stored, attention = _state(world, video)
    assert stored[0]["track"] == track and stored[1]["track"] is None
    tracked, fixed = attention

    def on_track(t: float) -> tuple[float, float, float, float]:
        return (square_x(min(t, 3.5)), Y, SIDE, SIDE)  # linear between the keyframes, held after

    times, want = _direct_shares(world, video, on_track)
    _, want_mean = _direct_shares(world, video, lambda t: (mean["x"], mean["y"], mean["w"], mean["h"]))
    assert tracked["whole"] == pytest.approx(want.mean(), rel=1e-6)
    assert tracked["first_3s"] == pytest.approx(want[times < 3].mean(), rel=1e-6)
    assert fixed["whole"] == pytest.approx(want_mean.mean(), rel=1e-6)
    # The square draws the eye wherever it is: followed, it holds far more than the box it
    # only crosses halfway through.
    print(f"whole share: tracked {tracked['whole']:.4f} (direct {want.mean():.4f}), mean box {fixed['whole']:.4f}")
    assert tracked["whole"] > 2 * fixed["whole"], (tracked, fixed)
    area = SIDE * SIDE / (W * H)
    assert tracked["area_fraction"] == pytest.approx(area) and fixed["area_fraction"] == pytest.approx(area)
    assert tracked["lift"] == pytest.approx(want.mean() / area, rel=1e-6)
    assert fixed["lift"] == pytest.approx(want_mean.mean() / area, rel=1e-6)


def test_a_timed_tracked_element_counts_only_in_its_window_with_the_box_of_each_instant(
    world: World, video: str
) -> None:
    track = _keyframes([0.5, 1.5, 2.5])
    r = _put(
        world,
        video,
        [{"name": "sq", "x": 100, "y": Y, "w": SIDE, "h": SIDE, "start_s": 1.0, "end_s": 3.0, "track": track}],
    )
    assert r.status_code == 200, r.text
    (got,) = _state(world, video)[1]
    times, want = _direct_shares(world, video, lambda t: (square_x(min(max(t, 0.5), 2.5)), Y, SIDE, SIDE))
    want = np.where((times >= 1.0) & (times < 3.0), want, 0.0)
    assert got["whole"] == pytest.approx(want.mean(), rel=1e-6)
    assert got["first_3s"] == pytest.approx(want[times < 3].mean(), rel=1e-6)


def _tracked(**change: Any) -> dict[str, Any]:
    return {"name": "bad", "x": 10, "y": 10, "w": SIDE, "h": SIDE, "track": _keyframes([0.0, 1.0, 2.0]), **change}


def _point(i: int, **change: Any) -> dict[str, Any]:
    track = _keyframes([0.0, 1.0, 2.0])
    track[i] = {**track[i], **change}
    return _tracked(track=track)


BAD = {
    "times not increasing": (_point(2, t=1.0), "validation_error", "point 2 (t=1 s) is not after point 1 (t=1 s)"),
    "time before zero": (_point(0, t=-0.5), "validation_error", "greater than or equal to 0"),
    "time after the video": (
        _point(2, t=9.0),
        "invalid_aoi",
        "track point 2 is at 9 s, after the end of the video (4 s)",
    ),
    "box right of the frame": (
        _point(1, x=W),
        "invalid_aoi",
        "track point 1 (t=1 s, box 320,90,60,60) does not overlap the 320x240 px frame",
    ),
    "box above the frame": (
        _point(0, y=-SIDE),
        "invalid_aoi",
        "track point 0 (t=0 s, box 10,-60,60,60) does not overlap",
    ),
    "zero width": (_point(1, w=0), "validation_error", "greater than 0"),
    "an unknown field": (_point(1, angle=3), "validation_error", "Extra inputs are not permitted"),
    "an empty track": (_tracked(track=[]), "validation_error", "at least 1 item"),
    "too many points": (
        _tracked(track=[{"t": i * 0.01, "x": 10, "y": 10, "w": 5, "h": 5} for i in range(121)]),
        "validation_error",
        "at most 120 items",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_malformed_track_is_refused_precisely_and_nothing_is_stored(world: World, video: str, case: str) -> None:
    good = {"name": "ok", "x": 10, "y": 10, "w": 50, "h": 50, "track": _keyframes([0.0, 2.0])}
    assert _put(world, video, [good]).status_code == 200
    before = _state(world, video)
    body, code, words = BAD[case]
    r = _put(world, video, [good, body])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    text = error["message"] + " ".join(f"{'.'.join(d['loc'])}: {d['message']}" for d in error.get("details", []))
    assert words in text, text
    if code == "validation_error":
        assert any(d["loc"][:4] == ["body", "aois", "1", "track"] for d in error["details"]), error
    assert _state(world, video) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e400"])
def test_a_non_finite_track_number_is_refused_and_nothing_is_stored(world: World, video: str, number: str) -> None:
    before = _state(world, video)
    text = json.dumps({"aois": [_tracked()]}).replace('"x": 10.0', f'"x": {number}', 1)
    assert number in text
    h = {**world.orgs["acme"].headers, "Content-Type": "application/json"}
    r = world.client.put(f"/v1/assets/{video}/aois", content=text, headers=h)
    assert r.status_code == 422, r.text
    assert any("finite" in d["message"] for d in r.json()["error"]["details"]), r.text
    assert _state(world, video) == before


def test_the_points_of_one_request_are_capped_over_all_its_tracks(world: World, video: str) -> None:
    before = _state(world, video)
    track = [{"t": i * 0.03, "x": 10, "y": 10, "w": 5, "h": 5} for i in range(110)]
    r = _put(world, video, [{"name": f"a{j}", "x": 10, "y": 10, "w": 5, "h": 5, "track": track} for j in range(11)])
    assert r.status_code == 422
    assert "hold 1210 points in all; at most 1200 per request" in r.text
    assert _state(world, video) == before
    ten = [{"name": f"a{j}", "x": 10, "y": 10, "w": 5, "h": 5, "track": track} for j in range(10)]
    assert _put(world, video, ten).status_code == 200


def test_an_image_aoi_with_a_track_is_refused(world: World) -> None:
    from tests.media_cases import jpeg, photo

    o = world.orgs["acme"]
    asset = str(world.asset(o, "photo")["asset"])
    assert world.upload(o, asset, jpeg(photo(seed=2))).status_code == 202
    assert world.run_jobs() == 1
    r = _put(
        world,
        asset,
        [{"name": "face", "x": 1, "y": 1, "w": 9, "h": 9, "track": [{"t": 0, "x": 1, "y": 1, "w": 9, "h": 9}]}],
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_aoi"
    assert "tracks are for videos" in r.json()["error"]["message"]
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["aois"] == []


def test_aois_stored_as_one_box_before_tracks_still_load_and_recompute(world: World, video: str) -> None:
    org = world.orgs["acme"].org
    old = [{"name": "logo", "x": 20.0, "y": 30.0, "w": 40.0, "h": 50.0, "start_s": 0.5, "end_s": None}]
    world.services.repo.update_asset(org, video, {"aois": old})  # the shape written before tracks
    h = world.orgs["acme"].headers
    (got,) = world.client.get(f"/v1/assets/{video}", headers=h).json()["aois"]
    assert got["track"] is None and {k: got[k] for k in old[0]} == old[0]
    assert _put(world, video, old).status_code == 200
    (share,) = _state(world, video)[1]
    assert share["name"] == "logo" and 0 < share["whole"] < 1 and share["lift"] > 0


def test_a_track_sent_with_a_new_asset_is_measured_by_its_analysis_as_by_a_recompute(
    world: World, video: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """AOIs given at creation travel in the video job's payload: the analysis measures the
    track the same way PUT's recompute does."""
    o = world.orgs["acme"]
    aoi = {"name": "square", "x": 130, "y": Y, "w": SIDE, "h": SIDE, "track": _keyframes([0.0, 3.5])}
    too_many = [{**aoi, "name": f"s{j}", "track": _keyframes(list(np.arange(110) * 0.03))} for j in range(11)]
    r = world.client.post(
        "/v1/assets", json={"brand": "b1", "campaign": "c1", "name": "x", "aois": too_many}, headers=o.headers
    )
    assert r.status_code == 422 and "at most 1200 per request" in r.text
    asset = str(world.asset(o, "crossing-again", aois=[aoi])["asset"])
    path = write_video(tmp_path_factory.mktemp("again") / "v.mp4", seconds=SECONDS, size=(W, H), frame=moving_square)
    assert world.upload(o, asset, Path(path).read_bytes(), "v.mp4").status_code == 202
    assert world.run_jobs() == 1
    (analysed,) = _state(world, asset)[1]
    assert _put(world, asset, [aoi]).status_code == 200
    (recomputed,) = _state(world, asset)[1]
    for k in ("first_3s", "whole", "area_fraction", "lift"):
        assert analysed[k] == pytest.approx(recomputed[k], rel=1e-9), k


def test_a_stored_aoi_whose_track_holds_a_non_finite_number_is_left_out_of_pages() -> None:
    from impactlens.api.schemas import finite_aois

    good = {
        "name": "a",
        "x": 1.0,
        "y": 1.0,
        "w": 2.0,
        "h": 2.0,
        "track": [{"t": 0.0, "x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0}],
    }
    bad = {**good, "name": "b", "track": [{"t": 0.0, "x": float("nan"), "y": 1.0, "w": 2.0, "h": 2.0}]}
    old = {"name": "c", "x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0}
    assert finite_aois([good, bad, old]) == [good, old]
