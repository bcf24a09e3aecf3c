"""Every dashboard page under a style policy without 'unsafe-inline': no console error and no
Content-Security-Policy violation on any page (signed in, with analysed image and video assets, a
pending and a failed one), and the layout that used to come from style="" attributes (stage size,
compare columns, histogram bars) still holds. Screenshots of every page, screen and print, land in
test-artifacts/screenshots/strict-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.media_cases import jpeg, photo
from tests.video_cases import scene, write_video
from tests.web.conftest import LiveServer, shot, signed_in_page, wait_for
from tests.web.test_detail_image import Api, api  # noqa: F401 - the module's API client fixture

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  `${e.violatedDirective} blocked=${e.blockedURI} at ${e.sourceFile}:${e.lineNumber} sample=${e.sample}`));
"""


@pytest.fixture(scope="module")
def assets(api: Api, live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:  # noqa: F811
    """A tall portrait image (its stage is limited by the viewport's height), a landscape image,
    a short video (all analysed), an asset still waiting for its file and a failed one."""
    tall = photo(480, 900, seed=3)
    ids = {
        "tall": api.upload("Tall poster", jpeg(tall), "tall.jpg", [{"name": "logo", "x": 40, "y": 40, "w": 200,
                                                                    "h": 120}]),
        "wide": api.upload("Wide banner", jpeg(photo(640, 360, seed=5)), "wide.jpg", []),
    }
    clip = write_video(Path(tmp_path_factory.mktemp("clip")) / "spot.mp4", seconds=3.0, size=(320, 240),
                       frame=scene(320, 240, enter_s=1.0))
    ids["video"] = api.upload("Spot", clip.read_bytes(), "spot.mp4", [{"name": "left", "x": 0, "y": 0, "w": 160,
                                                                       "h": 240}])
    done = live_server.wait_assets_done(list(ids.values()), timeout_s=240)
    assert all(a["status"] == "done" for a in done.values()), done
    r = api.http.post("/v1/assets", json={"brand": "b1", "campaign": "c1", "name": "Waiting for its file"})
    ids["pending"] = str(r.json()["asset"])
    r = api.http.post("/v1/assets", json={"brand": "b1", "campaign": "c1", "name": "Broken"})
    ids["failed"] = str(r.json()["asset"])
    live_server.services.repo.update_asset(live_server.org, ids["failed"], {
        "status": "failed", "error": {"code": "corrupt_media", "message": "could not decode"}})
    return ids


class Watched:
    """A page whose console errors, uncaught exceptions and CSP violations are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.add_init_script(RECORD_VIOLATIONS)
        page.on("console", lambda m: self.errors.append(f"console: {m.text} ({m.location})")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"exception: {e}"))

    def visit(self, path: str, status: int = 200) -> list[str]:
        """Everything that went wrong while loading `path` and letting it settle."""
        self.errors.clear()
        response = self.page.goto(path)
        assert response is not None and response.status == status, path
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(300)  # htmx polls and late module work
        found = list(self.errors) + [f"csp: {v}" for v in self.page.evaluate("window.__csp")]
        if status != 200:  # Chromium logs the document's own error status; that is the point of the page
            found = [f for f in found if not f.startswith("console: Failed to load resource")]
        return found


@pytest.fixture
def watched(admin_page: Any) -> Iterator[Watched]:
    yield Watched(admin_page)


def _pages(ids: dict[str, str]) -> list[tuple[str, str]]:
    return [
        ("library", "/library"), ("library-filtered", "/library?brand=b1&campaign=c1&sort=score"),
        ("upload", "/upload"), ("brands", "/brands"), ("brand", "/brands/b1"),
        ("campaign", "/brands/b1/campaigns/c1"), ("campaign-report", "/brands/b1/campaigns/c1/report"),
        ("compare-pick", "/compare"),
        ("compare", f"/compare?ids={ids['tall']}&ids={ids['wide']}&ids={ids['video']}"),
        ("admin", "/admin"),
        ("image", f"/assets/{ids['tall']}"), ("image-report", f"/assets/{ids['tall']}/report"),
        ("image-wide", f"/assets/{ids['wide']}"),
        ("video", f"/assets/{ids['video']}"), ("video-report", f"/assets/{ids['video']}/report"),
        ("pending", f"/assets/{ids['pending']}"), ("failed", f"/assets/{ids['failed']}"),
        ("failed-report", f"/assets/{ids['failed']}/report"),
    ]


def test_every_page_loads_without_a_console_error_or_policy_violation(
    watched: Watched, assets: dict[str, str]
) -> None:
    problems: dict[str, list[str]] = {}
    for name, path in _pages(assets):
        found = watched.visit(path)
        if name in ("image", "image-wide", "image-report", "video"):
            wait_for(watched.page, "() => document.querySelector('.stage') !== null")
        shot(watched.page, f"strict-{name}")
        if name.endswith("report"):
            watched.page.emulate_media(media="print")
            shot(watched.page, f"strict-{name}-print")
            watched.page.emulate_media(media="screen")
        if found:
            problems[path] = found
    found = watched.visit("/assets/nosuchasset", status=404)
    if found:
        problems["404 page"] = found
    assert problems == {}
    # htmx was told not to add its indicator <style>; our stylesheet carries those rules.
    assert watched.page.evaluate("document.querySelectorAll('style').length") == 0
    assert watched.page.evaluate("htmx.config.includeIndicatorStyles") is False


def test_the_sign_in_page_and_a_members_forbidden_page_have_no_console_error(
    browser: Any, live_server: LiveServer, assets: dict[str, str]
) -> None:
    context = browser.new_context(base_url=live_server.url)
    try:
        assert Watched(context.new_page()).visit("/login") == []
    finally:
        context.close()
    member = signed_in_page(browser, live_server, live_server.member_email)
    page = next(member)
    try:
        assert Watched(page).visit("/admin", status=403) == []
    finally:
        member.close()


def test_the_stage_keeps_the_creatives_shape_within_the_viewport_height(
    watched: Watched, assets: dict[str, str]
) -> None:
    page = watched.page
    assert watched.visit(f"/assets/{assets['tall']}") == []
    stage = page.locator(".stage").bounding_box()
    image = page.locator(".stage img.creative").bounding_box()
    limit = 0.72 * page.viewport_size["height"]
    assert stage["height"] <= limit + 1, (stage, limit)  # the tall poster does not run off the screen
    assert abs(image["width"] / image["height"] - 480 / 900) < 0.02
    canvas = page.locator(".stage canvas.aoi-canvas").bounding_box()
    assert abs(canvas["width"] - image["width"]) < 1 and abs(canvas["height"] - image["height"]) < 1
    assert watched.visit(f"/assets/{assets['video']}") == []
    video = page.locator(".video-stage").bounding_box()
    assert video["height"] <= 0.60 * page.viewport_size["height"] + 1, video
    # The report's stage fits 110 mm of height (about 416 CSS px) on paper and screen.
    assert watched.visit(f"/assets/{assets['tall']}/report") == []
    report = page.locator(".report-stage").bounding_box()
    assert report["height"] <= 110 * 96 / 25.4 + 1, report


def test_compare_puts_the_assets_side_by_side_in_equal_columns(watched: Watched, assets: dict[str, str]) -> None:
    ids = [assets["tall"], assets["wide"], assets["video"]]
    assert watched.visit("/compare?" + "&".join(f"ids={a}" for a in ids)) == []
    boxes = [watched.page.locator(".compare-grid > figure").nth(i).bounding_box() for i in range(3)]
    assert len({round(b["y"]) for b in boxes}) == 1, boxes  # one row
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    assert max(b["width"] for b in boxes) - min(b["width"] for b in boxes) < 1, boxes


def test_the_histogram_bars_are_as_tall_as_their_counts(watched: Watched, assets: dict[str, str]) -> None:
    assert watched.visit("/brands/b1/campaigns/c1") == []
    bars = watched.page.locator(".bars .bar")
    heights = [bars.nth(i).bounding_box()["height"] for i in range(bars.count())]
    assert len(heights) == 20
    chart = watched.page.locator(".bars").bounding_box()
    assert max(heights) > 0.95 * chart["height"] - 2  # the fullest bin fills the chart
    assert min(heights) < 0.1 * chart["height"]  # three assets leave most bins empty
    assert all(h > 0 for h in heights)  # an empty bin still shows as a line


def test_pages_are_sent_a_style_policy_without_unsafe_inline(watched: Watched, assets: dict[str, str]) -> None:
    for _, path in _pages(assets) + [("login", "/login"), ("docs", "/docs")]:
        response = watched.page.goto(path)
        assert response is not None
        csp = response.headers.get("content-security-policy") or ""
        style = csp.split("style-src", 1)[1].split(";", 1)[0]
        assert style.strip() == "'self'", (path, csp)



def test_the_api_docs_work_without_inline_styles(watched: Watched) -> None:
    """Swagger UI keeps to style-src 'self' too: an operation opened, with its "Try it out" form."""
    page = watched.page
    assert watched.visit("/docs") == []
    page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    page.locator(".opblock-summary").first.click()
    page.locator(".try-out__btn").first.click()
    page.wait_for_selector(".execute")
    page.wait_for_timeout(300)
    assert watched.errors == [] and page.evaluate("window.__csp") == []
    assert page.locator(".opblock.is-open").count() == 1


def test_a_video_result_opened_in_its_own_tab_plays(watched: Watched, assets: dict[str, str]) -> None:
    # Regression: under a bare "sandbox" the document's origin is "null" and Chromium refused
    # its own video request as cross-origin; the file policy now allows the same origin only.
    for role in ("source", "heatmap_video"):
        page = watched.page
        response = page.goto(f"/assets/{assets['video']}/media/{role}")
        assert response is not None and response.status == 200, role
        assert "sandbox" in response.headers["content-security-policy"], role
        # The document runs no script of its own (sandbox), and its timers do not fire for
        # evaluated code either: every wait happens here, every evaluation is synchronous.
        page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; v.play(); }")
        state = ""
        for _ in range(40):
            page.wait_for_timeout(250)
            state = page.evaluate("() => { const v = document.querySelector('video');"
                                  " return v.currentTime.toFixed(2) + ' ready=' + v.readyState"
                                  " + ' error=' + (v.error && v.error.code); }")
            if float(state.split()[0]) > 0.2:
                break
        assert float(state.split()[0]) > 0.2, (role, state)
