"""Access patterns of the data model, on both backends, with tenancy enforced by key."""

from __future__ import annotations

import pytest

from impactlens.db.repository import ConflictError, NotFoundError, Repository


@pytest.fixture
def repo(table):
    r = Repository(table)
    for org in ("acme", "rival"):
        r.create_org(org, org.title(), "pro")
        r.create_brand(org, "fizz", "Fizz")
        r.create_campaign(org, "fizz", "summer", "Summer")
        r.create_campaign(org, "fizz", "winter", "Winter")
    r.create_brand("acme", "pop", "Pop")
    r.create_campaign("acme", "pop", "launch", "Launch")
    return r


def test_brands_and_campaigns_are_separate_key_ranges(repo):
    assert [b["brand"] for b in repo.list_brands("acme").items] == ["fizz", "pop"]
    assert [c["campaign"] for c in repo.list_campaigns("acme", "fizz").items] == ["summer", "winter"]
    with pytest.raises(ConflictError):
        repo.create_campaign("acme", "nobrand", "x", "X")
    with pytest.raises(ConflictError):
        repo.create_brand("acme", "fizz", "again")


def test_users_have_unique_emails_and_are_found_by_email(repo):
    repo.create_user("acme", "ann", "Ann", "Ann@Acme.example", "Admin", "argon2-hash")
    assert repo.user_by_email("ann@acme.example")["user"] == "ann"
    with pytest.raises(ConflictError):
        repo.create_user("rival", "bob", "Bob", "ann@acme.example", "Member", "h")
    assert repo.user_by_email("nobody@x.example") is None
    assert [u["user"] for u in repo.list_users("acme").items] == ["ann"]
    assert repo.list_users("rival").items == []


def test_api_keys_store_only_a_hash_and_revoke_only_within_the_org(repo):
    repo.create_api_key("acme", "k1", "sha256:abc", "ci")
    assert repo.api_key("k1")["hash"] == "sha256:abc" and repo.api_key("k1")["org"] == "acme"
    with pytest.raises(NotFoundError):
        repo.revoke_api_key("rival", "k1")
    assert repo.api_key("k1") is not None
    repo.revoke_api_key("acme", "k1")
    assert repo.api_key("k1") is None


def test_assets_list_newest_first_per_campaign_and_paginate(repo):
    ids = [repo.create_asset("acme", "fizz", "summer", "image")["asset"] for _ in range(5)]
    repo.create_asset("acme", "pop", "launch", "video")
    repo.create_asset("rival", "fizz", "summer", "image")
    page1 = repo.list_assets("acme", "fizz", "summer", limit=3)
    page2 = repo.list_assets("acme", "fizz", "summer", limit=3, cursor=page1.cursor)
    got = [a["asset"] for a in page1.items + page2.items]
    assert got == list(reversed(ids))
    assert len(repo.list_assets("acme", "fizz").items) == 5
    assert len(repo.list_assets("acme").items) == 6


def test_another_orgs_asset_is_invisible_and_unchangeable(repo):
    asset = repo.create_asset("acme", "fizz", "summer", "image")["asset"]
    assert repo.get_asset("rival", asset) is None
    assert repo.asset_with_details("rival", asset) is None
    for attempt in (
        lambda: repo.set_scores("rival", asset, {"memorability": 0.1}),
        lambda: repo.move_asset("rival", asset, "fizz", "summer"),
        lambda: repo.delete_asset("rival", asset),
        lambda: repo.put_result("rival", asset, "v1", {"x": 1}),
    ):
        with pytest.raises(NotFoundError):
            attempt()
    assert repo.get_asset("acme", asset)["status"] == "created"


def test_asset_details_results_segments_move_and_delete(repo):
    asset = repo.create_asset("acme", "fizz", "summer", "video")["asset"]
    repo.set_scores("acme", asset, {"memorability": 0.7})
    repo.put_result("acme", asset, "resmem-1.1.6:int8", {"memorability": 0.7})
    for start in (2000, 0, 1000):
        repo.put_segment("acme", asset, start, {"memorability": start / 10_000})
    details = repo.asset_with_details("acme", asset)
    assert details["results"]["resmem-1.1.6:int8"]["memorability"] == 0.7
    assert [s["start_ms"] for s in details["segments"]] == [0, 1000, 2000]
    moved = repo.move_asset("acme", asset, "pop", "launch")
    assert (moved["brand"], moved["campaign"]) == ("pop", "launch")
    assert [a["asset"] for a in repo.list_assets("acme", "pop", "launch").items] == [asset]
    assert repo.list_assets("acme", "fizz", "summer").items == []
    with pytest.raises(NotFoundError):
        repo.move_asset("acme", asset, "pop", "missing-campaign")
    repo.delete_asset("acme", asset)
    assert repo.get_asset("acme", asset) is None
    assert repo.table.query(f"ASSET#{asset}").items == []


def test_usage_counts_atomically(repo):
    assert repo.add_usage("acme", "2026-11") == 1
    assert repo.add_usage("acme", "2026-11", 2) == 3


@pytest.mark.parametrize("bad", ["Has Caps", "a#b", "", "x" * 70, "../x"])
def test_ids_that_could_break_keys_are_refused(repo, bad):
    with pytest.raises(ValueError):
        repo.create_brand("acme", bad, "x")


def test_jobs_are_claimed_once_oldest_first_and_expired_leases_requeue(table):
    now = [1000.0]
    repo = Repository(table, clock=lambda: now[0])
    first = repo.create_job("acme", "A1", "analyse")["job"]
    second = repo.create_job("acme", "A2", "analyse")["job"]
    claimed = repo.claim_job("w1", lease_s=60)
    assert claimed["job"] == first and claimed["attempts"] == 1
    assert repo.claim_job("w2", lease_s=60)["job"] == second
    assert repo.claim_job("w3") is None
    with pytest.raises(ConflictError):
        repo.finish_job(first, "w2", "done")  # not w2's job
    repo.finish_job(first, "w1", "done", result="ok")
    assert repo.get_job(first)["status"] == "done"
    now[0] += 120  # w2 died: its lease ran out
    assert repo.requeue_expired() == 1
    again = repo.claim_job("w3")
    assert again["job"] == second and again["attempts"] == 2
