"""A webhook host whose DNS answer never comes cannot hold a delivery worker past
webhook_timeout_s: the lookup is inside the delivery's deadline, the attempt fails like
any other timeout (queued again with backoff), and nothing is connected to."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from impactlens.jobs.webhooks import WebhookDispatcher, enqueue
from tests.abuse.hooks import receiver, set_webhook_unchecked
from tests.api_support import make_world


def test_a_slow_dns_answer_fails_the_delivery_within_the_timeout(tmp_path: Path) -> None:
    with receiver() as rec:
        port = rec.url.split(":")[2].split("/")[0]
        world = make_world(tmp_path, webhook_allow_private=True, webhook_timeout_s=0.5, webhook_retry_base_s=30.0)
        world.add_org("acme")
        set_webhook_unchecked(world, "acme", f"http://slow-dns.example.invalid:{port}/hook")
        assert enqueue(world.services, "acme", "01JOB", "job.done", {"status": "done"})
        answer = threading.Event()
        asked: list[str] = []

        def stalled_dns(host: str, port: int) -> list[str]:
            asked.append(host)
            answer.wait(10)
            return ["127.0.0.1"]  # the receiver: a late answer must not be connected to

        dispatcher = WebhookDispatcher(world.services, "dns-test", resolve=stalled_dns)
        started = time.monotonic()
        assert dispatcher.drain() == 1
        took = time.monotonic() - started
        answer.set()
        time.sleep(0.3)  # a connection made with the late answer would arrive meanwhile

        assert asked == ["slow-dns.example.invalid"]
        assert took < 2.0
        assert rec.calls == []
        item = world.services.table.get("HOOK#01JOB.job.done", "HOOK")
        assert item is not None
        assert item["status"] == "queued" and int(item["attempts"]) == 1  # retried later, like a timeout
        assert float(item["not_before"]) > world.services.clock()
        assert "resolving 'slow-dns.example.invalid' took over 0.5 s" in item["last_error"]
