"""The campaign CSV export pays for what it reads in page tokens (web/export.py, web/deps.py
charge_pages): one per ten results and per listing page past the first, taken before the first
result is read, from a bucket of their own. A refused export reads no result; a large one leaves
a debt the organisation's next exports wait out (not its pages: one member's export must not
keep the others out of the dashboard), yet is never refused for good. Both limiters: in
process and in the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from impactlens.accounts import PLANS
from impactlens.api import create_app
from impactlens.api.throttle import TokenBuckets
from impactlens.db.ratelimit import TableRateLimiter
from impactlens.db.sqlite import SqliteTable
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from impactlens.web.export import RESULTS_PER_TOKEN
from tests.api_support import PASSWORD, World, api_settings
from tests.web.test_page_throttle import freeze, signed_in

FREE = PLANS["free"]
EXPORT = "/brands/b1/campaigns/c1/export.csv"


class WatchedTable(SqliteTable):
    """The real SQLite table, counting the reads of stored results."""

    result_reads = 0

    def get(self, pk: str, sk: str) -> Any:
        if sk.startswith("RESULT#"):
            self.result_reads += 1
        return super().get(pk, sk)


def analysed_campaign(tmp_path: Path, results: int) -> tuple[World, WatchedTable, TestClient]:
    """A free-plan organisation whose campaign has ``results`` analysed assets; buckets frozen."""
    conf = api_settings(tmp_path)
    conf.data_dir.mkdir(parents=True, exist_ok=True)
    table = WatchedTable(conf.data_dir / "t.db")
    services = Services(conf, table, LocalBlobStore(conf.data_dir / "blobs", b"k" * 32))
    world = World(services, TestClient(create_app(services)), JobWorker(services, "w1"))
    o = world.add_org("acme", plan="free")
    world.campaign(o)
    analysis = json.dumps({"attention": [{"name": "logo", "share": 0.25}]})
    for n in range(results):
        a = services.repo.create_asset("acme", "b1", "c1", "image", name=f"ad {n}", status="done", aois=[])
        services.repo.put_result("acme", a["asset"], "v1", {"analysis": analysis}, {"result_version": "v1"})
    freeze(world.client.app)
    return world, table, signed_in(world.client.app, services, o.admin_email)


def test_a_small_export_costs_one_page(tmp_path: Path) -> None:
    world, table, ada = analysed_campaign(tmp_path, RESULTS_PER_TOKEN)
    assert ada.get(EXPORT).status_code == 200 and table.result_reads == RESULTS_PER_TOKEN
    codes = [ada.get("/brands").status_code for _ in range(FREE.burst)]
    assert codes == [200] * (FREE.burst - 1) + [429]


def test_a_large_export_is_charged_per_ten_results_and_later_exports_wait_out_the_debt(tmp_path: Path) -> None:
    world, table, ada = analysed_campaign(tmp_path, 300)  # 30 tokens: more than the free burst of 20
    r = ada.get(EXPORT)
    assert r.status_code == 200 and len(r.text.splitlines()) == 301
    buckets = world.client.app.state.buckets
    assert isinstance(buckets, TokenBuckets)
    tokens, _ = buckets._state["web:export:acme"]
    assert tokens == FREE.burst - (300 // RESULTS_PER_TOKEN - 1)  # the page's own token paid for 10
    # The organisation's pages are untouched: every other member keeps the dashboard.
    assert [ada.get("/brands").status_code for _ in range(FREE.burst - 1)] == [200] * (FREE.burst - 1)
    refused = ada.get(EXPORT)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    now = buckets.clock()
    buckets.clock = lambda: now + 60
    assert ada.get(EXPORT).status_code == 200


def test_a_refused_export_reads_no_result(tmp_path: Path) -> None:
    world, table, ada = analysed_campaign(tmp_path, 300)
    assert ada.get(EXPORT).status_code == 200
    reads_before = table.result_reads
    r = ada.get(EXPORT)  # the export bucket owes 9 tokens: it needs 10 (half the burst)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "Too many requests" in r.text
    assert table.result_reads == reads_before == 300
    now = world.client.app.state.buckets.clock()
    world.client.app.state.buckets.clock = lambda: now + 60  # refilled: the same export goes through
    assert ada.get(EXPORT).status_code == 200 and table.result_reads == 600


def test_the_table_limiter_charges_a_costly_request_into_the_following_windows(table: Any) -> None:
    clock = [4_000.0]
    limiter = TableRateLimiter(table, clock=lambda: clock[0])
    rate, burst = 10.0, 20  # windows of 2 s, 20 each
    assert limiter.take("k", rate, burst, cost=50) == 0.0
    assert [table.get("RATE#k#0", f"W#{t}")["n"] for t in (4_000_000, 4_002_000, 4_004_000)] == [50, 20, 10]
    assert limiter.take("k", rate, burst) > 0  # this window and the next are spent
    clock[0] += 2
    assert limiter.take("k", rate, burst) > 0
    clock[0] += 2
    assert limiter.take("k", rate, burst, cost=10) == 0.0  # 10 owed + 10 fit
    assert limiter.take("k", rate, burst) > 0
    clock[0] += 2
    for _ in range(11):
        assert limiter.take("k", rate, burst) == 0.0
    assert limiter.take("k", rate, burst, cost=11) > 0  # needs 10 (half a burst), 9 left: refused
    assert limiter.take("k", rate, burst, cost=40) > 0
    assert table.get("RATE#k#0", "W#4006000")["n"] == 11  # a refused request took nothing
    assert limiter.take("k", rate, burst, cost=9) == 0.0  # all of a cost under half a burst


def test_an_export_on_aws_is_charged_in_the_table(table: Any, tmp_path: Path) -> None:
    settings = api_settings(tmp_path, backend="aws")
    services = Services(settings, table, LocalBlobStore(tmp_path / "b", b"k" * 32))
    app = create_app(services)
    assert isinstance(app.state.buckets, TableRateLimiter)
    app.state.buckets.clock = lambda: 8_000.0
    services.accounts.create_org("acme", "ACME", "free")
    services.accounts.create_user("acme", "ada@acme.test", "Ada", "Admin", PASSWORD)
    services.repo.create_brand("acme", "b1", "B1")
    services.repo.create_campaign("acme", "b1", "c1", "C1")
    for n in range(2 * RESULTS_PER_TOKEN + 1):
        a = services.repo.create_asset("acme", "b1", "c1", "image", name=f"ad {n}", status="done", aois=[])
        services.repo.put_result("acme", a["asset"], "v1", {"analysis": '{"attention": []}'}, {"result_version": "v1"})
    ada = signed_in(app, services, "ada@acme.test")
    assert ada.get(EXPORT).status_code == 200
    assert table.get("RATE#web:page:acme#0", "W#8000000")["n"] == 1  # the page
    assert table.get("RATE#web:export:acme#0", "W#8000000")["n"] == 2  # 2 more for 21 results
