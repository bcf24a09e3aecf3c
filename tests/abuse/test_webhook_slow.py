"""Issue 10.8: one tenant's webhook that never answers must not hold up anyone's analyses;
deliveries are durable (queued in the table) and retried with backoff."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from impactlens.jobs.worker import JobWorker
from tests.abuse.hooks import receiver
from tests.api_support import make_world
from tests.media_cases import jpeg


def test_a_hanging_webhook_does_not_delay_other_tenants_analyses(tmp_path: Path) -> None:
    with receiver(hold=True) as slow:
        world = make_world(tmp_path, webhook_allow_private=True, webhook_timeout_s=60.0)
        a, b = world.add_org("slowco"), world.add_org("fastco")
        world.campaign(a)
        world.campaign(b)
        assert world.client.put("/v1/org/webhook", json={"url": slow.url}, headers=a.headers).status_code == 200
        first, second = world.asset(a)["asset"], world.asset(b)["asset"]
        world.upload(a, first, jpeg())
        world.upload(b, second, jpeg())
        world.worker.start(1)
        try:
            deadline = time.time() + 20
            while time.time() < deadline:
                pairs = (("slowco", first), ("fastco", second))
                statuses = [world.services.repo.get_asset(o, x)["status"] for o, x in pairs]
                if statuses == ["done", "done"]:
                    break
                time.sleep(0.05)
            # Both analyses finished while slowco's receiver is still holding its request.
            assert statuses == ["done", "done"]
            assert not slow.release.is_set()
        finally:
            slow.release.set()
            world.worker.stop(10)


def test_failed_delivery_is_retried_with_backoff_and_survives_a_restart(tmp_path: Path) -> None:
    now = [1_000_000.0]
    with receiver() as rec:
        rec.script = [503]
        world = make_world(tmp_path, webhook_allow_private=True, webhook_retry_base_s=30.0)
        world.services.clock = lambda: now[0]
        world.services.repo.clock = world.services.clock
        o = world.add_org("acme")
        world.campaign(o)
        assert world.client.put("/v1/org/webhook", json={"url": rec.url}, headers=o.headers).status_code == 200
        asset = world.asset(o)["asset"]
        world.upload(o, asset, jpeg())
        world.run_jobs()
        world.worker.webhooks.drain()
        assert len(rec.calls) == 1  # answered 503
        world.worker.webhooks.drain()
        assert len(rec.calls) == 1  # backing off
        # A new process (same table) picks the delivery up once the backoff has passed.
        now[0] += 31
        fresh = JobWorker(world.services, "after-restart")
        fresh.webhooks.drain()
        assert len(rec.calls) == 2
        fresh.webhooks.drain()
        assert len(rec.calls) == 2  # delivered once, not again
    assert rec.calls[0][1] == rec.calls[1][1]


def test_deliveries_for_one_tenant_do_not_occupy_every_delivery_thread(tmp_path: Path) -> None:
    with receiver(hold=True) as slow, receiver() as fast:
        world = make_world(tmp_path, webhook_allow_private=True, webhook_timeout_s=60.0, webhook_threads=2)
        a, b = world.add_org("slowco"), world.add_org("fastco")
        world.campaign(a)
        world.campaign(b)
        world.client.put("/v1/org/webhook", json={"url": slow.url}, headers=a.headers)
        world.client.put("/v1/org/webhook", json={"url": fast.url}, headers=b.headers)
        for _ in range(3):
            world.upload(a, world.asset(a)["asset"], jpeg())
        world.upload(b, world.asset(b)["asset"], jpeg())
        world.run_jobs()
        world.worker.webhooks.start(2)
        try:
            deadline = time.time() + 20
            while time.time() < deadline and not fast.calls:
                time.sleep(0.05)
            assert len(fast.calls) == 1 and len(slow.calls) == 1
        finally:
            slow.release.set()
            world.worker.webhooks.stop(10)
        assert threading.active_count() < 50
