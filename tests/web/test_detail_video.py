"""The video detail page in a real browser: playback moves the timeline's cursor, a click on the
chart seeks, the heatmap video follows the original, AOI shares per window and timed AOIs, the
report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.video_cases import scene, write_video
from tests.web.conftest import LiveServer, serious_violations, shot, wait_for
from tests.web.test_detail_image import Api, api  # noqa: F401 - the module's API client fixture

DURATION = 4.0


@pytest.fixture(scope="module")
def video(api: Api, live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    """A 4 s clip where a white square enters at 1 s; one AOI on it from 1 s, one on the left."""
    path = write_video(Path(tmp_path_factory.mktemp("clip")) / "spot.mp4", seconds=DURATION, size=(320, 240),
                       frame=scene(320, 240, enter_s=1.0))
    aois = [
        {"name": "square", "x": 200, "y": 60, "w": 80, "h": 80, "start_s": 1.0},
        {"name": "left", "x": 0, "y": 0, "w": 160, "h": 240},
    ]
    asset = api.upload("Spring spot", path.read_bytes(), "spot.mp4", aois)
    assert live_server.wait_assets_done([asset])[asset]["status"] == "done"
    return asset


def _t(page: Any) -> float:
    return float(page.locator("[data-timeline]").get_attribute("data-t"))


def _playhead_x(page: Any) -> float:
    style = page.locator(".playhead").evaluate("e => e.style.transform")
    m = re.fullmatch(r"translateX\(([-\d.]+)px\)", style)
    assert m, style
    return float(m.group(1))


def test_playing_moves_the_timeline_cursor_and_a_click_on_the_chart_seeks(admin_page: Any, video: str) -> None:
    page = admin_page
    page.goto(f"/assets/{video}")
    page.wait_for_selector(".timeline-chart .u-over")
    original = page.locator("video.video-original")
    assert _t(page) == 0.0
    x0 = _playhead_x(page)
    original.evaluate("v => { v.muted = true; return v.play(); }")
    wait_for(page, "() => Number(document.querySelector('[data-timeline]').dataset.t) > 0.5")
    original.evaluate("v => v.pause()")
    assert _playhead_x(page) > x0
    assert abs(_t(page) - original.evaluate("v => v.currentTime")) < 0.05
    over = page.locator(".timeline-chart .u-over")
    box = over.bounding_box()
    over.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    wait_for(page, "() => Math.abs(document.querySelector('video.video-original').currentTime - 3.0) < 0.1")
    assert abs(_t(page) - 3.0) < 0.1
    keyframe = page.locator("button.keyframe").first
    keyframe.click()
    want = float(keyframe.get_attribute("data-t"))
    wait_for(page, f"() => Math.abs(document.querySelector('video.video-original').currentTime - {want}) < 0.35")


def test_the_heatmap_video_is_switchable_and_follows_the_original(admin_page: Any, video: str) -> None:
    page = admin_page
    page.goto(f"/assets/{video}")
    heat = page.locator("video.video-heatmap")
    assert heat.is_hidden()
    page.get_by_label("Attention heatmap").check()
    assert heat.is_visible()
    page.locator(".timeline-chart .u-over").click(position={"x": 60, "y": 40})
    wait_for(page, """() => {
            const [m, h] = ['original', 'heatmap'].map(k => document.querySelector('video.video-' + k));
            return m.currentTime > 0.2 && h.readyState >= 2 && Math.abs(m.currentTime - h.currentTime) < 0.05;
        }"""
    )
    page.get_by_label("Heatmap opacity").fill("40")
    assert heat.evaluate("v => v.style.opacity") == "0.4"
    page.get_by_label("Heatmap opacity").fill("85")
    wait_for(
        page, "() => [...document.querySelectorAll('.video-stage video')].every(v => v.readyState >= 2 && !v.seeking)"
    )
    shot(page, "detail_video")
    page.get_by_label("Original", exact=True).check()
    assert heat.is_hidden()


def test_aoi_shares_per_window_and_timed_aois_are_listed(admin_page: Any, api: Api, video: str) -> None:  # noqa: F811
    page = admin_page
    page.goto(f"/assets/{video}")
    attention = {a["name"]: a for a in api.http.get(f"/v1/assets/{video}/results").json()["analysis"]["attention"]}
    row = page.locator(".video-aoi-table tr[data-name=square]").locator("td")
    cells = [c.strip() for c in row.all_inner_texts()]
    want = [f"{attention['square'][k] * 100:.1f}%" for k in ("first_3s", "first_5s", "whole", "area_fraction")]
    assert cells == want
    specs = page.locator(".aoi-specs").inner_text()
    assert "square=200,60,80,80@1-4" in specs and "counts from 1 s to the end" in specs
    assert "left=0,0,160,240\n" in specs + "\n"


def test_the_video_report_prints_on_one_page_and_the_pages_pass_axe(admin_page: Any, video: str) -> None:
    page = admin_page
    page.goto(f"/assets/{video}/report")
    page.wait_for_load_state("networkidle")
    assert page.locator(".report-keyframes img").count() >= 1
    assert page.locator("svg.report-spark polyline.smooth").get_attribute("points").count(",") == 8  # 2 per second
    shot(page, "detail_report_video")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1
    assert serious_violations(page) == []
    page.goto(f"/assets/{video}")
    page.wait_for_load_state("networkidle")
    assert serious_violations(page) == []


def test_a_click_on_the_chart_before_playing_seeks_the_video_that_was_not_loaded_yet(
    admin_page: Any, video: str
) -> None:
    page = admin_page
    page.goto(f"/assets/{video}")
    original = page.locator("video.video-original")
    assert original.evaluate("v => v.readyState") == 0  # nothing of the video is fetched before it is asked for
    assert original.evaluate("v => new URL(v.poster).pathname.endsWith('/media/poster')")
    over = page.locator(".timeline-chart .u-over")
    box = over.bounding_box()
    over.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    wait_for(page, "() => Math.abs(document.querySelector('video.video-original').currentTime - 2.0) < 0.1")
    wait_for(page, "() => document.querySelector('video.video-original').readyState >= 1")
