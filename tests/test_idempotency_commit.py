"""An asset create whose process stalls after its transaction committed, before the
Idempotency-Key's marker records the response, for longer than the marker's lease.

A retry with the same key then finds a pending marker whose lease is over. It must answer
with the asset the first request created (recorded in the marker by that same transaction),
not create a second one. Driven by a table that holds the first request right after its
create commits, with a fake clock, on both backends."""

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
BODY = {"brand": "b1", "campaign": "c1", "name": "ad", "aois": [{"name": "logo", "x": 1, "y": 2, "w": 30, "h": 40}]}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class StallAfterCommit:
    """The backend; once armed, the first transaction that writes an asset's METADATA commits
    and then waits in ``entered``/``release`` (the process stalled after the commit)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.armed = False
        self.entered, self.release = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def transact(self, ops: Sequence[Any]) -> None:
        self.inner.transact(ops)
        if self.armed and any(getattr(op, "item", {}).get("SK") == "METADATA" for op in ops):
            self.armed = False
            self.entered.set()
            assert self.release.wait(WAIT_S)


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    endpoint = request.getfixturevalue("aws_endpoint") if request.param == "dynamodb" else None
    return request.param, endpoint


def _world(backend: tuple[str, str | None], tmp_path: Path) -> tuple[World, StallAfterCommit, Clock]:
    kind, endpoint = backend
    settings = api_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    clock = Clock()
    table = StallAfterCommit(make_table(kind, tmp_path, endpoint))
    services = Services(settings, table, LocalBlobStore(settings.data_dir / "blobs", b"k" * 32), clock)
    app = create_app(services)
    # No renewal lands while the first request is stalled (a paused process, not a slow one).
    app.state.idempotency_store = LeasedIdempotencyStore(services.table, clock, renew_every_s=3600)
    world = World(services, TestClient(app, raise_server_exceptions=False), JobWorker(services, "w"))
    o = world.add_org("acme")
    world.campaign(o)
    return world, table, clock


def _first_in_background(world: World, headers: dict[str, str]) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def go() -> None:
        client = TestClient(world.client.app, raise_server_exceptions=False)
        box["response"] = client.post("/v1/assets", json=BODY, headers=headers)

    box["thread"] = threading.Thread(target=go, daemon=True)
    box["thread"].start()
    return box


def _assets(world: World, o: Org) -> list[str]:
    return [a["asset"] for a in world.client.get("/v1/assets", headers=o.headers).json()["items"]]


def test_a_retry_after_a_stall_past_the_lease_answers_with_the_created_asset(
    backend: tuple[str, str | None], tmp_path: Path
) -> None:
    world, table, clock = _world(backend, tmp_path)
    o = world.orgs["acme"]
    headers = {**o.headers, "Idempotency-Key": "stall-1"}
    table.armed = True
    first = _first_in_background(world, headers)
    assert table.entered.wait(WAIT_S)  # the asset is committed; the marker has no response yet
    [created] = _assets(world, o)
    clock.now += 10 * 60  # stalled far past the 60-s lease

    retry = world.client.post("/v1/assets", json=BODY, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.json()["asset"] == created
    assert _assets(world, o) == [created]  # exactly one
    # The same body shape as a create's answer (upload instructions included).
    assert set(retry.json()) == set(world.asset(o, "other").keys())
    assert retry.json()["status"] == "awaiting_upload" and retry.json()["upload"]["url"].endswith(
        f"/v1/assets/{created}/upload"
    )

    table.release.set()  # the first request wakes and answers with the same asset
    first["thread"].join(WAIT_S)
    assert first["response"].status_code == 201, first["response"].text
    assert first["response"].json() == retry.json()
    again = world.client.post("/v1/assets", json=BODY, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == retry.json()
    assert len(_assets(world, o)) == 2  # `created` and the "other" made above, no more


def test_a_retry_with_another_body_is_refused_after_the_stall(backend: tuple[str, str | None], tmp_path: Path) -> None:
    world, table, clock = _world(backend, tmp_path)
    o = world.orgs["acme"]
    headers = {**o.headers, "Idempotency-Key": "stall-1"}
    table.armed = True
    first = _first_in_background(world, headers)
    assert table.entered.wait(WAIT_S)
    clock.now += 10 * 60
    other = world.client.post("/v1/assets", json={**BODY, "name": "another"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_conflict", other.text
    table.release.set()
    first["thread"].join(WAIT_S)
    assert first["response"].status_code == 201
    assert _assets(world, o) == [first["response"].json()["asset"]]


def test_a_create_that_fails_after_committing_keeps_its_marker_for_the_retry(
    backend: tuple[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import impactlens.api.routes.assets as routes

    world, _, clock = _world(backend, tmp_path)
    o = world.orgs["acme"]
    headers = {**o.headers, "Idempotency-Key": "fail-1"}
    real = routes.upload_info
    calls = {"n": 0}

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("presigning failed")  # after the asset's transaction committed
        return real(*args, **kwargs)

    monkeypatch.setattr(routes, "upload_info", fails_once)
    first = world.client.post("/v1/assets", json=BODY, headers=headers)
    assert first.status_code == 500
    [created] = _assets(world, o)
    soon = world.client.post("/v1/assets", json=BODY, headers=headers)  # its lease is not over yet
    assert soon.status_code == 409 and soon.json()["error"]["code"] == "idempotency_conflict", soon.text
    clock.now += 61
    retry = world.client.post("/v1/assets", json=BODY, headers=headers)
    assert retry.status_code == 201 and retry.json()["asset"] == created, retry.text
    assert _assets(world, o) == [created]
