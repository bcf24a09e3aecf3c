"""Webhook deliveries: queued in the table, sent by their own threads, never by the analysis.

A finished job enqueues an event (one item per job and event, so a rerun job does not queue
it twice) and goes on; dispatcher threads claim due deliveries with a lease (a killed
process's delivery is sent again once the lease runs out: at least once, receivers dedupe
on ``job``), POST them through :mod:`impactlens.net.safe_http`, and retry failures with
exponential backoff up to ``webhook_max_attempts``. A process sends at most one delivery
per organisation at a time, so one tenant's hanging receiver occupies one thread, not all.
The URL and secret are read from the organisation at send time: none is copied into the
queue, and a removed webhook stops its pending deliveries.

Items: ``HOOK#<job>.<event>`` / ``HOOK``, GSI1 ``HOOKQ#<state>`` / ULID (oldest first).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from typing import Any

from ..accounts.security import sign
from ..db.repository import new_ulid
from ..db.table import NOT_EXISTS, Condition, ConditionFailedError, Item, iterate
from ..net.safe_http import Resolver, UnsafeURLError, check_url, post, system_resolver
from ..services import Services
from ..settings import Settings

log = logging.getLogger("impactlens.webhooks")
# Answers worth retrying; any other 4xx (and every 3xx: redirects are not followed) is final.
_RETRYABLE = {408, 425, 429}


def enqueue(services: Services, org: str, job: str, event: str, data: dict[str, Any]) -> bool:
    """Queues ``event`` for ``org``'s webhook; False when it was queued before (a rerun)."""
    org_item = services.repo.get_org(org) or {}
    if not org_item.get("webhook_url"):
        return False
    hook = new_ulid()
    body = {"event": event, "job": job, **data}
    item = {
        "PK": f"HOOK#{job}.{event}",
        "SK": "HOOK",
        "GSI1PK": "HOOKQ#queued",
        "GSI1SK": hook,
        "org": org,
        "event": event,
        "body": json.dumps(body, separators=(",", ":")),
        "status": "queued",
        "attempts": 0,
        "created_at": services.clock(),
    }
    try:
        services.table.put(item, NOT_EXISTS)
    except ConditionFailedError:
        return False
    return True


class WebhookDispatcher:
    def __init__(self, services: Services, worker_id: str, resolve: Resolver = system_resolver) -> None:
        self.services = services
        self.resolve = resolve  # the DNS lookup; bounded by webhook_timeout_s like the rest
        self.settings = services.settings
        self.id = worker_id
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy: set[str] = set()  # organisations with a delivery in flight here
        self._lock = threading.Lock()

    @property
    def lease_s(self) -> float:
        return 2 * self.settings.webhook_timeout_s + 10

    def start(self, threads: int | None = None) -> None:
        count = self.settings.webhook_threads if threads is None else threads
        self._stop.clear()
        for n in range(count):
            t = threading.Thread(target=self._loop, name=f"impactlens-webhook-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.requeue_expired()
                if not self.run_once():
                    self._stop.wait(0.5)
            except Exception:  # noqa: BLE001 - the loop must survive a bad moment of the database
                log.exception("webhook loop error")
                self._stop.wait(1.0)

    def drain(self, limit: int = 1000) -> int:
        """Sends every due delivery now (tests, the Lambda sweep); returns how many were tried."""
        self.requeue_expired()
        n = 0
        while n < limit and self.run_once():
            n += 1
        return n

    def requeue_expired(self) -> None:
        now = self.services.clock()
        for item in self.services.table.query("HOOKQ#sending", index="GSI1", limit=100).items:
            if float(item.get("lease_until", 0)) < now:
                try:
                    self.services.table.update(
                        item["PK"],
                        "HOOK",
                        set={"status": "queued", "GSI1PK": "HOOKQ#queued"},
                        remove=["worker", "lease_until"],
                        condition=Condition(equals={"status": "sending", "worker": item.get("worker")}),
                    )
                except ConditionFailedError:
                    pass

    def _claim(self) -> Item | None:
        now = self.services.clock()
        # Looks past a long backlog of a tenant that is busy here, so it cannot starve others.
        for cand in itertools.islice(iterate(self.services.table, "HOOKQ#queued", index="GSI1", limit=100), 2000):
            if float(cand.get("not_before", 0)) > now:
                continue
            with self._lock:
                if cand["org"] in self._busy:
                    continue
                self._busy.add(cand["org"])
            try:
                return self.services.table.update(
                    cand["PK"],
                    "HOOK",
                    set={
                        "status": "sending",
                        "GSI1PK": "HOOKQ#sending",
                        "worker": self.id,
                        "lease_until": now + self.lease_s,
                    },
                    add={"attempts": 1},
                    condition=Condition(exists=True, equals={"status": "queued"}),
                )
            except ConditionFailedError:
                with self._lock:
                    self._busy.discard(cand["org"])
        return None

    def run_once(self) -> bool:
        item = self._claim()
        if item is None:
            return False
        try:
            self._deliver(item)
        finally:
            with self._lock:
                self._busy.discard(item["org"])
        return True

    def _deliver(self, item: Item) -> None:
        org = self.services.repo.get_org(item["org"]) or {}
        url, secret = org.get("webhook_url"), org.get("webhook_secret")
        if not url or not secret:
            self._settle(item, None)  # the webhook was removed meanwhile
            return
        body = str(item["body"]).encode()
        headers = {"Content-Type": "application/json", "X-Impactlens-Signature": sign(str(secret), body)}
        s = self.settings
        try:
            status = post(str(url), body, headers, s.webhook_timeout_s, s.webhook_allow_private, self.resolve)
        except UnsafeURLError as exc:
            self._settle(item, f"refused: {exc}", final=True)
            return
        except ConnectionError as exc:
            self._settle(item, str(exc))
            return
        if 200 <= status < 300:
            self._settle(item, None)
        elif 300 <= status < 400:
            self._settle(item, f"answered {status}: redirects are not followed", final=True)
        else:
            self._settle(item, f"answered {status}", final=400 <= status < 500 and status not in _RETRYABLE)

    def _settle(self, item: Item, error: str | None, final: bool = False) -> None:
        """Delivered (or moot): the item goes. Failed: back in the queue after a backoff, or
        kept as ``failed`` (for operators) once final or out of attempts."""
        held = Condition(exists=True, equals={"status": "sending", "worker": self.id})
        table = self.services.table
        try:
            if error is None:
                table.delete(item["PK"], "HOOK", held)
                return
            attempts = int(item.get("attempts", 1))
            log.warning("webhook %s for org %s, attempt %d: %s", item["PK"], item["org"], attempts, error)
            common = {"last_error": error[:500]}
            if final or attempts >= self.settings.webhook_max_attempts:
                table.update(
                    item["PK"],
                    "HOOK",
                    set={"status": "failed", "GSI1PK": "HOOKQ#failed", **common},
                    remove=["worker", "lease_until"],
                    condition=held,
                )
            else:
                delay = min(self.settings.webhook_retry_base_s * 2 ** (attempts - 1), 3600.0)
                table.update(
                    item["PK"],
                    "HOOK",
                    set={
                        "status": "queued",
                        "GSI1PK": "HOOKQ#queued",
                        "not_before": self.services.clock() + delay,
                        **common,
                    },
                    remove=["worker", "lease_until"],
                    condition=held,
                )
        except ConditionFailedError:
            log.warning("webhook %s was taken over by another dispatcher", item["PK"])


def check_webhook_url(settings: Settings, url: str) -> None:
    """When a URL is saved: well formed, http(s), and (unless private targets are allowed)
    neither a literal internal address nor a name resolving to one. A name that does not
    resolve yet is accepted; every delivery checks again, strictly."""
    check_url(url, settings.webhook_allow_private, strict=False)
