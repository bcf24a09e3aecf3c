"""A create that crashed after writing its Idempotency-Key marker holds the key only for a
short lease, not for the marker's 24 hours."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.db.sqlite import SqliteTable
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import World, api_settings


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class DyingTable(SqliteTable):
    """While ``dying``, the only write that lands is the idempotency marker: the process
    goes down right after it (nothing else it tries is stored, not even the clean-up)."""

    dying = False

    def put(self, item: dict[str, Any], condition: Any = None) -> None:
        if self.dying and not str(item["PK"]).startswith("IDEMP#"):
            raise OSError("the server died")
        super().put(item, condition)

    def update(self, *args: Any, **kw: Any) -> dict[str, Any]:
        if self.dying:
            raise OSError("the server died")
        return super().update(*args, **kw)

    def delete(self, *args: Any, **kw: Any) -> Any:
        if self.dying:
            raise OSError("the server died")
        return super().delete(*args, **kw)

    def transact(self, ops: Any) -> None:
        if self.dying:
            raise OSError("the server died")
        super().transact(ops)


def test_a_crashed_create_frees_its_idempotency_key_after_the_lease(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    clock = Clock()
    table = DyingTable(settings.data_dir / "t.db")
    services = Services(settings, table, LocalBlobStore(settings.data_dir / "blobs", b"k" * 32), clock)
    world = World(services, TestClient(create_app(services), raise_server_exceptions=False), JobWorker(services, "w"))
    o = world.add_org("acme")
    headers = {**o.headers, "Idempotency-Key": "create-spring"}
    body = {"brand": "spring", "name": "Spring"}

    table.dying = True
    assert world.client.post("/v1/brands", json=body, headers=headers).status_code == 500
    table.dying = False

    # Right after the crash the key may still belong to a request in flight.
    held = world.client.post("/v1/brands", json=body, headers=headers)
    assert held.status_code == 409 and held.json()["error"]["code"] == "idempotency_conflict"
    clock.now += 5 * 60  # minutes later, not a day
    retried = world.client.post("/v1/brands", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    replay = world.client.post("/v1/brands", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == retried.json()
    assert [b["brand"] for b in world.client.get("/v1/brands", headers=o.headers).json()] == ["spring"]
