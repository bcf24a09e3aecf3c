"""The AOI editor on a video's page, in a real browser: an AOI drawn on a frame with a time window
(start from the "Now" button, end from the keyboard), saved through the session (cookie + CSRF)
and listed with its shares per window; a tracked face kept as an AOI with its box and the span it
is on screen, renamed and dropped; an end before the start refused on the spot, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.video_cases import write_video
from tests.web.conftest import LiveServer, serious_violations, shot, wait_for
from tests.web.test_detail_image import Api, api, portrait  # noqa: F401 - the module's API client fixture

W, H, DURATION = 640, 360, 4.0
FACE_FROM_S = 1.0
SAVED = "() => document.querySelector('[data-video-aoi-editor]').dataset.saved === 'ok'"


@pytest.fixture(scope="module")
def video(api: Api, live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    """4 s: a title until 2.5 s; Grace Hopper's portrait (a face for the detector) from 1 s on."""
    face = np.asarray(portrait(256))[:300]
    backdrop = np.full((H, W, 3), (60, 90, 120), np.uint8)
    title = Image.fromarray(backdrop)
    ImageDraw.Draw(title).text((30, 150), "Summer sale", font=ImageFont.load_default(44), fill="white")
    with_title = np.asarray(title)

    def frame(i: int, t: float) -> np.ndarray:
        out = (with_title if t < 2.5 else backdrop).copy()
        if t >= FACE_FROM_S:
            out[30 : 30 + face.shape[0], 360:616] = face
        return out

    path = write_video(Path(tmp_path_factory.mktemp("ad")) / "ad.mp4", seconds=DURATION, size=(W, H), frame=frame)
    asset = api.upload("Face spot", path.read_bytes(), "ad.mp4", [])
    assert live_server.wait_assets_done([asset], timeout_s=240)[asset]["status"] == "done"
    return asset


def _set_aois(api: Api, asset: str, aois: list[dict[str, Any]]) -> None:  # noqa: F811
    r = api.http.put(f"/v1/assets/{asset}/aois", json={"aois": aois})
    assert r.status_code == 200, r.text


def _attention(api: Api, asset: str) -> dict[str, dict[str, Any]]:  # noqa: F811
    found = api.http.get(f"/v1/assets/{asset}/results").json()["analysis"]["attention"]
    return {a["name"]: a for a in found}


def _share_cells(page: Any, name: str) -> list[str]:
    return [c.strip() for c in page.locator(f".video-aoi-table tr[data-name={name}] td").all_inner_texts()]


def _want_cells(share: dict[str, Any]) -> list[str]:
    return [f"{share[k] * 100:.1f}%" for k in ("first_3s", "first_5s", "whole", "area_fraction")]


def test_an_aoi_drawn_on_a_frame_with_a_time_window_is_saved_and_listed_with_its_shares(
    admin_page: Any,
    api: Api,  # noqa: F811
    video: str,
) -> None:
    _set_aois(api, video, [])
    page = admin_page
    page.goto(f"/assets/{video}")
    assert page.locator(".video-aoi-none").is_visible()
    page.get_by_label("Frame at").fill("1.5")
    wait_for(page, "() => Math.abs(document.querySelector('video.video-original').currentTime - 1.5) < 0.01")
    draw = page.get_by_role("button", name="Draw on the frame")
    draw.click()
    assert draw.get_attribute("aria-pressed") == "true"
    box = page.locator("canvas.aoi-canvas").bounding_box()
    scale = W / box["width"]  # video display pixels per CSS pixel, both axes
    x0, y0, x1, y1 = box["width"] * 0.55, box["height"] * 0.1, box["width"] * 0.95, box["height"] * 0.9
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    page.mouse.down()
    page.mouse.move(box["x"] + x1, box["y"] + y1, steps=6)
    page.mouse.up()
    wait_for(page, SAVED, timeout=30_000)
    page.get_by_role("button", name="Set the start of AOI aoi_1 to the current time").click()
    wait_for(page, SAVED, timeout=30_000)
    # The end from the keyboard: a later frame, the canvas, Tab to the AOI, "]".
    page.get_by_label("Frame at").fill("3.5")
    canvas = page.locator("canvas.aoi-canvas")
    canvas.focus()
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert "aoi_1 selected" in (canvas.get_attribute("aria-label") or "")
    page.keyboard.press("]")
    wait_for(page, SAVED, timeout=30_000)
    assert page.get_by_label("End of AOI aoi_1, seconds").input_value() == "3.5"
    (stored,) = api.aois(video)
    want = {"x": x0 * scale, "y": y0 * scale, "w": (x1 - x0) * scale, "h": (y1 - y0) * scale}
    assert all(abs(stored[k] - want[k]) <= 4 for k in want), (stored, want, box)
    assert (stored["start_s"], stored["end_s"]) == (1.5, 3.5)
    share = _attention(api, video)["aoi_1"]
    assert 0 < share["whole"] < 1
    assert _share_cells(page, "aoi_1") == _want_cells(share)
    assert "1.5–3.5 s" in page.locator(".video-aoi-table tr[data-name=aoi_1] th").inner_text()
    assert "aoi_1=" in page.locator(".aoi-specs").inner_text()
    assert "counts from 1.5 s to 3.5 s" in page.locator(".aoi-specs").inner_text()
    assert page.locator(".video-aoi-none").is_hidden()
    shot(page, "detail_video_aoi_editor")
    # Playing hands the clicks back to the player.
    page.locator("video.video-original").evaluate("v => { v.muted = true; return v.play(); }")
    wait_for(page, "() => !document.querySelector('canvas.aoi-canvas').classList.contains('drawing')")
    assert draw.get_attribute("aria-pressed") == "false"
    page.locator("video.video-original").evaluate("v => v.pause()")
    # It stays after a reload, as the server renders it.
    page.reload()
    assert _share_cells(page, "aoi_1") == _want_cells(share)
    assert page.get_by_label("Start of AOI aoi_1, seconds").input_value() == "1.5"
    page.wait_for_load_state("networkidle")
    assert serious_violations(page) == []


def test_a_tracked_face_is_kept_with_its_span_then_renamed_and_dropped(
    admin_page: Any,
    api: Api,  # noqa: F811
    video: str,
) -> None:
    _set_aois(api, video, [])
    found = api.http.get(f"/v1/assets/{video}/results").json()["analysis"]["auto_aois"]
    faces = [a for a in found if a["kind"] == "face"]
    assert faces, "the detector finds Grace Hopper's face"
    face = faces[0]
    assert face["start_s"] == pytest.approx(FACE_FROM_S, abs=0.6)
    page = admin_page
    page.goto(f"/assets/{video}")
    page.get_by_role("button", name="Keep face 1 as an AOI").click()
    wait_for(page, SAVED, timeout=30_000)
    (kept,) = api.aois(video)
    assert kept["name"] == face["name"]
    assert [round(kept[k]) for k in "xywh"] == [round(face[k]) for k in "xywh"]
    assert (kept["start_s"], kept["end_s"]) == (face["start_s"], face["end_s"])
    # The page shows the frame it appears on.
    wait_for(
        page, f"() => Math.abs(document.querySelector('video.video-original').currentTime - {face['start_s']}) < 0.05"
    )
    share = _attention(api, video)[face["name"]]
    assert share["whole"] == pytest.approx(face["attention"]["whole"], abs=0.01)
    name = page.get_by_label("Name of AOI 1")
    name.fill("presenter")
    name.press("Enter")
    wait_for(page, SAVED, timeout=30_000)
    (renamed,) = api.aois(video)
    assert renamed["name"] == "presenter" and renamed["start_s"] == face["start_s"]
    assert _share_cells(page, "presenter") == _want_cells(_attention(api, video)["presenter"])
    page.get_by_role("button", name="Delete AOI presenter").click()
    wait_for(page, SAVED, timeout=30_000)
    assert api.aois(video) == [] and _attention(api, video) == {}
    assert page.locator(".video-aoi-none").is_visible()


def test_an_end_before_the_start_is_refused_with_a_message_and_nothing_is_stored(
    admin_page: Any,
    api: Api,  # noqa: F811
    video: str,
) -> None:
    _set_aois(api, video, [{"name": "logo", "x": 20, "y": 20, "w": 100, "h": 60, "start_s": 1.0, "end_s": 3.0}])
    before = (api.aois(video), _attention(api, video))
    page = admin_page
    page.goto(f"/assets/{video}")
    end = page.get_by_label("End of AOI logo, seconds")
    end.fill("0.5")
    end.press("Enter")
    status = page.locator(".aoi-status")
    assert "the end of logo (0.5 s) must be after its start (1 s)" in status.inner_text()
    assert "error" in (status.get_attribute("class") or "")
    assert end.get_attribute("aria-invalid") == "true"
    assert page.locator("[data-video-aoi-editor]").get_attribute("data-saved") == "invalid"
    page.wait_for_timeout(800)  # past the save delay: nothing was sent
    shot(page, "detail_video_aoi_refused")
    # The shares table still shows what the server holds, marked as not matching the editor.
    assert "1–3 s" in page.locator(".video-aoi-table tr[data-name=logo] th").inner_text()
    assert _share_cells(page, "logo") == _want_cells(before[1]["logo"])
    assert page.locator(".shares-stale").is_visible()
    assert (api.aois(video), _attention(api, video)) == before
    # A start past the end of the video: refused the same way.
    end.fill("")
    end.press("Enter")
    start = page.get_by_label("Start of AOI logo, seconds")
    start.fill("9")
    start.press("Enter")
    assert "logo starts at 9 s, at or after the end of the video (4 s)" in status.inner_text()
    assert start.get_attribute("aria-invalid") == "true" and end.get_attribute("aria-invalid") is None
    page.wait_for_timeout(800)
    assert (api.aois(video), _attention(api, video)) == before
    # Mended, it saves.
    start.fill("2")
    start.press("Enter")
    wait_for(page, SAVED, timeout=30_000)
    assert [(a["start_s"], a["end_s"]) for a in api.aois(video)] == [(2.0, None)]
    assert "2–4 s" in page.locator(".video-aoi-table tr[data-name=logo] th").inner_text()
    assert page.locator(".shares-stale").is_hidden()
    # An asset the server does not find for this organisation (another's looks the same): the
    # server's words are shown and the editor stays as it was.
    page.evaluate("() => { window.aoiEditor.assetId = 'not-ours'; window.aoiEditor.addCentred(); }")
    wait_for(page, "() => document.querySelector('[data-video-aoi-editor]').dataset.saved === 'error'")
    assert "Not saved: no asset not-ours" in status.inner_text()
    assert len(api.aois(video)) == 1


def _stroke_alpha(page: Any, x: float, y: float) -> int:
    """The most opaque canvas pixel within 3 device pixels of (x, y) in video pixels, on a row."""
    return int(
        page.evaluate(
            """([x, y, width]) => {
              const c = document.querySelector('canvas.aoi-canvas');
              const s = c.width / width;
              const d = c.getContext('2d').getImageData(Math.round(x * s) - 3, Math.round(y * s), 7, 1).data;
              let top = 0;
              for (let i = 3; i < d.length; i += 4) top = Math.max(top, d[i]);
              return top;
            }""",
            [x, y, W],
        )
    )


def _selected_at(page: Any) -> tuple[int, int]:
    import re

    label = page.locator("canvas.aoi-canvas").get_attribute("aria-label") or ""
    m = re.search(r"selected at (-?\d+), (-?\d+),", label)
    assert m, label
    return int(m.group(1)), int(m.group(2))


def test_a_kept_tracked_face_follows_its_track_as_the_frame_slider_moves(
    admin_page: Any,
    api: Api,  # noqa: F811
    live_server: LiveServer,
    video: str,
) -> None:
    """The detector's face, given a track that slides it left over 2 s (written into the stored
    result: the still portrait gives a still track), kept: the box is drawn where the track is
    at the frame shown, and an arrow key moves the whole track."""
    _set_aois(api, video, [])
    repo = live_server.services.repo
    item = repo.get_asset(live_server.org, video)
    assert item is not None
    version = str(item["result_version"])
    original = repo.get_result(live_server.org, video, version)
    assert original is not None
    analysis = json.loads(original["analysis"])
    face = next(a for a in analysis["auto_aois"] if a["kind"] == "face")
    t0, shift = float(face["start_s"]), -min(240.0, face["x"] - 20)
    track = [
        {"t": t0, "x": face["x"], "y": face["y"], "w": face["w"], "h": face["h"]},
        {"t": t0 + 2.0, "x": face["x"] + shift, "y": face["y"], "w": face["w"], "h": face["h"]},
    ]
    face["track"] = track
    repo.put_result(live_server.org, video, version, {**original, "analysis": json.dumps(analysis)})
    try:
        page = admin_page
        page.goto(f"/assets/{video}")
        assert "(tracked)" in page.locator(".auto-aoi-table").inner_text()
        page.get_by_role("button", name="Keep face 1 as an AOI").click()
        wait_for(page, SAVED, timeout=30_000)
        (kept,) = api.aois(video)
        assert [[round(p[k], 1) for k in "txywh"] for p in kept["track"]] == [
            [round(p[k], 1) for k in "txywh"] for p in track
        ]
        wait_for(page, f"() => Math.abs(document.querySelector('video.video-original').currentTime - {t0}) < 0.05")
        mid_y = face["y"] + face["h"] / 2
        x_at = {t0: face["x"], t0 + 1.0: face["x"] + shift / 2, t0 + 2.5: face["x"] + shift}
        for t, x in x_at.items():
            page.get_by_label("Frame at").fill(str(t))
            wait_for(page, f"() => Math.abs(document.querySelector('video.video-original').currentTime - {t}) < 0.05")
            sx, sy = _selected_at(page)
            assert abs(sx - x) <= 1 and abs(sy - face["y"]) <= 1, (t, sx, sy, x)
            assert _stroke_alpha(page, x, mid_y) > 200, t  # its left edge is drawn here...
            others = [o for o in x_at.values() if abs(o - x) > 20]
            assert all(_stroke_alpha(page, o, mid_y) == 0 for o in others), t  # ...and nowhere else
        shot(page, "detail_video_aoi_tracked")
        # The arrow keys move what is shown, so the whole track moves with it.
        canvas = page.locator("canvas.aoi-canvas")
        canvas.focus()
        page.keyboard.press("Shift+ArrowRight")
        wait_for(page, SAVED, timeout=30_000)
        (moved,) = api.aois(video)
        assert [round(p["x"] - q["x"], 1) for p, q in zip(moved["track"], track, strict=True)] == [10.0, 10.0]
        shares = _attention(api, video)[face["name"]]
        assert 0 < shares["whole"] < 1 and shares["lift"] is not None
        assert "follows its track (2 keyframes" in page.locator(".aoi-specs").inner_text()
    finally:
        repo.put_result(live_server.org, video, version, original)
        _set_aois(api, video, [])
