"""Issue 10.11 (jobs): a job whose worker keeps dying (timeout, OOM kill) must not rerun
forever; after job_max_attempts the job and its asset fail with a clear reason."""

from __future__ import annotations

from pathlib import Path

from tests.api_support import make_world
from tests.media_cases import jpeg


def test_job_whose_worker_dies_on_every_attempt_fails_after_the_last_one(tmp_path: Path) -> None:
    now = [1_000_000.0]
    world = make_world(tmp_path, job_max_attempts=3, job_lease_s=10.0)
    world.services.clock = lambda: now[0]
    world.services.repo.clock = world.services.clock
    o = world.add_org("acme")
    world.campaign(o)
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, jpeg()).status_code == 202
    repo = world.services.repo
    for attempt in range(1, 6):
        job = repo.claim_job(f"doomed-{attempt}", 10.0)
        if job is None:
            break
        assert job["attempts"] == attempt
        now[0] += 11  # the worker died: its lease runs out
        world.worker.maintain()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert attempt == 4, "claimed again after the last attempt"
    assert got["status"] == "failed" and got["job"]["status"] == "failed"
    assert got["error"]["code"] == "worker_lost" and "3 attempts" in got["error"]["message"]
    assert world.services.table.query("JOBQ#running", index="GSI1").items == []
    assert world.services.table.query("JOBQ#queued", index="GSI1").items == []


def test_expired_job_with_attempts_left_is_requeued(tmp_path: Path) -> None:
    now = [1_000_000.0]
    world = make_world(tmp_path, job_max_attempts=3, job_lease_s=10.0)
    world.services.clock = lambda: now[0]
    world.services.repo.clock = world.services.clock
    o = world.add_org("acme")
    world.campaign(o)
    asset = world.asset(o)["asset"]
    world.upload(o, asset, jpeg())
    assert world.services.repo.claim_job("doomed", 10.0) is not None
    now[0] += 11
    world.worker.maintain()
    assert world.run_jobs() == 1
    assert world.services.repo.get_asset("acme", asset)["status"] == "done"
