"""Overlapping uploads, retried completions and concurrent quota use: real threads on the
real app (embedded backends, and S3/DynamoDB on moto for the presigned flow)."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import impactlens.api.uploads as uploads
from impactlens.accounts import PLANS, Plan
from impactlens.api import create_app
from impactlens.services import aws_services
from impactlens.settings import get_settings
from tests.api_support import World, make_world
from tests.aws import use_aws_backend
from tests.media_cases import jpeg, photo


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


def together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Runs fn(0..n-1) on n threads released at the same instant."""
    gate = threading.Barrier(n)

    def run(i: int) -> Any:
        gate.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def originals(world: World, org: str, asset: str) -> list[bytes]:
    """The stored originals of an asset (whatever key layout holds them)."""
    blobs = world.services.blobs
    return [blobs.read(b.key) for b in blobs.list(f"orgs/{org}/assets/{asset}/") if b.key.endswith("/source")]


def usage(world: World, org: str) -> int:
    return int(world.client.get("/v1/org", headers=world.orgs[org].headers).json()["usage"]["analyses"])


def test_overlapping_uploads_of_one_asset_keep_its_original_and_charge_once(world: World) -> None:
    o = world.orgs["acme"]
    assets = [world.asset(o, f"a{i}")["asset"] for i in range(3)]
    images = [jpeg(photo(1200, 900, seed=s)) for s in range(3)]
    per_asset = 3
    codes = together(
        len(assets) * per_asset,
        lambda i: world.upload(o, assets[i // per_asset], images[i % per_asset]).status_code,
    )
    for n, asset in enumerate(assets):
        mine = codes[n * per_asset : (n + 1) * per_asset]
        assert sorted(mine) == [202, 409, 409], codes
        stored = originals(world, "acme", asset)
        assert len(stored) == 1 and stored[0] in images
    world.run_jobs()
    for asset in assets:
        got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
        assert got["status"] == "done", got
        assert len(originals(world, "acme", asset)) == 1
    assert usage(world, "acme") == len(assets)


def test_a_retried_completion_never_deletes_the_original(world: World) -> None:
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    image = jpeg()
    assert world.upload(o, asset, image).status_code == 202
    retries = together(3, lambda _: world.client.post(f"/v1/assets/{asset}/uploaded", headers=o.headers))
    retries.append(world.client.post(f"/v1/assets/{asset}/uploaded", headers=o.headers))
    assert [r.status_code for r in retries] == [409] * 4
    assert originals(world, "acme", asset) == [image]
    assert world.run_jobs() == 1
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["status"] == "done"
    assert originals(world, "acme", asset) == [image]
    assert usage(world, "acme") == 1


def test_concurrent_uploads_cannot_exceed_the_monthly_quota(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLANS, "enterprise", Plan("enterprise", 2000, 4000, 3, 2**30, 600))
    o = world.orgs["acme"]
    assets = [world.asset(o, f"a{i}")["asset"] for i in range(8)]
    image = jpeg(photo(1200, 900))
    responses = together(len(assets), lambda i: world.upload(o, assets[i], image))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 3 + [402] * 5, codes
    assert usage(world, "acme") == 3
    for asset, r in zip(assets, responses, strict=True):
        stored = originals(world, "acme", asset)
        assert stored == ([image] if r.status_code == 202 else [])
    assert world.run_jobs() == 3


def test_upload_validations_run_at_most_the_configured_number_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, max_concurrent_validations=1)
    o = world.add_org("acme")
    world.campaign(o)
    running, peak, lock = [0], [0], threading.Lock()
    real_decode = uploads.decode_image

    def counting_decode(*args: Any, **kw: Any) -> Any:
        # A spy: the real decode runs; the spy only records how many run at once.
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.2)
            return real_decode(*args, **kw)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(uploads, "decode_image", counting_decode)
    assets = [world.asset(o, f"a{i}")["asset"] for i in range(4)]
    codes = together(4, lambda i: world.upload(o, assets[i], jpeg()).status_code)
    assert codes == [202] * 4
    assert peak[0] == 1


@pytest.fixture
def aws_world(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, TestClient, dict[str, str]]]:
    use_aws_backend(monkeypatch, aws_endpoint, "impactlens-races")
    get_settings.cache_clear()
    services = aws_services(get_settings())
    org = f"race{len(services.accounts.list_orgs())}"
    services.accounts.create_org(org, "Races", "pro")
    _, key = services.accounts.create_api_key(org, "k", "Admin")
    headers = {"Authorization": f"Bearer {key}"}
    client = TestClient(create_app(services))
    assert client.post("/v1/brands", json={"brand": "b", "name": "B"}, headers=headers).status_code == 201
    campaign = client.post("/v1/brands/b/campaigns", json={"campaign": "c", "name": "C"}, headers=headers)
    assert campaign.status_code == 201
    yield services, client, headers
    get_settings.cache_clear()


def test_concurrent_completions_of_a_presigned_upload_queue_one_job_and_keep_the_original(
    aws_world: tuple[Any, TestClient, dict[str, str]],
) -> None:
    services, client, headers = aws_world
    created = client.post("/v1/assets", json={"brand": "b", "campaign": "c", "name": "p"}, headers=headers).json()
    asset, upload = created["asset"], created["upload"]
    image = jpeg()
    req = urllib.request.Request(upload["url"], data=image, method="PUT", headers=upload["headers"])
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - moto on 127.0.0.1
        assert r.status == 200
    codes = together(3, lambda _: client.post(f"/v1/assets/{asset}/uploaded", headers=headers).status_code)
    assert sorted(codes) == [202, 409, 409]
    assert client.post(f"/v1/assets/{asset}/uploaded", headers=headers).status_code == 409
    org = client.get("/v1/me", headers=headers).json()["org"]
    blobs = services.blobs
    stored = [blobs.read(b.key) for b in blobs.list(f"orgs/{org}/assets/{asset}/") if b.key.endswith("/source")]
    assert stored == [image]
    jobs = [j for j in services.table.query("JOBQ#queued", index="GSI1").items if j["asset"] == asset]
    assert len(jobs) == 1
    assert client.get("/v1/org", headers=headers).json()["usage"]["analyses"] == 1


def test_a_new_upload_after_a_failed_analysis_replaces_the_original(world: World) -> None:
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    first, second = jpeg(photo(seed=1)), jpeg(photo(seed=2))
    assert world.upload(o, asset, first).status_code == 202
    world.services.repo.update_asset("acme", asset, {"status": "failed"})  # the analysis failed
    assert world.upload(o, asset, second).status_code == 202
    assert originals(world, "acme", asset) == [second]
    assert world.run_jobs() >= 1
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["status"] == "done"
    assert usage(world, "acme") == 2
