"""The main dashboard flows in a real browser: brands and campaigns, upload, live status,
compare, a campaign view after a move, and the accessibility check of the main pages."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import SAMPLES, LiveServer, serious_violations, shot, wait_for

UPLOADS = [SAMPLES / "nus-412.jpg", SAMPLES / "nus-437.jpg", SAMPLES / "sample-spot.mp4"]


def _new_brand_and_campaign(page: Any, brand: str, campaign: str) -> None:
    page.goto("/library")
    page.get_by_label("Brand name").fill(brand)
    page.get_by_role("button", name="Create brand").click()
    page.wait_for_url(re.compile(r"/library\?brand="))
    page.get_by_label("In brand").select_option(label=brand)
    page.get_by_label("Campaign name").fill(campaign)
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r"campaign="))


@pytest.fixture(scope="module")
def uploaded(browser: Any, live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two images and a video uploaded through the upload page (plus one refused file)."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.request.post("/v1/auth/login", data={"email": live_server.admin_email, "password": live_server.password})
    page = context.new_page()
    page.set_default_timeout(20_000)
    _new_brand_and_campaign(page, "Summer Drinks", "Launch 2026")
    _new_brand_and_campaign(page, "Winter Coats", "Teaser")
    bad = Path(tmp_path_factory.mktemp("bad")) / "notes.jpg"
    bad.write_bytes(b"this is a text file, not a picture\n" * 20)
    page.goto("/upload")
    page.get_by_label("Brand and campaign").select_option(label="Summer Drinks / Launch 2026")
    page.set_input_files("#up-files", [str(p) for p in UPLOADS] + [str(bad)])
    wait_for(
        page, "document.querySelectorAll('#files li[data-state=ok], #files li[data-state=error]').length === 4",
        timeout=60_000,
    )
    shot(page, "upload")
    rows = {
        li.locator("span").first.inner_text(): (li.get_attribute("data-state"), li.locator(".msg").inner_text())
        for li in page.locator("#files li").all()
    }
    ids = [li.get_attribute("data-asset") for li in page.locator("#files li[data-state=ok]").all()]
    context.close()
    return {"rows": rows, "ids": [i for i in ids if i]}


def test_upload_reports_each_file_and_names_the_refused_one_in_words(
    uploaded: dict[str, Any], live_server: LiveServer
) -> None:
    rows = uploaded["rows"]
    assert {n: s for n, (s, _) in rows.items()} == {
        "nus-412.jpg": "ok",
        "nus-437.jpg": "ok",
        "sample-spot.mp4": "ok",
        "notes.jpg": "error",
    }
    assert "not supported" in rows["notes.jpg"][1] and "unsupported_media" in rows["notes.jpg"][1]
    # The refused file left no empty asset behind: the campaign holds exactly the three.
    assets = live_server.services.repo.list_assets(live_server.org, "summer-drinks", "launch-2026").items
    assert sorted(a["name"] for a in assets) == ["nus-412.jpg", "nus-437.jpg", "sample-spot.mp4"]


def test_library_cards_go_live_from_queued_to_done_with_scores(
    admin_page: Any, live_server: LiveServer, uploaded: dict[str, Any]
) -> None:
    admin_page.goto("/library?brand=summer-drinks&campaign=launch-2026")
    # No reload: the cards update themselves (htmx polls each busy card) until analysed.
    wait_for(
        admin_page,
        "[...document.querySelectorAll('.asset-card')].length === 3 && "
        "[...document.querySelectorAll('.asset-card')].every(c => c.dataset.status === 'done')",
        timeout=180_000,
        polling=500,
    )
    cards = admin_page.locator(".asset-card")
    assert cards.count() == 3
    for i in range(3):
        assert "Memorability" in cards.nth(i).inner_text()
    # Thumbnails are small derived JPEGs, not the originals.
    sizes = admin_page.evaluate(
        "Promise.all([...document.querySelectorAll('.asset-card img')].map(async i => {"
        " const r = await fetch(i.src); const b = await r.blob(); return [r.headers.get('content-type'), b.size,"
        " i.naturalWidth]; }))"
    )
    for ctype, size, width in sizes:
        assert ctype == "image/jpeg" and size < 40_000 and 0 < width <= 320
    shot(admin_page, "library")


def test_library_filters_search_and_sort(admin_page: Any, uploaded: dict[str, Any]) -> None:
    admin_page.goto("/library?kind=video")
    assert admin_page.locator(".asset-card").count() == 1
    assert "sample-spot.mp4" in admin_page.locator(".asset-card").inner_text()
    admin_page.goto("/library")
    admin_page.get_by_label("Name contains").fill("nus-4")
    admin_page.get_by_label("Sort by").select_option("score")
    admin_page.get_by_role("button", name="Apply").click()
    admin_page.wait_for_url(re.compile("q=nus-4"))
    names = admin_page.locator(".asset-card .name").all_inner_texts()
    assert sorted(names) == ["nus-412.jpg", "nus-437.jpg"]
    scores = [float(s) for s in admin_page.locator(".asset-card .meta strong").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)


def test_compare_two_assets_shows_heatmaps_scores_and_winners(
    admin_page: Any, live_server: LiveServer, uploaded: dict[str, Any]
) -> None:
    live_server.wait_assets_done(uploaded["ids"])
    admin_page.goto("/library?kind=image")
    boxes = admin_page.get_by_role("checkbox", name="compare")
    boxes.nth(0).check()
    boxes.nth(1).check()
    admin_page.get_by_role("button", name="Compare selected (2 to 4)").click()
    admin_page.wait_for_url(re.compile(r"/compare\?ids="))
    assert admin_page.locator("figure img").count() == 2
    wait_for(admin_page, "[...document.querySelectorAll('figure img')].every(i => i.naturalWidth > 0)")
    row = admin_page.locator("tr", has=admin_page.get_by_role("rowheader", name="Memorability", exact=True))
    values = [float(v) for v in row.locator("td.num").all_inner_texts()]
    winner = row.locator("td").last.inner_text()
    assert row.locator("td.win").count() == 1
    assert row.locator("td.win").inner_text() == f"{max(values):.2f}"
    assert winner in ("nus-412.jpg", "nus-437.jpg")
    shot(admin_page, "compare")


def _asset_count(page: Any) -> int:
    return int(page.locator(".stat .value").first.inner_text())


def test_campaign_view_changes_after_a_move(admin_page: Any, live_server: LiveServer, uploaded: dict[str, Any]) -> None:
    live_server.wait_assets_done(uploaded["ids"])
    url = "/brands/summer-drinks/campaigns/launch-2026"
    admin_page.goto(url)
    assert _asset_count(admin_page) == 3
    shot(admin_page, "campaign")
    first = admin_page.locator("#campaign-assets tbody tr").first
    moved_name = first.locator("td").first.inner_text()
    first.get_by_role("combobox").select_option(label="Winter Coats / Teaser")
    admin_page.once("dialog", lambda d: d.accept())  # the move asks first (data-confirm)
    first.get_by_role("button", name="Move").click()
    admin_page.wait_for_url(re.compile(r"moved="))
    deadline = time.monotonic() + 20
    while _asset_count(admin_page) != 2 and time.monotonic() < deadline:
        time.sleep(0.5)  # the aggregates follow the change stream
        admin_page.goto(url)
    assert _asset_count(admin_page) == 2
    assert moved_name not in admin_page.locator("#campaign-assets").inner_text()
    admin_page.goto("/brands/winter-coats/campaigns/teaser")
    assert _asset_count(admin_page) == 1 and moved_name in admin_page.locator("#campaign-assets").inner_text()


def test_campaign_report_prints_on_one_page_set(admin_page: Any, uploaded: dict[str, Any]) -> None:
    response = admin_page.goto("/brands/summer-drinks/campaigns/launch-2026/report")
    assert response is not None and response.status == 200
    assert "Campaign report: Launch 2026" in admin_page.locator("h1").inner_text()
    assert admin_page.locator("article.report tbody tr").count() >= 2
    admin_page.emulate_media(media="print")
    assert admin_page.locator("header.top").is_hidden()
    assert admin_page.get_by_role("button", name="Print or save as PDF").is_hidden()
    shot(admin_page, "campaign_report_print")
    pdf = admin_page.pdf(format="A4")
    assert pdf[:4] == b"%PDF"


@pytest.mark.parametrize(
    "path",
    ["/library", "/upload", "/brands", "/brands/summer-drinks", "/brands/summer-drinks/campaigns/launch-2026",
     "/admin", "/compare"],
)
def test_main_pages_have_no_serious_accessibility_violations(admin_page: Any, uploaded: dict[str, Any],
                                                              path: str) -> None:
    admin_page.goto(path)
    shot(admin_page, "page" + path.replace("/", "_"))
    assert serious_violations(admin_page) == []
