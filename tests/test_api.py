"""The HTTP API end to end on the embedded backends: accounts, assets, jobs, results."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from impactlens.accounts import PLANS, Plan
from tests.api_support import PASSWORD, World, make_world
from tests.media_cases import jpeg, photo
from tests.video_cases import scene, write_video


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    a = w.add_org("acme")
    w.campaign(a)
    w.campaign(a, "b1", "c2")
    return w


def _done_asset(world: World, name: str = "ad", seed: int = 0, **kw: object) -> str:
    o = world.orgs["acme"]
    asset = world.asset(o, name, **kw)["asset"]
    assert world.upload(o, asset, jpeg(photo(seed=seed))).status_code == 202
    world.run_jobs()
    return str(asset)


def test_login_gives_a_session_cookie_and_logout_ends_it(world: World) -> None:
    c = world.client
    assert c.post("/v1/auth/login", json={"email": "admin@acme.test", "password": "nope"}).status_code == 401
    r = c.post("/v1/auth/login", json={"email": "ADMIN@acme.test", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["org"] == "acme" and r.json()["role"] == "Admin"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    assert c.get("/v1/me").json()["kind"] == "session"
    assert c.post("/v1/auth/logout").status_code == 204
    c.cookies.clear()
    assert c.get("/v1/me").status_code == 401


def test_upload_queues_a_job_and_results_arrive_with_links(world: World) -> None:
    o = world.orgs["acme"]
    created = world.asset(o, "poster", aois=[{"name": "logo", "x": 10, "y": 10, "w": 80, "h": 60}])
    assert created["status"] == "awaiting_upload" and created["upload"]["form_field"] == "file"
    r = world.upload(o, created["asset"], jpeg())
    assert r.status_code == 202 and r.json()["status"] == "queued" and r.json()["kind"] == "image"
    assert world.client.get(f"/v1/assets/{created['asset']}/results", headers=o.headers).status_code == 409
    assert world.run_jobs() == 1
    got = world.client.get(f"/v1/assets/{created['asset']}", headers=o.headers).json()
    assert got["status"] == "done" and got["job"]["status"] == "done" and 0 <= got["scores"]["memorability"] <= 1
    res = world.client.get(f"/v1/assets/{created['asset']}/results", headers=o.headers).json()
    assert res["analysis"]["attention"][0]["name"] == "logo"
    link = res["links"]["heatmap"]
    png = world.client.get(link.replace("http://testserver", ""))
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    tampered = link.replace("signature=", "signature=0")
    assert world.client.get(tampered.replace("http://testserver", "")).status_code == 403
    # A second upload of a done asset is refused.
    assert world.upload(o, created["asset"], jpeg()).status_code == 409


def test_changing_aois_recomputes_shares_without_a_new_job(world: World) -> None:
    o = world.orgs["acme"]
    asset = _done_asset(world)
    jobs_before = world.services.table.query("JOBQ#done", index="GSI1").items
    aois = [
        {"name": "left", "x": 0, "y": 0, "w": 160, "h": 240},
        {"name": "right", "x": 160, "y": 0, "w": 160, "h": 240},
    ]
    r = world.client.put(f"/v1/assets/{asset}/aois", json={"aois": aois}, headers=o.headers)
    assert r.status_code == 200
    shares = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers).json()["analysis"]["attention"]
    assert [s["name"] for s in shares] == ["left", "right"]
    assert sum(s["share"] for s in shares) == pytest.approx(1.0, abs=1e-3)
    assert world.services.table.query("JOBQ#done", index="GSI1").items == jobs_before
    assert world.services.table.query("JOBQ#queued", index="GSI1").items == []


def test_aggregates_follow_uploads_moves_and_deletes(world: World) -> None:
    o = world.orgs["acme"]
    a1, a2 = _done_asset(world, "one", 1), _done_asset(world, "two", 2, campaign="c2")
    agg = world.client.get("/v1/aggregates", headers=o.headers).json()
    assert agg["assets"] == 2 and agg["scores"]["memorability"]["count"] == 2
    c1 = world.client.get("/v1/aggregates?brand=b1&campaign=c1", headers=o.headers).json()
    assert c1["assets"] == 1
    assert (
        world.client.post(
            f"/v1/assets/{a1}/move", json={"brand": "b1", "campaign": "c2"}, headers=o.headers
        ).status_code
        == 200
    )
    world.run_jobs()
    assert world.client.get("/v1/aggregates?brand=b1&campaign=c1", headers=o.headers).json()["assets"] == 0
    assert world.client.get("/v1/aggregates?brand=b1&campaign=c2", headers=o.headers).json()["assets"] == 2
    assert world.client.delete(f"/v1/assets/{a2}", headers=o.headers).status_code == 204
    world.run_jobs()
    after = world.client.get("/v1/aggregates", headers=o.headers).json()
    assert after["assets"] == 1
    scores = world.client.get(f"/v1/assets/{a1}", headers=o.headers).json()["scores"]
    assert after["scores"]["memorability"]["mean"] == pytest.approx(scores["memorability"], abs=1e-6)
    assert list(world.services.blobs.list(f"orgs/acme/assets/{a2}/")) == []
    assert world.client.get(f"/v1/assets/{a2}", headers=o.headers).status_code == 404


def test_assets_list_newest_first_with_cursor(world: World) -> None:
    o = world.orgs["acme"]
    ids = [world.asset(o, f"a{i}")["asset"] for i in range(5)]
    seen, cursor = [], None
    while True:
        q = "/v1/assets?brand=b1&campaign=c1&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = world.client.get(q, headers=o.headers).json()
        seen += [i["asset"] for i in page["items"]]
        cursor = page["cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert world.client.get("/v1/assets?cursor=garbage", headers=o.headers).status_code == 422


def test_compare_names_a_winner_per_score_and_aoi(world: World) -> None:
    o = world.orgs["acme"]
    aoi = [{"name": "logo", "x": 0, "y": 0, "w": 100, "h": 100}]
    a, b = _done_asset(world, "a", 3, aois=aoi), _done_asset(world, "b", 4, aois=aoi)
    r = world.client.get(f"/v1/compare?ids={a}&ids={b}", headers=o.headers).json()
    mems = {row["asset"]: row["scores"]["memorability"] for row in r["assets"]}
    assert r["winners"]["memorability"] == max(mems, key=mems.get)
    assert r["winners"]["attention:logo"] in (a, b)
    assert world.client.get(f"/v1/compare?ids={a}", headers=o.headers).status_code == 422


def test_idempotency_key_replays_the_first_creation(world: World) -> None:
    o = world.orgs["acme"]
    body = {"brand": "b1", "campaign": "c1", "name": "once"}
    h = {**o.headers, "Idempotency-Key": "k-1"}
    first = world.client.post("/v1/assets", json=body, headers=h)
    again = world.client.post("/v1/assets", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["asset"] == again.json()["asset"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(world.client.get("/v1/assets", headers=o.headers).json()["items"]) == 1
    other = world.client.post("/v1/assets", json={**body, "name": "else"}, headers=h)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_conflict"


def test_burst_beyond_the_plan_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    o = w.add_org("small", plan="free")
    # The clock stands still, so the refill during a slow run (a loaded CI machine) cannot
    # turn the burst's end into 200s: the test checks the bucket, not the machine's speed.
    buckets = w.client.app.state.buckets
    now = buckets.clock()
    buckets.clock = lambda: now
    burst = PLANS["free"].burst
    codes = [w.client.get("/v1/me", headers=o.headers).status_code for _ in range(burst + 5)]
    assert codes == [200] * burst + [429] * 5
    r = w.client.get("/v1/me", headers=o.headers)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and r.json()["error"]["code"] == "rate_limited"


def test_monthly_quota_is_enforced_with_402(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    o = world.orgs["acme"]
    monkeypatch.setitem(PLANS, "enterprise", Plan("enterprise", 2000, 4000, 1, 2**30, 600))
    a, b = world.asset(o, "a")["asset"], world.asset(o, "b")["asset"]
    assert world.upload(o, a, jpeg()).status_code == 202
    r = world.upload(o, b, jpeg())
    assert r.status_code == 402 and r.json()["error"]["code"] == "quota_exceeded"
    assert not world.services.blobs.exists(f"orgs/acme/assets/{b}/source")


def test_video_upload_gives_a_timeline(world: World, tmp_path: Path) -> None:
    o = world.orgs["acme"]
    video = write_video(tmp_path / "v.mp4", seconds=2.0, size=(320, 240), frame=scene(320, 240, enter_s=1.0))
    asset = world.asset(o, "spot", aois=[{"name": "box", "x": 200, "y": 60, "w": 80, "h": 80}])["asset"]
    assert world.upload(o, asset, video.read_bytes(), "v.mp4").json()["kind"] == "video"
    world.run_jobs()
    res = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers).json()
    assert [p["t"] for p in res["analysis"]["timeline"]] == [0.0, 0.5, 1.0, 1.5]
    assert set(res["links"]) >= {"heatmap_video", "saliency", "keyframe_1"}
    new = [{"name": "left", "x": 0, "y": 0, "w": 160, "h": 240}]
    world.client.put(f"/v1/assets/{asset}/aois", json={"aois": new}, headers=o.headers)
    res2 = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers).json()
    assert [a["name"] for a in res2["analysis"]["attention"]] == ["left"] and 0 < res2["analysis"]["attention"][0][
        "whole"
    ] < 1
    assert list(world.services.blobs.list("work/")) == []


def test_malformed_json_and_wrong_types_get_422_json(world: World) -> None:
    o = world.orgs["acme"]
    r = world.client.post("/v1/assets", content=b"{not json", headers={**o.headers, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = world.client.post("/v1/assets", json={"brand": 5, "campaign": [], "name": ""}, headers=o.headers)
    assert r.status_code == 422 and json.loads(r.text)["error"]["details"]
    assert world.client.get("/v1/nowhere", headers=o.headers).json()["error"]["code"] == "not_found"


def test_cors_allows_only_configured_origins(tmp_path: Path) -> None:
    w = make_world(tmp_path, cors_origins=["https://app.example.com"])
    ok = w.client.options(
        "/v1/assets", headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    )
    assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
    bad = w.client.options(
        "/v1/assets", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in bad.headers


def test_repeated_failed_authentication_is_throttled(world: World) -> None:
    # The buckets' clock stands still: at 5 tokens/s, 60 requests taking over 2 s (a loaded CI
    # machine) refilled enough that none was refused, and the test failed for timing alone.
    buckets = world.client.app.state.buckets
    now = buckets.clock()
    buckets.clock = lambda: now
    bad = {"Authorization": "Bearer il_0123456789abcdef_not-a-real-secret"}
    codes = [world.client.get("/v1/me", headers=bad).status_code for _ in range(60)]
    assert codes[:50] == [401] * 50 and codes[50:] == [429] * 10
    # A valid key from the same address still works: its org has its own bucket.
    assert world.client.get("/v1/me", headers=world.orgs["acme"].headers).status_code == 200


def test_a_key_guessing_flood_is_logged_once_per_address_not_once_per_refusal(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    buckets = world.client.app.state.buckets
    now = buckets.clock()
    buckets.clock = lambda: now
    bad = {"Authorization": "Bearer il_0123456789abcdef_not-a-real-secret"}
    with caplog.at_level(logging.WARNING, logger="impactlens.api"):
        codes = [world.client.get("/v1/me", headers=bad).status_code for _ in range(250)]
    assert codes.count(429) == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "impactlens.api"]
    assert len(lines) == 1 and "authentication refused" in lines[0] and "not-a-real-secret" not in lines[0]


def test_admin_deletes_a_user_whose_session_then_ends(world: World) -> None:
    o = world.orgs["acme"]
    new = world.client.post(
        "/v1/users", json={"email": "bob@acme.test", "name": "Bob", "password": PASSWORD}, headers=o.headers
    ).json()
    bob = TestClient(world.client.app)
    assert bob.post("/v1/auth/login", json={"email": "bob@acme.test", "password": PASSWORD}).status_code == 200
    assert bob.get("/v1/me").json()["role"] == "Member"
    assert world.client.delete(f"/v1/users/{new['user']}", headers=o.headers).status_code == 204
    assert bob.get("/v1/me").status_code == 401
    assert world.client.delete(f"/v1/users/{new['user']}", headers=o.headers).status_code == 404
    # The email is free again.
    again = world.client.post(
        "/v1/users", json={"email": "bob@acme.test", "name": "Bob", "password": PASSWORD}, headers=o.headers
    )
    assert again.status_code == 201
