"""A create slower than the Idempotency-Key's lease: the retry must not create a second
thing, and the slow first request must never delete or overwrite the retry's marker.

The first request is held inside its create (its table write blocks until released) while
the clock moves past the lease; everything else is driven from the test, on both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.api.idempotency import LeasedIdempotencyStore
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import Org, World, api_settings
from tests.backends import make_table

WAIT_S = 30.0  # only a hang waits this long; every step is signalled


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class HeldTable:
    """The backend; a write of an item whose SK starts with ``hold_sk`` (once) waits in
    ``entered``/``release``, as a create that takes minutes. Marker renewals set ``renewed``
    once they push the lease past the clock's present."""

    def __init__(self, inner: Any, clock: Clock) -> None:
        self.inner, self.clock = inner, clock
        self.hold_sk: str | None = None
        self.entered, self.release, self.renewed = threading.Event(), threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _maybe_hold(self, sks: Sequence[str]) -> None:
        if self.hold_sk is not None and any(sk.startswith(self.hold_sk) for sk in sks):
            self.hold_sk = None
            self.entered.set()
            assert self.release.wait(WAIT_S)

    def put(self, item: dict[str, Any], condition: Any = None) -> None:
        self._maybe_hold([item["SK"]])
        self.inner.put(item, condition)

    def transact(self, ops: Sequence[Any]) -> None:
        self._maybe_hold([op.item["SK"] for op in ops if hasattr(op, "item")])
        self.inner.transact(ops)

    def update(self, pk: str, sk: str, **kw: Any) -> Any:
        new = self.inner.update(pk, sk, **kw)
        if pk.startswith("IDEMP#") and float(new.get("lease_until", 0)) > self.clock.now:
            self.renewed.set()
        return new


def _world(backend: tuple[str, str | None], tmp_path: Path, renew_every_s: float) -> tuple[World, HeldTable, Clock]:
    kind, endpoint = backend
    settings = api_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    clock = Clock()
    table = HeldTable(make_table(kind, tmp_path, endpoint), clock)
    services = Services(settings, table, LocalBlobStore(settings.data_dir / "blobs", b"k" * 32), clock)  # type: ignore[arg-type]
    app = create_app(services)
    app.state.idempotency_store = LeasedIdempotencyStore(services.table, clock, renew_every_s=renew_every_s)
    world = World(services, TestClient(app, raise_server_exceptions=False), JobWorker(services, "w"))
    o = world.add_org("acme")
    world.campaign(o)
    return world, table, clock


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    endpoint = request.getfixturevalue("aws_endpoint") if request.param == "dynamodb" else None
    return request.param, endpoint


def _in_background(world: World, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def go() -> None:
        client = TestClient(world.client.app, raise_server_exceptions=False)
        box["response"] = client.post(path, json=body, headers=headers)

    box["thread"] = threading.Thread(target=go, daemon=True)
    box["thread"].start()
    return box


def _marker(world: World, o: Org) -> dict[str, Any] | None:
    store: LeasedIdempotencyStore = world.client.app.state.idempotency_store  # type: ignore[attr-defined]
    return world.services.table.get(*store.marker_key(o.org, "slow-1"))


def test_a_create_slower_than_the_lease_keeps_its_key_and_the_retry_replays(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    world, table, clock = _world(backend, tmp_path, renew_every_s=0.01)
    o = world.orgs["acme"]
    headers = {**o.headers, "Idempotency-Key": "slow-1"}
    body = {"brand": "b1", "campaign": "c1", "name": "ad"}
    table.hold_sk = "METADATA"  # the asset's item
    first = _in_background(world, "/v1/assets", body, headers)
    assert table.entered.wait(WAIT_S)
    clock.now += 10 * 60  # the create has now run for ten minutes, far past the 60-s lease
    table.renewed.clear()
    assert table.renewed.wait(WAIT_S)  # the running request renewed its lease meanwhile

    retry = world.client.post("/v1/assets", json=body, headers=headers)
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "idempotency_conflict", retry.text

    table.release.set()
    first["thread"].join(WAIT_S)
    assert first["response"].status_code == 201, first["response"].text
    replay = world.client.post("/v1/assets", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first["response"].json()
    assets = world.client.get("/v1/assets", headers=o.headers).json()["items"]
    assert [a["asset"] for a in assets] == [first["response"].json()["asset"]]  # exactly one


def test_a_stalled_create_that_lost_its_lease_neither_duplicates_nor_touches_the_retrys_marker(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    # No renewal lands while it is held: a stalled process (paused, not just slow).
    world, table, clock = _world(backend, tmp_path, renew_every_s=3600)
    o = world.orgs["acme"]
    headers = {**o.headers, "Idempotency-Key": "slow-1"}
    body = {"brand": "b1", "campaign": "c1", "name": "ad"}
    table.hold_sk = "METADATA"
    first = _in_background(world, "/v1/assets", body, headers)
    assert table.entered.wait(WAIT_S)
    clock.now += 10 * 60

    retry = world.client.post("/v1/assets", json=body, headers=headers)  # the lease is over: it goes ahead
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers, retry.text
    taken = _marker(world, o)
    assert taken is not None and taken["state"] == "done"

    table.release.set()  # the stalled first request wakes up and tries its create
    first["thread"].join(WAIT_S)
    assert first["response"].status_code == 409, first["response"].text
    assert first["response"].json()["error"]["code"] == "idempotency_conflict"
    assert _marker(world, o) == taken  # neither deleted nor overwritten by the first request
    assets = world.client.get("/v1/assets", headers=o.headers).json()["items"]
    assert [a["asset"] for a in assets] == [retry.json()["asset"]]  # exactly one
    again = world.client.post("/v1/assets", json=body, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == retry.json()


def test_a_failed_create_that_lost_its_lease_does_not_delete_the_retrys_marker(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    world, table, clock = _world(backend, tmp_path, renew_every_s=3600)
    o = world.orgs["acme"]
    headers = {**o.headers, "Idempotency-Key": "slow-1"}
    body = {"brand": "spring", "name": "Spring"}
    table.hold_sk = "BRAND#spring"
    first = _in_background(world, "/v1/brands", body, headers)
    assert table.entered.wait(WAIT_S)
    clock.now += 10 * 60

    retry = world.client.post("/v1/brands", json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    taken = _marker(world, o)
    assert taken is not None and taken["state"] == "done"

    table.release.set()  # its create now fails (the brand exists): it abandons its key
    first["thread"].join(WAIT_S)
    assert first["response"].status_code == 409, first["response"].text
    assert _marker(world, o) == taken  # the abandon was not the first request's to make
    again = world.client.post("/v1/brands", json=body, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == retry.json()
    assert [b["brand"] for b in world.client.get("/v1/brands", headers=o.headers).json()] == ["b1", "spring"]
