"""The job runner Lambda on the AWS backends (moto): a stream event or the schedule runs
queued jobs with the same worker code as the embedded server."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from impactlens.accounts import Principal
from impactlens.api.uploads import ValidationSlots, accept
from impactlens.jobs import lambda_runner
from impactlens.services import Services, aws_services
from impactlens.settings import get_settings
from tests.aws import use_aws_backend
from tests.media_cases import jpeg
from tests.video_cases import write_video

EVENTS = Path(__file__).parent / "events"
_tables = itertools.count()


SLOTS = ValidationSlots(1)


class Context:
    function_name = "impactlens-jobs"

    def __init__(self, remaining_ms: int = 900_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def services(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Services:
    # A table and bucket per test: a job left queued by one test is never run by another.
    use_aws_backend(monkeypatch, aws_endpoint, f"impactlens-jobs-{next(_tables)}")
    lambda_runner._worker.cache_clear()
    s = aws_services(get_settings())
    org = f"jobs{len(s.accounts.list_orgs())}"
    s.accounts.create_org(org, "Jobs", "pro")
    s.repo.create_brand(org, "b", "B")
    s.repo.create_campaign(org, "b", "c", "C")
    yield s
    lambda_runner._worker.cache_clear()
    get_settings.cache_clear()


def _queue(services: Services, data: bytes, tmp_path: Path, suffix: str) -> dict[str, Any]:
    org = services.accounts.list_orgs()[-1]["org"]
    asset = services.repo.create_asset(org, "b", "c", "unknown", name="x", status="awaiting_upload", aois=[])
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(data)
    accept(services, Principal(org=org, role="Admin", kind="key", plan="pro"), asset, str(path), len(data), SLOTS)
    return asset


def test_stream_event_runs_the_queued_image_job(services: Services, tmp_path: Path) -> None:
    asset = _queue(services, jpeg(), tmp_path, ".jpg")
    event = json.loads((EVENTS / "dynamodb_stream_job_queued.json").read_text())
    out = lambda_runner.handler(event, Context())
    assert out == {"jobs_run": 1, "batchItemFailures": []}
    done = services.repo.get_asset(asset["org"], asset["asset"])
    assert done["status"] == "done" and 0 <= done["scores"]["memorability"] <= 1
    keys = [b.key for b in services.blobs.list(f"orgs/{asset['org']}/assets/{asset['asset']}/")]
    assert any(k.endswith("heatmap.png") for k in keys)


def test_schedule_runs_a_video_job_in_process(services: Services, tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", seconds=2.0, size=(320, 240)).read_bytes()
    asset = _queue(services, video, tmp_path, ".mp4")
    event = json.loads((EVENTS / "eventbridge_schedule.json").read_text())
    assert lambda_runner.handler(event, Context()) == {"jobs_run": 1}
    done = services.repo.get_asset(asset["org"], asset["asset"])
    assert done["status"] == "done" and "memorability_first_3s" in done["scores"]
    assert list(services.blobs.list("work/")) == []


def test_no_new_job_is_claimed_when_the_invocation_is_nearly_over(services: Services, tmp_path: Path) -> None:
    asset = _queue(services, jpeg(), tmp_path, ".jpg")
    event = json.loads((EVENTS / "eventbridge_schedule.json").read_text())
    assert lambda_runner.handler(event, Context(remaining_ms=60_000)) == {"jobs_run": 0}
    assert services.repo.get_asset(asset["org"], asset["asset"])["status"] == "queued"


def test_a_stream_batch_is_reported_failed_when_the_sweep_cannot_run(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_aws_backend(monkeypatch, aws_endpoint, f"impactlens-jobs-{next(_tables)}")
    monkeypatch.setenv("IMPACTLENS_TABLE_NAME", "no-such-table")  # e.g. a deployment pointing at a wrong table
    get_settings.cache_clear()
    lambda_runner._worker.cache_clear()
    event = json.loads((EVENTS / "dynamodb_stream_job_queued.json").read_text())
    try:
        out = lambda_runner.handler(event, Context())
    finally:
        lambda_runner._worker.cache_clear()
        get_settings.cache_clear()
    assert out == {"jobs_run": 0, "batchItemFailures": [{"itemIdentifier": "111300000000011204518512"}]}
