"""PUT /v1/assets/{id}/aois racing the analysis job that writes the asset's first result.

A PUT that read the asset while it had no results stores the AOIs only, for the job to
count. If the job finishes between that read and the write (its re-check of the AOIs done
before the write lands), the AOIs must not be stored as 'no results yet': the write is
conditional on the result still being absent, and when it is not, the PUT counts the AOIs
on the stored saliency instead. The interleaving is driven by a hook on the table, on both
backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.db import Condition, ConditionFailedError
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import World, api_settings
from tests.backends import make_table
from tests.media_cases import jpeg, photo

FIRST = [{"name": "logo", "x": 10, "y": 10, "w": 80, "h": 60}]
LEFT_RIGHT = [
    {"name": "left", "x": 0, "y": 0, "w": 160, "h": 240},
    {"name": "right", "x": 160, "y": 0, "w": 160, "h": 240},
]


class HookedTable:
    """The backend, with ``before_aoi_write`` run once just before the next write of an
    asset's AOIs through ``update`` (the PUT's no-results path), as if another process ran then."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.before_aoi_write: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def update(
        self,
        pk: str,
        sk: str,
        set: dict[str, Any] | None = None,
        add: dict[str, int | float] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Any:
        hook = self.before_aoi_write
        if hook is not None and sk == "METADATA" and "aois" in (set or {}):
            self.before_aoi_write = None
            hook()
        return self.inner.update(pk, sk, set=set, add=add, remove=remove, condition=condition)


@pytest.fixture(params=["sqlite", "dynamodb"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    endpoint = request.getfixturevalue("aws_endpoint") if request.param == "dynamodb" else None
    settings = api_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    table = HookedTable(make_table(request.param, tmp_path, endpoint))
    services = Services(settings, table, LocalBlobStore(settings.data_dir / "blobs", b"k" * 32))
    w = World(services, TestClient(create_app(services)), JobWorker(services, "w"))
    o = w.add_org("acme")
    w.campaign(o)
    return w


def _queued_asset(world: World) -> str:
    o = world.orgs["acme"]
    asset = str(world.asset(o, "ad", aois=FIRST)["asset"])
    assert world.upload(o, asset, jpeg(photo(seed=1))).status_code == 202
    return asset


def _finish_job_now(world: World) -> None:
    """The analysis completes here, re-check of the AOIs included: it still sees FIRST."""
    table: HookedTable = world.services.table  # type: ignore[assignment]

    def run() -> None:
        assert world.run_jobs() == 1

    table.before_aoi_write = run


def _stored(world: World, asset: str) -> tuple[list[str], list[str]]:
    return world.aois_and_shares(world.orgs["acme"], asset)


def test_aois_put_while_the_job_finishes_are_counted(world: World) -> None:
    o = world.orgs["acme"]
    asset = _queued_asset(world)
    _finish_job_now(world)  # between the PUT's read (no results yet) and its write
    r = world.client.put(f"/v1/assets/{asset}/aois", json={"aois": LEFT_RIGHT}, headers=o.headers)
    assert r.status_code == 200, r.text
    assert [a["name"] for a in r.json()["aois"]] == ["left", "right"]
    aois, shares = _stored(world, asset)
    assert aois == shares == ["left", "right"]  # the stored AOIs are the ones whose shares are there
    attention = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers).json()["analysis"]["attention"]
    assert sum(a["share"] for a in attention) == pytest.approx(1.0, abs=1e-3)


def test_a_refused_put_in_the_race_stores_nothing(world: World) -> None:
    o = world.orgs["acme"]
    asset = _queued_asset(world)
    _finish_job_now(world)
    outside = [{"name": "nowhere", "x": 5000, "y": 10, "w": 50, "h": 50}]  # beyond the 320 px frame
    r = world.client.put(f"/v1/assets/{asset}/aois", json={"aois": outside}, headers=o.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_aoi", r.text
    assert _stored(world, asset) == (["logo"], ["logo"])  # the previous AOIs and their shares stay


def test_aois_put_before_the_job_finishes_are_counted_by_the_job(world: World) -> None:
    o = world.orgs["acme"]
    asset = _queued_asset(world)
    r = world.client.put(f"/v1/assets/{asset}/aois", json={"aois": LEFT_RIGHT}, headers=o.headers)
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert world.run_jobs() == 1
    assert _stored(world, asset) == (["left", "right"], ["left", "right"])


def test_an_absent_condition_refuses_a_write_once_the_attribute_exists(world: World) -> None:
    table = world.services.table
    table.put({"PK": "P", "SK": "S", "a": 1})
    unset = Condition(exists=True, absent=("result_version",))
    table.update("P", "S", set={"b": 2}, condition=unset)
    table.update("P", "S", set={"result_version": "v1"})
    with pytest.raises(ConditionFailedError):
        table.update("P", "S", set={"b": 3}, condition=unset)
    with pytest.raises(ConditionFailedError):
        table.put({"PK": "P", "SK": "S", "b": 4}, unset)
    assert table.get("P", "S") == {"PK": "P", "SK": "S", "a": 1, "b": 2, "result_version": "v1"}
    table.put({"PK": "Q", "SK": "S"}, Condition(absent=("result_version",)))  # a missing item has none
