"""Durable jobs: a killed worker's job completes elsewhere, retries back off, media errors
fail the asset with the reason, completion webhooks are signed."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import World, api_settings, make_world
from tests.media_cases import jpeg
from tests.video_cases import write_video

ROOT = Path(__file__).resolve().parents[1]


def _job_of(world: World, asset: str) -> dict[str, Any]:
    item = world.services.repo.get_asset("acme", asset) or {}
    return world.services.repo.get_job(str(item.get("job"))) or {}


def test_killed_worker_job_is_requeued_and_completes_once(tmp_path: Path) -> None:
    world = make_world(tmp_path, job_lease_s=1.0)
    o = world.add_org("acme")
    world.campaign(o)
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, jpeg()).status_code == 202
    data_dir = world.services.settings.data_dir
    proc = subprocess.Popen([sys.executable, "-m", "tests.job_worker_process", str(data_dir)], cwd=ROOT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            running = world.services.table.query("JOBQ#running", index="GSI1").items
            if running:
                break
            time.sleep(0.02)
        assert running and running[0]["worker"] == "doomed-worker"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    status = world.services.repo.get_asset("acme", asset)["status"]
    assert status in ("queued", "processing", "done")  # killed before or after it finished
    if status != "done":
        time.sleep(1.1)  # the dead worker's lease runs out
        world.worker.maintain()
        assert world.run_jobs() == 1
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "done" and got["job"]["status"] == "done"
    results = [i for i in world.services.table.query(f"ASSET#{asset}").items if i["SK"].startswith("RESULT#")]
    assert len(results) == 1
    assert world.services.table.query("JOBQ#running", index="GSI1").items == []
    assert world.client.get("/v1/org", headers=o.headers).json()["usage"]["analyses"] == 1


class FlakyBlobs(LocalBlobStore):
    """Reading an asset's source fails ``failures`` times (a storage hiccup), then works."""

    failures = 0

    def read(self, key: str) -> bytes:
        if key.endswith("/source") and self.failures > 0:
            self.failures -= 1
            raise OSError("storage temporarily unavailable")
        return super().read(key)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _flaky_world(tmp_path: Path, failures: int) -> tuple[World, FlakyBlobs, Clock]:
    settings = api_settings(tmp_path, job_retry_base_s=10.0, job_max_attempts=3)
    from impactlens.db.sqlite import SqliteTable

    settings.data_dir.mkdir(parents=True)
    blobs = FlakyBlobs(settings.data_dir / "blobs", b"k" * 32)
    blobs.failures = failures
    clock = Clock()
    services = Services(settings, SqliteTable(settings.data_dir / "t.db"), blobs, clock)
    world = World(services, TestClient(create_app(services)), JobWorker(services, "w1"))
    world.campaign(world.add_org("acme"))
    return world, blobs, clock


def test_failed_step_is_retried_with_backoff(tmp_path: Path) -> None:
    world, blobs, clock = _flaky_world(tmp_path, failures=1)
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    world.upload(o, asset, jpeg())
    assert world.worker.run_once()
    job = _job_of(world, asset)
    assert job["status"] == "queued" and job["not_before"] == pytest.approx(clock.now + 10.0)
    assert not world.worker.run_once()  # still backing off
    clock.now += 10.5
    assert world.worker.run_once()
    assert _job_of(world, asset)["status"] == "done" and _job_of(world, asset)["attempts"] == 2
    assert world.services.repo.get_asset("acme", asset)["status"] == "done"


def test_asset_fails_with_the_reason_after_the_last_attempt(tmp_path: Path) -> None:
    world, blobs, clock = _flaky_world(tmp_path, failures=99)
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    world.upload(o, asset, jpeg())
    for _ in range(3):
        assert world.worker.run_once()
        clock.now += 100
    assert not world.worker.run_once()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "failed" and "after 3 attempts" in got["error"]["message"]
    assert got["job"]["status"] == "failed"


def test_media_error_at_analysis_fails_at_once_with_its_code(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    o = world.add_org("acme")
    world.campaign(o)
    video = write_video(tmp_path / "v.mp4", seconds=6.0, size=(320, 240), faststart=True).read_bytes()
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, video, "v.mp4").status_code == 202
    # The stored original is damaged after it was accepted (uploads refuse broken files).
    stored = world.services.repo.get_asset("acme", asset) or {}
    source = str(stored.get("source") or f"orgs/acme/assets/{asset}/source")
    world.services.blobs.put(source, video[:64] + bytes(4096))
    world.run_jobs()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "failed" and got["error"]["code"] in ("truncated_media", "corrupt_media", "no_video_stream")
    assert got["job"]["attempts"] == 1
    assert list(world.services.blobs.list("work/")) == []
    assert [b.key for b in world.services.blobs.list(f"orgs/acme/assets/{asset}/")] == [source]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[HTTPServer, list[tuple[bytes, str]]]]:
    """A local receiver: every POST's (body, signature header), answered 204."""
    received: list[tuple[bytes, str]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["X-Impactlens-Signature"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, received
    finally:
        server.shutdown()


def test_completion_webhook_is_signed_with_the_org_secret(tmp_path: Path) -> None:
    with webhook_receiver() as (server, received):
        world = make_world(tmp_path, webhook_allow_private=True)
        o = world.add_org("acme")
        world.campaign(o)
        url = f"http://127.0.0.1:{server.server_port}/hook"
        secret = world.client.put("/v1/org/webhook", json={"url": url}, headers=o.headers).json()["secret"]
        asset = world.asset(o)["asset"]
        world.upload(o, asset, jpeg())
        world.run_jobs()
        world.worker.webhooks.drain()  # the dispatcher's threads do this in the server
    assert len(received) == 1
    body, signature = received[0]
    assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    event = json.loads(body)
    assert event["event"] == "analysis.completed" and event["asset"] == asset and "memorability" in event["scores"]


class DeletingBlobs(LocalBlobStore):
    """Deletes the asset (through the API) the moment the job reads its source: a user
    deleting an asset while it is being analysed."""

    world: World | None = None
    asset = ""

    def read(self, key: str) -> bytes:
        data = super().read(key)
        if key.endswith("/source") and self.world is not None:
            w, self.world = self.world, None
            assert w.client.delete(f"/v1/assets/{self.asset}", headers=w.orgs["acme"].headers).status_code == 204
        return data


def test_asset_deleted_mid_analysis_leaves_no_results_behind(tmp_path: Path) -> None:
    from impactlens.db.sqlite import SqliteTable

    settings = api_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    blobs = DeletingBlobs(settings.data_dir / "blobs", b"k" * 32)
    services = Services(settings, SqliteTable(settings.data_dir / "t.db"), blobs)
    world = World(services, TestClient(create_app(services)), JobWorker(services, "w1"))
    world.campaign(world.add_org("acme"))
    asset = world.asset(world.orgs["acme"])["asset"]
    world.upload(world.orgs["acme"], asset, jpeg())
    blobs.world, blobs.asset = world, asset
    world.run_jobs()
    assert list(blobs.list("orgs/")) == []
    assert services.table.query(f"ASSET#{asset}").items == []
    assert services.table.query("JOBQ#running", index="GSI1").items == []


class _FailsLikeFFmpeg:
    """The real engine, except that decoding fails as PyAV reports it: an errno and the
    server's own path to the scratch file in the message."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def analyse(self, *args: Any, **kw: Any) -> Any:
        from impactlens.errors import MediaError

        raise MediaError(
            "[Errno 1094995529] Invalid data found when processing input: '/srv/impactlens/data/tmp/job-1/source'",
            "corrupt_media",
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_failure_webhook_carries_the_scrubbed_message_the_api_shows(tmp_path: Path) -> None:
    from impactlens.engine import ImageEngine

    with webhook_receiver() as (server, received):
        world = make_world(tmp_path, webhook_allow_private=True)
        o = world.add_org("acme")
        world.campaign(o)
        url = f"http://127.0.0.1:{server.server_port}/hook"
        assert world.client.put("/v1/org/webhook", json={"url": url}, headers=o.headers).status_code == 200
        asset = world.asset(o)["asset"]
        world.upload(o, asset, jpeg())
        world.worker._engine = _FailsLikeFFmpeg(ImageEngine.from_settings(world.services.settings))  # type: ignore[assignment]
        world.run_jobs()
        world.worker.webhooks.drain()
    shown = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["error"]
    body = received[0][0].decode()
    event = json.loads(body)
    assert event["event"] == "analysis.failed" and event["error"] == shown
    assert "/srv/" not in body and "Errno" not in body
