"""The library's listing and card summary on the real repository (SQLite), no browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impactlens.services import Services, embedded_services
from impactlens.settings import get_settings
from impactlens.web.listing import Filters, list_library


@pytest.fixture
def services(tmp_path: Path) -> Services:
    s = embedded_services(get_settings().model_copy(update={"data_dir": tmp_path}))
    s.accounts.create_org("o", "O", "pro")
    s.repo.create_brand("o", "b", "B")
    s.repo.create_campaign("o", "b", "c", "C")
    s.repo.create_campaign("o", "b", "d", "D")
    return s


def test_writing_results_keeps_the_best_aoi_share_on_the_asset_for_the_cards(services: Services) -> None:
    repo = services.repo
    image = repo.create_asset("o", "b", "c", "image", name="img")
    video = repo.create_asset("o", "b", "c", "video", name="vid")
    attention = [{"name": "logo", "share": 0.2}, {"name": "face", "share": 0.5}]
    repo.put_result("o", image["asset"], "v1", {"analysis": json.dumps({"attention": attention})})
    timed = [{"name": "pack", "whole": 0.3, "first_3s": 0.9}]
    repo.put_result("o", video["asset"], "v1", {"analysis": json.dumps({"attention": timed})})
    assert (repo.get_asset("o", image["asset"]) or {})["best_aoi"] == {"name": "face", "share": 0.5}
    assert (repo.get_asset("o", video["asset"]) or {})["best_aoi"] == {"name": "pack", "share": 0.3}
    # AOIs removed later: the summary goes too.
    repo.put_result("o", image["asset"], "v1", {"analysis": json.dumps({"attention": []})})
    assert "best_aoi" not in (repo.get_asset("o", image["asset"]) or {})


def test_filtered_pages_follow_the_repository_cursor_without_gaps_or_repeats(services: Services) -> None:
    repo = services.repo
    for i in range(60):
        kind = "video" if i % 3 == 0 else "image"
        repo.create_asset("o", "b", "c" if i % 2 else "d", kind, name=f"ad-{i}", status="done",
                          scores={"memorability": i / 100})
    f = Filters(kind="video")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = list_library(services, "o", f, cursor=cursor, limit=4)
        assert all(i["kind"] == "video" for i in page.items)
        seen.extend(i["asset"] for i in page.items)
        cursor = page.cursor
        if not cursor:
            break
    everything = repo.list_assets("o", limit=1000).items  # the API's order (key order, newest first)
    expected = [a["asset"] for a in everything if a["kind"] == "video"]
    assert len(expected) == 20 and seen == expected


def test_sort_by_score_with_search_pages_by_offset_best_first(services: Services) -> None:
    repo = services.repo
    for i, mem in enumerate([0.3, 0.9, 0.5, 0.7, 0.1]):
        repo.create_asset("o", "b", "c", "image", name=f"{'Hero' if i != 2 else 'other'}-{i}", status="done",
                          scores={"memorability": mem})
    f = Filters(brand="b", campaign="c", q="hero", sort="score")
    first = list_library(services, "o", f, limit=2)
    second = list_library(services, "o", f, offset=first.offset or 0, limit=2)
    names = [i["name"] for i in first.items + second.items]
    assert names == ["Hero-1", "Hero-3", "Hero-0", "Hero-4"] and first.total == 4 and second.offset is None
