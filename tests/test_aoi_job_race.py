"""PUT /v1/assets/{id}/aois racing the analysis job's own recount of AOIs changed while it ran.

The job, after storing its result, re-reads the asset and counts AOIs that changed during
the run. A PUT that lands between that re-read and the job's write has measured its own
(newer) AOIs on the stored saliency already: the job's write must then be refused, not
overwrite the user's edit with the AOIs it read. Driven by a hook on the table, on both
backends."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.db import Put, Update
from impactlens.db.repository import ConflictError
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import World, api_settings
from tests.backends import make_table
from tests.media_cases import jpeg, photo

FIRST = [{"name": "logo", "x": 10, "y": 10, "w": 80, "h": 60}]
DURING = [
    {"name": "left", "x": 0, "y": 0, "w": 160, "h": 240},
    {"name": "right", "x": 160, "y": 0, "w": 160, "h": 240},
]
LATEST = [{"name": "centre", "x": 80, "y": 60, "w": 160, "h": 120}]


class HookedTable:
    """The backend, with hooks run once (as if another process ran then):
    ``before_result_version`` just before the job sets the asset's result_version, and
    ``before_aoi_result_write`` just before the next transaction that writes a result
    together with the asset's AOIs (a recount's write)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.before_result_version: Callable[[], None] | None = None
        self.before_aoi_result_write: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update(self, pk: str, sk: str, set: dict[str, Any] | None = None, **kw: Any) -> Any:
        hook = self.before_result_version
        if hook is not None and sk == "METADATA" and "result_version" in (set or {}):
            self.before_result_version = None
            hook()
        return self.inner.update(pk, sk, set=set, **kw)

    def transact(self, ops: Sequence[Any]) -> None:
        hook = self.before_aoi_result_write
        writes_result = any(isinstance(o, Put) and o.item["SK"].startswith("RESULT#") for o in ops)
        writes_aois = any(isinstance(o, Update) and "aois" in o.set for o in ops)
        if hook is not None and writes_result and writes_aois:
            self.before_aoi_result_write = None
            hook()
        self.inner.transact(ops)


@pytest.fixture(params=["sqlite", "dynamodb"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    endpoint = request.getfixturevalue("aws_endpoint") if request.param == "dynamodb" else None
    settings = api_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    table = HookedTable(make_table(request.param, tmp_path, endpoint))
    services = Services(settings, table, LocalBlobStore(settings.data_dir / "blobs", b"k" * 32))  # type: ignore[arg-type]
    w = World(services, TestClient(create_app(services)), JobWorker(services, "w"))
    o = w.add_org("acme")
    w.campaign(o)
    return w


def _put(world: World, asset: str, aois: list[dict[str, Any]]) -> None:
    o = world.orgs["acme"]
    r = world.client.put(f"/v1/assets/{asset}/aois", json={"aois": aois}, headers=o.headers)
    assert r.status_code == 200, r.text


def _stored(world: World, asset: str) -> tuple[list[str], list[str]]:
    return world.aois_and_shares(world.orgs["acme"], asset)


def _queued_asset(world: World) -> str:
    o = world.orgs["acme"]
    asset = str(world.asset(o, "ad", aois=FIRST)["asset"])
    assert world.upload(o, asset, jpeg(photo(seed=1))).status_code == 202
    return asset


def test_a_put_after_the_jobs_recheck_is_not_overwritten_by_the_jobs_recount(world: World) -> None:
    table: HookedTable = world.services.table  # type: ignore[assignment]
    asset = _queued_asset(world)
    # While the job runs (no result_version yet): the PUT only stores DURING, for the job to count.
    table.before_result_version = lambda: _put(world, asset, DURING)
    # After the job re-read the asset (it saw DURING) and before its recount lands: the user
    # sends LATEST, which the PUT measures on the saliency the job just stored.
    table.before_aoi_result_write = lambda: _put(world, asset, LATEST)
    assert world.run_jobs() == 1
    assert table.before_result_version is None and table.before_aoi_result_write is None  # both ran
    assert _stored(world, asset) == (["centre"], ["centre"])  # the user's edit, with its shares
    job = world.services.repo.get_job(str(world.services.repo.get_asset("acme", asset)["job"]))
    assert job is not None and job["status"] == "done"


def test_the_jobs_recount_still_counts_aois_changed_during_the_run(world: World) -> None:
    table: HookedTable = world.services.table  # type: ignore[assignment]
    asset = _queued_asset(world)
    table.before_result_version = lambda: _put(world, asset, DURING)
    assert world.run_jobs() == 1
    assert _stored(world, asset) == (["left", "right"], ["left", "right"])


def test_a_refused_recount_write_stores_nothing(world: World) -> None:
    repo = world.services.repo
    asset = _queued_asset(world)
    assert world.run_jobs() == 1
    before_meta = repo.get_asset("acme", asset)
    assert before_meta is not None
    version = str(before_meta["result_version"])
    before_result = repo.get_result("acme", asset, version)
    assert before_result is not None
    changed = {**before_result, "analysis": json.dumps({"attention": []})}
    with pytest.raises(ConflictError):  # the AOIs are (the stored form of) FIRST, not DURING
        repo.put_result("acme", asset, version, changed, {"aois": DURING}, expect_aois=DURING)
    assert repo.get_asset("acme", asset) == before_meta
    assert repo.get_result("acme", asset, version) == before_result
    # The same write while the AOIs are still what it read goes through.
    repo.put_result("acme", asset, version, changed, {"aois": DURING}, expect_aois=before_meta["aois"])
    assert repo.get_asset("acme", asset)["aois"] == DURING  # type: ignore[index]
