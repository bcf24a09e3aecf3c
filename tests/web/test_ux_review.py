"""What a creative team's review of the dashboard found, held in place: pages fit a phone, the
campaign exports as CSV, empty campaigns say what to do, averages are labelled and explained,
the heatmap has a colour key, uploads refuse an oversized file before sending it and link each
uploaded file to its page, a move asks first, and an asset can be deleted from its page."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from impactlens.web.brands import slugify
from impactlens.web.insights import best_and_worst
from impactlens.web.listing import progress_overview
from impactlens.web.templating import env
from tests.media_cases import jpeg
from tests.video_cases import scene, write_video
from tests.web.conftest import SAMPLES, LiveServer, serious_violations, shot, wait_for
from tests.web.test_detail_image import Api

PHONE = {"width": 390, "height": 844}
FORMULA_NAME = "=HYPERLINK(\"http://x.test\")"


@pytest.fixture(scope="module")
def world(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Brand "kaffee" with campaign "winter" (two photographs with AOIs, one named like a
    spreadsheet formula, and a 2-s video) and an empty campaign "later"."""
    api = Api(live_server)
    http = api.http
    assert http.post("/v1/brands", json={"brand": "kaffee", "name": "Kaffee Rösterei"}).status_code == 201
    for c, name in (("winter", "Winter 2026"), ("later", "Later")):
        assert http.post("/v1/brands/kaffee/campaigns", json={"campaign": c, "name": name}).status_code == 201
    aois = [{"name": "logo", "x": 10, "y": 10, "w": 120, "h": 60}, {"name": "product", "x": 150, "y": 120,
                                                                     "w": 200, "h": 160}]
    clip = write_video(Path(tmp_path_factory.mktemp("ux")) / "spot.mp4", seconds=2.0, size=(320, 180),
                       frame=scene(320, 180, enter_s=0.5))
    ids = {}
    for key, name, path, boxes in (("a", "nus-412.jpg", SAMPLES / "nus-412.jpg", aois),
                                   ("b", FORMULA_NAME, SAMPLES / "nus-437.jpg", aois[:1]),
                                   ("v", "spot.mp4", clip, [{"name": "logo", "x": 0, "y": 0, "w": 100, "h": 60}])):
        r = http.post("/v1/assets", json={"brand": "kaffee", "campaign": "winter", "name": name, "aois": boxes})
        assert r.status_code == 201, r.text
        ids[key] = r.json()["asset"]
        up = http.post(f"/v1/assets/{ids[key]}/upload", files={"file": (path.name, path.read_bytes())})
        assert up.status_code == 202, up.text
    done = live_server.wait_assets_done(list(ids.values()), timeout_s=180)
    assert {i["status"] for i in done.values()} == {"done"}, done
    yield {"api": api, "ids": ids}
    http.close()


def _aggregates_caught_up(live_server: LiveServer, page: Any, n: int) -> None:
    """The campaign's stream-maintained count reaches n (the outbox drains within a second or two)."""
    for _ in range(60):
        page.goto("/brands/kaffee/campaigns/winter")
        if page.locator(".stat .value").first.inner_text() == str(n):
            return
        page.wait_for_timeout(250)
    raise AssertionError("campaign aggregates did not catch up")


def test_no_page_scrolls_sideways_on_a_phone(admin_page: Any, world: dict[str, Any], live_server: LiveServer) -> None:
    """At 390 px every page fits; wide tables scroll inside their own box instead of the page."""
    ids = world["ids"]
    page = admin_page
    page.set_viewport_size(PHONE)
    pages = ["/library", "/upload", "/brands", "/brands/kaffee", "/brands/kaffee/campaigns/winter",
             "/brands/kaffee/campaigns/winter/report", "/brands/kaffee/campaigns/later", "/admin",
             f"/compare?ids={ids['a']}&ids={ids['b']}&ids={ids['v']}",
             f"/assets/{ids['a']}", f"/assets/{ids['a']}/report", f"/assets/{ids['v']}", f"/assets/{ids['v']}/report"]
    wide = {}
    for path in pages:
        page.goto(path)
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[path] = width
    assert wide == {}
    page.goto("/brands/kaffee/campaigns/winter")
    shot(page, "ux_phone_campaign")
    assert serious_violations(page) == []
    # A table filled by the page's script (a long AOI name) scrolls in its box, not the page.
    page.goto(f"/assets/{ids['v']}")
    page.locator(".video-aoi-table tbody tr").first.locator("th").evaluate("th => th.textContent = 'x'.repeat(120)")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # A phone turned from landscape: the video page's timeline chart shrinks with the page.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/assets/{ids['v']}")
    page.wait_for_selector(".timeline-chart .u-over")
    page.set_viewport_size(PHONE)
    wait_for(page, "() => document.documentElement.scrollWidth <= 390")


def test_campaign_csv_has_every_asset_with_scores_and_aoi_shares(admin_page: Any, world: dict[str, Any]) -> None:
    ids, api = world["ids"], world["api"]
    admin_page.goto("/brands/kaffee/campaigns/winter")
    link = admin_page.get_by_role("link", name="Download CSV")
    assert link.get_attribute("href") == "/brands/kaffee/campaigns/winter/export.csv"
    r = admin_page.request.get("/brands/kaffee/campaigns/winter/export.csv")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="kaffee-winter-assets.csv"' in r.headers["content-disposition"]
    body = r.body().decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads the names as UTF-8
    rows = {row["asset"]: row for row in csv.DictReader(io.StringIO(body[1:]))}
    assert set(rows) == set(ids.values())
    for key, asset in ids.items():
        row, api_asset = rows[asset], api.http.get(f"/v1/assets/{asset}").json()
        results = api.http.get(f"/v1/assets/{asset}/results").json()["analysis"]
        assert float(row["memorability"]) == pytest.approx(api_asset["scores"]["memorability"], abs=1e-4)
        assert float(row["memorability_percentile"]) == pytest.approx(
            api_asset["scores"]["memorability_percentile"], abs=0.05)
        for a in results["attention"]:
            share = a["share"] if "share" in a else a["whole"]
            assert float(row[f"share_{a['name']}"]) == pytest.approx(share, abs=1e-4), (key, a)
        assert row["kind"] == ("video" if key == "v" else "image") and row["status"] == "done"
        assert row["page"].endswith(f"/assets/{asset}")
    assert rows[ids["a"]]["share_product"] != "" and rows[ids["b"]]["share_product"] == ""  # b has no product AOI
    assert rows[ids["v"]]["memorability_first_3s"] != "" and rows[ids["v"]]["share_first_3s_logo"] != ""
    assert rows[ids["a"]]["share_first_3s_logo"] == ""  # images have no time windows
    assert rows[ids["b"]]["name"] == "'" + FORMULA_NAME  # a spreadsheet shows it, never runs it
    missing = admin_page.request.get("/brands/kaffee/campaigns/nope/export.csv")
    assert missing.status == 404
    admin_page.goto("/brands/kaffee/campaigns/winter/report")  # the printable report offers it too
    assert admin_page.get_by_role("link", name="Download CSV").get_attribute("href") == link.get_attribute("href")


def test_an_empty_campaign_says_so_and_links_to_an_upload_into_it(admin_page: Any, world: dict[str, Any]) -> None:
    page = admin_page
    page.goto("/brands/kaffee/campaigns/later")
    assert page.locator("#campaign-assets").count() == 0
    assert "No assets in this campaign yet" in page.locator("#no-assets").inner_text()
    assert "No scored assets yet" in page.locator("main").inner_text()
    page.locator("#no-assets a").click()
    page.wait_for_url("**/upload?target=kaffee/later")
    assert page.get_by_label("Brand and campaign").input_value() == "kaffee/later"


def test_averages_are_labelled_in_words_with_their_spread_explained(
    admin_page: Any, world: dict[str, Any], live_server: LiveServer
) -> None:
    page = admin_page
    _aggregates_caught_up(live_server, page, 3)
    cards = page.locator(".stat").all_inner_texts()
    joined = "\n".join(cards)
    assert "Memorability (mean)" in joined and "Percentile (mean)" in joined
    assert "Memorability, first 3 s (mean)" in joined and "videos only" in joined
    percentile = next(c for c in cards if c.startswith("Percentile"))
    assert any(v.endswith(("th", "st", "nd", "rd")) for v in percentile.split()), percentile  # 74th, not 74.28
    assert "pts" in percentile and "3 analysed" in percentile
    assert "standard deviation" in page.locator(".stats-help").inner_text()
    headers = page.locator("#campaign-assets thead").inner_text()
    assert "Percentile" in headers and "Best AOI" in headers
    # The trend chart's axis labels are drawn at a readable size (they were 5 px: a 600-unit viewBox in a 280-px card).
    label = page.locator("svg.chart text").first.bounding_box()
    assert label is not None and label["height"] >= 9, label


def test_heatmap_has_a_colour_key_while_it_is_shown(admin_page: Any, world: dict[str, Any]) -> None:
    page = admin_page
    page.goto(f"/assets/{world['ids']['a']}")
    legend = page.locator(".heat-legend")
    assert legend.is_visible()
    assert "dark blue" in (legend.get_by_role("img").get_attribute("aria-label") or "")
    page.get_by_label("None").check()
    assert legend.is_hidden()
    page.get_by_label("Heatmap").check()
    assert legend.is_visible()
    page.goto(f"/assets/{world['ids']['a']}/report")
    assert page.locator(".heat-legend").is_visible()
    for path in (f"/assets/{world['ids']['a']}", f"/assets/{world['ids']['a']}/report"):
        page.goto(path)  # the gauge's picture is the image, not its <figure> (axe aria-allowed-role)
        assert page.locator("figure.gauge svg").get_attribute("role") == "img"
        assert page.locator("figure.gauge").get_attribute("role") is None
    page.goto(f"/assets/{world['ids']['v']}")
    assert page.locator(".heat-legend").is_hidden()  # the original plays: no heatmap on screen
    page.get_by_label("Attention heatmap").check()
    assert page.locator(".heat-legend").is_visible()


def test_upload_refuses_an_oversized_file_before_sending_and_links_the_uploaded_one(
    admin_page: Any, world: dict[str, Any], tmp_path: Path
) -> None:
    page = admin_page
    page.goto("/upload?target=kaffee/later")
    assert "up to 2 GB a file" in page.locator("#upload-limits").inner_text()  # the enterprise plan's limit
    big = tmp_path / "big-banner.jpg"
    big.write_bytes((SAMPLES / "nus-488.jpg").read_bytes())  # 86 KB
    small = tmp_path / "small.jpg"
    small.write_bytes(jpeg())
    limit = small.stat().st_size + 1024
    assert big.stat().st_size > limit
    # The page's limit lowered between the two files stands in for a file over the plan's 2 GB.
    page.locator("#upload-form").evaluate(f"f => {{ f.dataset.maxBytes = '{limit}'; f.dataset.maxLabel = 'LIMIT'; }}")
    before = world["api"].http.get("/v1/assets?brand=kaffee&campaign=later").json()["items"]
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/v1/assets" in r.url else None)
    page.set_input_files("#up-files", [str(big), str(small)])
    wait_for(page, "document.querySelectorAll('#files li[data-state=ok], #files li[data-state=error]').length === 2")
    refused = page.locator("#files li[data-state=error]")
    assert "big-banner.jpg" in refused.inner_text()
    assert "This file is 86 KB; your plan accepts up to LIMIT a file" in refused.locator(".msg").inner_text()
    assert refused.locator("progress").is_hidden()  # a refused file shows no full bar
    ok = page.locator("#files li[data-state=ok]")
    asset = ok.get_attribute("data-asset")
    assert ok.get_by_role("link", name="open its page").get_attribute("href") == f"/assets/{asset}"
    assert page.locator("#upload-summary").inner_text() == "1 of 2 uploaded; 1 refused (reasons below)."
    after = world["api"].http.get("/v1/assets?brand=kaffee&campaign=later").json()["items"]
    assert len(after) == len(before) + 1  # only the small one was created...
    assert sum(1 for u in requests if u.endswith("/v1/assets")) == 1  # ...and only it was sent
    shot(page, "ux_upload_refused")


def test_moving_an_asset_asks_first_and_a_refusal_moves_nothing(
    admin_page: Any, world: dict[str, Any], live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/brands/kaffee/campaigns/winter")
    row = page.locator("#campaign-assets tbody tr").first
    asked: list[str] = []

    def refuse(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    row.get_by_role("button", name="Move").click()
    page.wait_for_timeout(300)
    assert asked and asked[0].startswith("Move ") and "averages" in asked[0]
    assert "moved=" not in page.url
    items = world["api"].http.get("/v1/assets?brand=kaffee&campaign=winter").json()["items"]
    assert len(items) == 3


def test_deleting_an_asset_asks_first_then_removes_it_and_says_so(admin_page: Any, world: dict[str, Any]) -> None:
    http = world["api"].http
    created = http.post("/v1/assets", json={"brand": "kaffee", "campaign": "later", "name": "wrong-file.mp4"})
    asset = created.json()["asset"]
    page = admin_page
    page.goto(f"/assets/{asset}")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.get_by_role("button", name="Delete wrong-file.mp4").click()
    page.wait_for_timeout(300)
    assert asked == ["Delete wrong-file.mp4 with its results? This cannot be undone."]
    assert http.get(f"/v1/assets/{asset}").status_code == 200  # refused: still there
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete wrong-file.mp4").click()
    page.wait_for_url("**/brands/kaffee/campaigns/later?deleted=1")
    assert "Asset deleted" in page.get_by_role("status").first.inner_text()
    assert http.get(f"/v1/assets/{asset}").status_code == 404


def test_best_and_weakest_lists_never_share_an_asset() -> None:
    assets = [{"asset": str(i), "scores": {"memorability": i / 10}} for i in range(5)]
    best, worst = best_and_worst(assets)
    assert [a["asset"] for a in best] == ["4", "3"] and [a["asset"] for a in worst] == ["0", "1"]
    best, worst = best_and_worst(assets[:1])
    assert best == [] and worst == []  # one asset is neither
    best, worst = best_and_worst([{"asset": str(i), "scores": {"memorability": i / 20}} for i in range(20)])
    assert len(best) == len(worst) == 5 and not {a["asset"] for a in best} & {a["asset"] for a in worst}


def test_score_filters_read_like_a_report() -> None:
    f = env.filters
    assert f["metric"](74.28, "memorability_percentile") == "74th"
    assert f["metric"](99.8, "memorability_percentile") == "99th"  # floored, as on the asset page
    assert f["metric"](0.7312, "memorability") == "0.73"
    assert f["spread"](24.98, "memorability_percentile") == "±25 pts"
    assert f["spread"](0.1234, "memorability") == "±0.12"
    assert f["score_label"]("memorability_first_3s") == "Memorability, first 3 s"
    assert f["score_order"](["memorability_first_3s", "zeta", "memorability", "memorability_percentile"]) == [
        "memorability", "memorability_percentile", "memorability_first_3s", "zeta"]
    assert [f["bytes"](n) for n in (512, 50 * 2**20, 2 * 2**30, 1536)] == ["512 bytes", "50 MB", "2 GB", "1.5 KB"]


def test_video_progress_reads_as_one_percentage_and_named_steps_in_order() -> None:
    steps = {"prepare": [20, 80], "probe": [1, 1], "analyse": [1, 2]}
    p = progress_overview(steps)
    labels = [r["label"] for r in p["rows"]]
    assert labels == ["Reading the file", "Sampling frames", "Scoring memorability and attention"]
    # 0.05 * 1 + 0.45 * 0.25 + 0.45 * 0.5 (merge not reported yet): frames do not outweigh chunks.
    assert p["overall"] == pytest.approx(0.3875)
    assert progress_overview({"prepare": [80, 80], "probe": [1, 1], "analyse": [4, 4], "merge": [1, 1]})["overall"] == 1
    assert progress_overview({})["overall"] == 0.0
    html = env.get_template("_asset_status.html").render(
        asset={"asset": "A1", "kind": "video", "status": "processing", "job": {"progress": steps}}, error_words={})
    assert "Analysing: 39% done." in html and "20 of 80 frames" in html and "1 of 2 chunks" in html
    assert html.index("Reading the file") < html.index("Sampling frames")


def test_brand_ids_keep_accented_and_non_latin_names() -> None:
    assert slugify("Café Crème") == "cafe-creme"
    assert slugify("Kaffee Rösterei") == "kaffee-rosterei"
    assert slugify("コーヒー").startswith("x-") and slugify("コーヒー") == slugify("コーヒー") != slugify("お茶")
    assert slugify("   ") == ""


def test_creating_a_brand_twice_says_so_in_words(admin_page: Any, world: dict[str, Any]) -> None:
    page = admin_page
    for _ in range(2):
        page.goto("/library")
        page.get_by_label("Brand name").fill("Café Crème")
        page.get_by_role("button", name="Create brand").click()
        page.wait_for_load_state()
    assert page.title().startswith("Brand not created")
    assert "There is already a brand called “Café Crème”" in page.get_by_role("alert").inner_text()
    page.goto("/library")
    page.get_by_label("In brand").select_option(label="Café Crème")
    page.get_by_label("Campaign name").fill("コーヒー")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url("**/library?brand=cafe-creme&campaign=x-*")


def test_library_cards_say_where_they_live_and_an_empty_filter_offers_a_way_out(
    admin_page: Any, world: dict[str, Any]
) -> None:
    page = admin_page
    page.goto("/library")
    card = page.locator(f"#card-{world['ids']['a']}")
    assert card.locator(".place").inner_text() == "Kaffee Rösterei / Winter 2026"
    page.goto("/library?brand=kaffee&q=no-such-name")
    assert page.locator("#compare-form").count() == 0  # nothing to compare
    page.get_by_role("link", name="Clear the filters").click()
    page.wait_for_url("**/library?brand=kaffee")
    assert page.locator(".asset-card").count() >= 3


def test_shares_keep_one_decimal_everywhere() -> None:
    assert env.filters["pct"](0.004) == "0.4%" and env.filters["pct"](0.2537) == "25.4%"


def test_a_truncated_video_is_refused_in_words_with_its_figures(admin_page: Any, world: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    cut = tmp_path / "cut-spot.mp4"
    cut.write_bytes((SAMPLES / "sample-spot.mp4").read_bytes()[:110_000])  # stops at 3.7 of 6 s
    page = admin_page
    page.goto("/upload?target=kaffee/later")
    page.set_input_files("#up-files", [str(cut)])
    wait_for(page, "document.querySelector('#files li[data-state=error]') !== null", timeout=30_000)
    msg = page.locator("#files li[data-state=error] .msg").inner_text()
    assert msg.startswith("The video is cut short") and "6.00 s" in msg and msg.endswith("(truncated_media)"), msg
