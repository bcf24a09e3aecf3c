"""The image detail page in a real browser: AOIs drawn with the mouse and the keyboard, the
overlays, escaping of stored names, another organisation's asset, the printable report."""

from __future__ import annotations

import importlib.util
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.media_cases import jpeg
from tests.web.conftest import LiveServer, serious_violations, shot, wait_for

HOSTILE = "<script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\">"


class Api:
    """The HTTP API as a client with an Admin key (how a test sets the scene)."""

    def __init__(self, server: LiveServer) -> None:
        _, key = server.services.accounts.create_api_key(server.org, "detail-tests", "Admin")
        self.http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def campaign(self, brand: str = "b1", campaign: str = "c1") -> None:
        self.http.post("/v1/brands", json={"brand": brand, "name": "Brand <b>one</b>"})
        self.http.post(f"/v1/brands/{brand}/campaigns", json={"campaign": campaign, "name": "Spring"})

    def upload(self, name: str, data: bytes, filename: str, aois: list[dict[str, Any]]) -> str:
        r = self.http.post("/v1/assets", json={"brand": "b1", "campaign": "c1", "name": name, "aois": aois})
        assert r.status_code == 201, r.text
        asset = str(r.json()["asset"])
        up = self.http.post(f"/v1/assets/{asset}/upload", files={"file": (filename, io.BytesIO(data))})
        assert up.status_code == 202, up.text
        return asset

    def aois(self, asset: str) -> list[dict[str, Any]]:
        aois: list[dict[str, Any]] = self.http.get(f"/v1/assets/{asset}").json()["aois"]
        return aois


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[Api]:
    client = Api(live_server)
    client.campaign()
    yield client
    client.http.close()


def portrait(width: int = 1600) -> Image.Image:
    """matplotlib's sample photograph of Grace Hopper (a face for the detectors), enlarged; found
    without importing matplotlib (installed --no-deps for this file)."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec and spec.submodule_search_locations, "make setup installs matplotlib --no-deps for this photograph"
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    with Image.open(path) as im:
        return im.convert("RGB").resize((width, round(width * im.height / im.width)))


@pytest.fixture(scope="module")
def image(api: Api, live_server: LiveServer) -> str:
    """A 1600 px wide portrait with one AOI, analysed."""
    aois = [{"name": "logo", "x": 40, "y": 40, "w": 400, "h": 300}]
    asset = api.upload(HOSTILE, jpeg(portrait()), "ad.jpg", aois)
    assert live_server.wait_assets_done([asset])[asset]["status"] == "done"
    return asset


def _stage_box(page: Any) -> dict[str, float]:
    box: dict[str, float] = page.locator("canvas.aoi-canvas").bounding_box()
    return box


def test_drawing_an_aoi_with_the_mouse_shows_its_share_and_the_api_stores_it(
    admin_page: Any, api: Api, image: str
) -> None:
    page = admin_page
    page.goto(f"/assets/{image}")
    # The creative comes from a size-capped derived image, not the 1600x1875 original.
    assert page.locator("img.creative").evaluate("i => i.complete && i.naturalHeight") == 1280
    box = _stage_box(page)
    scale = 1600 / box["width"]  # image pixels per CSS pixel, both axes
    x0, y0, x1, y1 = box["width"] * 0.5, box["height"] * 0.5, box["width"] * 0.8, box["height"] * 0.9
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    page.mouse.down()
    page.mouse.move(box["x"] + x1, box["y"] + y1, steps=6)
    page.mouse.up()
    page.wait_for_selector("[data-aoi-editor][data-saved=ok]", timeout=30_000)
    row = page.locator(".aoi-table tbody tr[data-name=aoi_2]")
    share = row.locator("td.share").inner_text()
    assert re.fullmatch(r"\d+\.\d%", share), share
    stored = {a["name"]: a for a in api.aois(image)}
    assert set(stored) == {"logo", "aoi_2"}
    drawn = stored["aoi_2"]
    want = {"x": x0 * scale, "y": y0 * scale, "w": (x1 - x0) * scale, "h": (y1 - y0) * scale}
    assert all(abs(drawn[k] - want[k]) <= 4 for k in want), (drawn, want, box)
    results = api.http.get(f"/v1/assets/{image}/results").json()["analysis"]["attention"]
    assert share == f"{next(a for a in results if a['name'] == 'aoi_2')['share'] * 100:.1f}%"
    shot(page, "detail_image")


def test_the_keyboard_selects_moves_renames_and_deletes_an_aoi(admin_page: Any, api: Api, image: str) -> None:
    page = admin_page
    page.goto(f"/assets/{image}")
    before = {a["name"]: a for a in api.aois(image)}["logo"]
    canvas = page.locator("canvas.aoi-canvas")
    canvas.focus()
    page.keyboard.press("Tab")  # selects the first AOI instead of leaving the canvas
    assert "logo selected" in (canvas.get_attribute("aria-label") or "")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    page.wait_for_selector("[data-aoi-editor][data-saved=ok]")
    moved = {a["name"]: a for a in api.aois(image)}["logo"]
    assert (moved["x"] - before["x"], moved["y"] - before["y"]) == (3, 10)
    name = page.get_by_label("Name of AOI 1")
    name.fill("bad name!")
    name.press("Enter")
    assert name.get_attribute("aria-invalid") == "true"
    assert "logo" in {a["name"] for a in api.aois(image)}  # refused locally, nothing stored
    name.fill("headline")
    name.press("Enter")
    wait_for(page, "() => document.querySelector('[data-aoi-editor]').dataset.saved === 'ok'")
    page.wait_for_selector(".aoi-table tr[data-name=headline] td.share:not(:text('…'))")
    assert "headline" in {a["name"] for a in api.aois(image)}
    canvas.focus()
    page.keyboard.press("Escape")  # nothing selected: Tab starts again from the first AOI
    page.keyboard.press("Tab")
    assert "headline selected" in (canvas.get_attribute("aria-label") or "")
    page.keyboard.press("Delete")
    wait_for(page, "() => document.querySelector('[data-aoi-editor]').dataset.saved === 'ok'")
    page.wait_for_timeout(200)
    assert "headline" not in {a["name"] for a in api.aois(image)}


def _alpha_at(page: Any, fx: float, fy: float) -> int:
    """The overlay canvas's alpha at a fraction of its size."""
    alpha: int = page.evaluate(
        """([fx, fy]) => {
            const c = document.querySelector('canvas.overlay-canvas');
            return c.getContext('2d').getImageData(Math.floor(c.width * fx), Math.floor(c.height * fy), 1, 1).data[3];
        }""",
        [fx, fy],
    )
    return alpha


def test_overlays_switch_between_heatmap_fog_and_none_and_the_opacity_applies(admin_page: Any, image: str) -> None:
    page = admin_page
    page.goto(f"/assets/{image}")
    data = page.evaluate("JSON.parse(document.getElementById('asset-data').textContent)")
    peak = data["peaks"][0]
    px, py = peak["x"] / data["width"], peak["y"] / data["height"]
    low = min(
        ((x / 10, y / 10) for x in range(1, 10) for y in range(1, 10)),
        key=lambda p: data["grid"]["values"][int(p[1] * data["grid"]["h"]) * data["grid"]["w"]
                                            + int(p[0] * data["grid"]["w"])],
    )
    assert page.locator("[data-overlays=image]").get_attribute("data-overlay") == "heatmap"
    assert _alpha_at(page, px, py) > _alpha_at(page, *low)  # the heatmap is strongest at the peak
    page.get_by_label("First look (fog)").check()
    assert page.locator("[data-overlays=image]").get_attribute("data-overlay") == "fog"
    assert _alpha_at(page, px, py) < _alpha_at(page, *low)  # the fog is clear where attention is
    shot(page, "detail_image_fog")
    page.get_by_label("Opacity").fill("30")
    assert page.locator("canvas.overlay-canvas").evaluate("c => c.style.opacity") == "0.3"
    assert page.locator(".overlay-opacity-value").inner_text() == "30%"
    assert page.locator(".peaks-layer .peak").count() == len(data["peaks"])
    page.get_by_label("Numbered peaks").uncheck()
    assert page.locator(".peaks-layer").is_hidden()
    page.get_by_label("None", exact=True).check()
    assert _alpha_at(page, px, py) == 0 and page.get_by_label("Opacity").is_disabled()


def test_a_stored_script_name_is_shown_as_text_and_never_runs(admin_page: Any, image: str) -> None:
    page = admin_page
    for path in (f"/assets/{image}", f"/assets/{image}/report"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").inner_text() == HOSTILE
        assert page.evaluate("window.pwned") is None
    assert "Brand <b>one</b>" in page.locator(".report-head").inner_text()


def test_another_organisations_asset_is_a_404_page_that_names_nothing(
    admin_page: Any, live_server: LiveServer
) -> None:
    s = live_server.services
    if s.repo.get_org("rival") is None:
        s.accounts.create_org("rival", "Rival", "free")
    s.repo.create_brand("rival", "rb", "Rival brand")
    s.repo.create_campaign("rival", "rb", "rc", "Rival campaign")
    theirs = s.repo.create_asset("rival", "rb", "rc", "image", name="their secret plan", status="done")
    base = f"/assets/{theirs['asset']}"
    for path in (base, f"{base}/report", f"{base}/media/display", f"{base}/status"):
        r = admin_page.request.get(path)
        assert r.status == 404 and "secret" not in r.text()
    admin_page.goto(f"/assets/{theirs['asset']}")
    assert admin_page.locator("h1").inner_text() == "Asset not found"


def test_the_report_prints_on_one_page_with_the_heatmap_and_scores(admin_page: Any, image: str) -> None:
    page = admin_page
    page.add_init_script("window.print = () => { window.printed = true; }")  # no dialog in a test
    page.goto(f"/assets/{image}/report")
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Print or save as PDF").click()
    assert page.evaluate("window.printed") is True
    assert page.locator(".report-stage img.creative").evaluate("i => i.complete && i.naturalHeight") == 1280
    assert page.locator(".report-stage").get_attribute("data-overlay") == "heatmap"
    assert page.locator(".report-stage .peak").count() >= 1
    assert re.fullmatch(r"0\.\d\d", page.locator(".report-gauge .gauge-value").inner_text())
    shot(page, "detail_report_image")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1


def test_the_image_pages_have_no_serious_accessibility_violations(admin_page: Any, image: str) -> None:
    for path in (f"/assets/{image}", f"/assets/{image}/report"):
        admin_page.goto(path)
        admin_page.wait_for_load_state("networkidle")
        assert serious_violations(admin_page) == [], path


def test_a_detected_face_can_be_kept_as_an_editable_aoi(admin_page: Any, api: Api, image: str) -> None:
    page = admin_page
    page.goto(f"/assets/{image}")
    found = api.http.get(f"/v1/assets/{image}/results").json()["analysis"]["auto_aois"]
    faces = [a for a in found if a["kind"] == "face"]
    assert faces, "the detector finds Grace Hopper's face"
    before = {a["name"] for a in api.aois(image)}
    page.get_by_role("button", name="Keep face 1 as an AOI").click()
    wait_for(page, "() => document.querySelector('[data-aoi-editor]').dataset.saved === 'ok'")
    kept = [a for a in api.aois(image) if a["name"] not in before]
    assert len(kept) == 1 and kept[0]["name"].startswith(faces[0]["name"][:10])
    assert [round(kept[0][k]) for k in "xywh"] == [round(faces[0][k]) for k in "xywh"]


def test_a_pending_asset_shows_its_progress_then_becomes_the_detail_page(
    admin_page: Any, api: Api, live_server: LiveServer
) -> None:
    r = api.http.post("/v1/assets", json={"brand": "b1", "campaign": "c1", "name": "late upload"})
    asset = r.json()["asset"]
    page = admin_page
    page.goto(f"/assets/{asset}")
    assert "nothing has been uploaded" in page.get_by_role("status").inner_text()
    up = api.http.post(f"/v1/assets/{asset}/upload", files={"file": ("a.jpg", io.BytesIO(jpeg(portrait(400))))})
    assert up.status_code == 202
    page.wait_for_selector("img.creative", timeout=60_000)  # the polled status reloads the page when done
    assert page.locator(".asset-head .badge").first.inner_text() == "done"


def test_a_failed_analysis_is_explained_in_words(admin_page: Any, live_server: LiveServer) -> None:
    s = live_server.services
    item = s.repo.create_asset(live_server.org, "b1", "c1", "video", name="broken clip", status="failed")
    s.repo.update_asset(live_server.org, item["asset"], {"error": {"code": "corrupt_media", "message": "no frames"}})
    admin_page.goto(f"/assets/{item['asset']}")
    alert = admin_page.get_by_role("alert").inner_text()
    assert "The analysis failed" in alert and "damaged or truncated" in alert and "corrupt_media" in alert
    assert serious_violations(admin_page) == []


def test_the_about_panel_links_each_model_to_its_card(admin_page: Any, live_server: LiveServer, image: str) -> None:
    admin_page.goto(f"/assets/{image}")
    links = admin_page.locator(".model-figures a", has_text="model card")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert any(h and h.startswith("/v1/models/") and h.endswith("/card") for h in hrefs), hrefs
    for href in hrefs:
        r = httpx.get(f"{live_server.url}{href}", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown"), href
