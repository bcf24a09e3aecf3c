"""What the video page's AOI editor saves through (PUT /v1/assets/{id}/aois, no browser): timed
AOIs recompute the per-window shares from the stored saliency, quickly and without a job; a box
outside the frame, an end before the start, a start past the video's end and another
organisation's asset are refused with a message, and nothing is stored."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api_support import World, make_world
from tests.video_cases import scene, write_video


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("video-aois")
    w = make_world(tmp)
    for org in ("acme", "other"):
        w.campaign(w.add_org(org))
    return w


@pytest.fixture(scope="module")
def video(world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2 s 320x240 clip, analysed, with one untimed AOI."""
    o = world.orgs["acme"]
    path = write_video(
        tmp_path_factory.mktemp("clip") / "v.mp4", seconds=2.0, size=(320, 240), frame=scene(320, 240, enter_s=1.0)
    )
    asset = str(world.asset(o, "spot", aois=[{"name": "left", "x": 0, "y": 0, "w": 160, "h": 240}])["asset"])
    assert world.upload(o, asset, Path(path).read_bytes(), "v.mp4").status_code == 202
    assert world.run_jobs() == 1
    return asset


def _state(world: World, asset: str, org: str = "acme") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    h = world.orgs[org].headers
    aois = world.client.get(f"/v1/assets/{asset}", headers=h).json()["aois"]
    attention = world.client.get(f"/v1/assets/{asset}/results", headers=h).json()["analysis"]["attention"]
    return aois, attention


def _put(world: World, asset: str, aois: list[dict[str, Any]], org: str = "acme") -> Any:
    return world.client.put(f"/v1/assets/{asset}/aois", json={"aois": aois}, headers=world.orgs[org].headers)


def test_timed_aois_recompute_the_window_shares_quickly_without_a_job(world: World, video: str) -> None:
    jobs_before = world.services.table.query("JOBQ#done", index="GSI1").items
    aois = [
        {"name": "square", "x": 200, "y": 60, "w": 80, "h": 80, "start_s": 1.0, "end_s": 2.0},
        {"name": "square_always", "x": 200, "y": 60, "w": 80, "h": 80},
    ]
    started = time.perf_counter()
    r = _put(world, video, aois)
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    assert elapsed < 2.0, f"recomputing the shares took {elapsed:.2f} s"
    stored, attention = _state(world, video)
    assert [(a["name"], a["start_s"], a["end_s"]) for a in stored] == [
        ("square", 1.0, 2.0),
        ("square_always", None, None),
    ]
    timed, always = attention
    # Outside its window the AOI holds nothing: the first second counts zero, so its mean over the
    # whole video is lower than the same box counted throughout.
    assert 0 < timed["whole"] < always["whole"] and timed["area_fraction"] == always["area_fraction"]
    assert world.services.table.query("JOBQ#done", index="GSI1").items == jobs_before


BAD = {
    "end before start": ({"start_s": 1.5, "end_s": 0.5}, "validation_error", "end_s must be after start_s"),
    "start after the end": ({"start_s": 2.5}, "invalid_aoi", "at or after the end of the video (2 s)"),
    "start at the end": ({"start_s": 2.0, "end_s": 3.0}, "invalid_aoi", "at or after the end of the video"),
    "box right of the frame": ({"x": 320}, "invalid_aoi", "outside the 320x240 px frame"),
    "box below the frame": ({"y": 400}, "invalid_aoi", "outside the 320x240 px frame"),
    "zero width": ({"w": 0}, "validation_error", "greater than 0"),
    "negative start": ({"start_s": -1}, "validation_error", "greater than or equal to 0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_timed_aoi_is_refused_with_a_message_and_nothing_is_stored(world: World, video: str, case: str) -> None:
    good = {"name": "ok", "x": 10, "y": 10, "w": 50, "h": 50, "start_s": 0.5}
    assert _put(world, video, [good]).status_code == 200
    before = _state(world, video)
    change, code, words = BAD[case]
    r = _put(world, video, [good, {"name": "bad", "x": 10, "y": 10, "w": 50, "h": 50, **change}])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert words in error["message"] + " ".join(d["message"] for d in error.get("details", []))
    assert _state(world, video) == before


def test_another_organisations_video_is_not_found_and_keeps_its_aois(world: World, video: str) -> None:
    before = _state(world, video)
    r = _put(world, video, [{"name": "x", "x": 1, "y": 1, "w": 5, "h": 5, "start_s": 0.5}], org="other")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert _state(world, video) == before


def test_an_image_box_outside_the_picture_is_refused_but_one_overlapping_its_edge_is_kept(world: World) -> None:
    from tests.media_cases import jpeg, photo

    o = world.orgs["acme"]
    asset = str(world.asset(o, "photo")["asset"])
    image = photo(seed=1)
    assert world.upload(o, asset, jpeg(image)).status_code == 202
    assert world.run_jobs() == 1
    w, h = image.size
    r = _put(world, asset, [{"name": "off", "x": w, "y": 0, "w": 10, "h": 10}])
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_aoi"
    assert _put(world, asset, [{"name": "edge", "x": w - 5, "y": h - 5, "w": 50, "h": 50}]).status_code == 200


def test_a_poisoned_stored_aoi_is_left_out_of_the_video_page_not_breaking_its_editor(world: World, video: str) -> None:
    import re
    import sqlite3

    from tests.api_support import PASSWORD

    assert _put(world, video, [{"name": "keep", "x": 1, "y": 2, "w": 30, "h": 40, "start_s": 0.5}]).status_code == 200
    assert (
        _put(
            world,
            video,
            [
                {"name": "keep", "x": 1, "y": 2, "w": 30, "h": 40, "start_s": 0.5},
                {"name": "bad", "x": 1, "y": 2, "w": 3, "h": 4},
            ],
        ).status_code
        == 200
    )
    # An item written before validation existed: poison one AOI in place.
    db = sqlite3.connect(world.services.settings.data_dir / "impactlens.db")
    (data,) = db.execute("SELECT data FROM items WHERE pk=? AND sk='METADATA'", (f"ASSET#{video}",)).fetchone()
    poisoned = data.replace('"w": 3.0', '"w": NaN')
    assert poisoned != data
    db.execute("UPDATE items SET data=? WHERE pk=? AND sk='METADATA'", (poisoned, f"ASSET#{video}"))
    db.commit()
    db.close()
    login = world.client.post("/v1/auth/login", json={"email": "admin@acme.test", "password": PASSWORD})
    assert login.status_code == 200
    page = world.client.get(f"/assets/{video}")
    assert page.status_code == 200
    m = re.search(r'<script type="application/json" id="asset-data">(.*?)</script>', page.text, re.S)
    assert m

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} in the page's JSON: the browser's JSON.parse refuses it")

    data_out = json.loads(m.group(1), parse_constant=no_constants)
    assert [a["name"] for a in data_out["aois"]] == ["keep"]
    assert "keep=1,2,30,40@0.5-2" in page.text
