"""Structured logs with correlation ids, EMF records, and the Prometheus endpoint."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.testclient import TestClient

from impactlens.accounts import Principal
from impactlens.api.app import create_app
from impactlens.api.uploads import ValidationSlots, accept
from impactlens.jobs.worker import JobWorker
from impactlens.observability import (
    EmfMetrics,
    JsonFormatter,
    PrometheusMetrics,
    RequestContextMiddleware,
    log_context,
    set_metrics,
)
from impactlens.services import Services, embedded_services
from impactlens.settings import Settings
from tests.media_cases import jpeg

SLOTS = ValidationSlots(1)


class Lines(logging.Handler):
    """Collects what the JSON formatter writes, one parsed line per record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler, logger = Lines(), logging.getLogger("impactlens")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def prom() -> Iterator[PrometheusMetrics]:
    m = PrometheusMetrics()
    set_metrics(m)
    yield m
    set_metrics(None)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = embedded_services(Settings(data_dir=tmp_path / "data", workers=0))
    s.accounts.create_org("o", "O", "pro")
    s.repo.create_brand("o", "b", "B")
    s.repo.create_campaign("o", "b", "c", "C")
    yield s
    s.close()


def _queue_image(services: Services, tmp_path: Path, data: bytes) -> dict[str, Any]:
    asset = services.repo.create_asset("o", "b", "c", "unknown", name="x", status="awaiting_upload", aois=[])
    path = tmp_path / "upload.jpg"
    path.write_bytes(data)
    accept(services, Principal(org="o", role="Admin", kind="key", plan="pro"), asset, str(path), len(data), SLOTS)
    return asset


def test_every_log_line_of_one_analysis_names_its_job(
    services: Services, tmp_path: Path, lines: Lines, prom: PrometheusMetrics
) -> None:
    asset = _queue_image(services, tmp_path, jpeg())
    worker = JobWorker(services)
    lines.lines.clear()
    assert worker.run_once()
    job = services.repo.get_asset("o", asset["asset"])["job"]
    assert len(lines.lines) >= 2, lines.lines
    strays = [line for line in lines.lines if line.get("job") != job or line.get("asset") != asset["asset"]]
    assert strays == []
    assert any("job done" in line["message"] for line in lines.lines)
    assert 'impactlens_jobs_total{outcome="done"} 1.0' in prom.exposition().decode()


def test_a_failed_analysis_logs_its_job_on_every_line_too(
    services: Services, tmp_path: Path, lines: Lines, prom: PrometheusMetrics
) -> None:
    asset = _queue_image(services, tmp_path, jpeg())
    for blob in list(services.blobs.list(f"orgs/o/assets/{asset['asset']}/")):
        services.blobs.put(blob.key, b"\xff\xd8\xff truncated", "image/jpeg")  # corrupted after upload
    lines.lines.clear()
    JobWorker(services).run_once()
    jobs = {line.get("job") for line in lines.lines}
    assert len(lines.lines) >= 2 and len(jobs) == 1 and None not in jobs
    assert services.repo.get_asset("o", asset["asset"])["status"] == "failed"
    assert 'impactlens_jobs_total{outcome="failed"} 1.0' in prom.exposition().decode()


def test_api_requests_carry_a_request_id_into_logs_and_the_response(lines: Lines, prom: PrometheusMetrics) -> None:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)
    log = logging.getLogger("impactlens.test")

    @app.get("/work")
    def work() -> dict[str, str]:  # sync: runs in the thread pool, the context goes with it
        log.info("working")
        return {"ok": "yes"}

    @app.get("/busy")
    def busy() -> JSONResponse:
        return JSONResponse({"error": {"code": "rate_limited", "message": "slow down"}}, 429)

    client = TestClient(app)
    r = client.get("/work", headers={"X-Request-Id": "req-123"})
    assert r.headers["x-request-id"] == "req-123"
    assert [line["request_id"] for line in lines.lines if line["message"] == "working"] == ["req-123"]
    fresh = client.get("/work", headers={"X-Request-Id": "bad id\nforged line"}).headers["x-request-id"]
    assert len(fresh) == 32 and "\n" not in fresh  # a caller cannot inject into the logs
    client.get("/busy")
    client.get("/busy")
    assert "impactlens_throttled_requests_total 2.0" in prom.exposition().decode()


def test_metrics_endpoint_answers_loopback_only_unless_opened(services: Services, prom: PrometheusMetrics) -> None:
    app = create_app(services)
    local = TestClient(app, client=("127.0.0.1", 50000)).get("/metrics")
    assert local.status_code == 200 and "impactlens_oldest_queued_job_age_seconds" in local.text
    remote = TestClient(app, client=("203.0.113.7", 50000)).get("/metrics")
    assert remote.status_code == 404 and remote.json()["error"]["code"] == "not_found"
    services.settings = services.settings.model_copy(update={"metrics_public": True})
    app2 = create_app(services)
    assert TestClient(app2, client=("203.0.113.7", 50000)).get("/metrics").status_code == 200


def test_emf_records_are_cloudwatch_metrics_with_the_ids_as_properties() -> None:
    out = io.StringIO()
    with log_context(job="j1", execution="arn:x"):
        EmfMetrics(out).observe("step_seconds", 1.5, step="analyse_chunk")
    record = json.loads(out.getvalue())
    spec = record["_aws"]["CloudWatchMetrics"][0]
    assert spec["Namespace"] == "impactlens" and spec["Dimensions"] == [["step"]]
    assert spec["Metrics"] == [{"Name": "step_seconds", "Unit": "Seconds"}]
    assert record["step_seconds"] == 1.5 and record["step"] == "analyse_chunk"
    assert record["job"] == "j1" and record["execution"] == "arn:x"
