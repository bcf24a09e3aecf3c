"""Structured logs with a correlation id, and metrics, the same calls in both shapes.

Logs: one JSON object per line with the ids of the work in hand (``request_id``, ``job``,
``asset``, ``execution``...), set for a block with ``log_context`` and carried by a context
variable, so every line logged inside an API request or a job names it, however deep.

Metrics: ``metrics().count / observe / gauge``. On AWS they are CloudWatch Embedded Metric
Format lines on stdout (Lambda's log stream turns them into metrics: no client, no API call
in the request path, and no extra dependency in the image; Powertools' Metrics would bring
its own lifecycle to two of the four handlers only). In the embedded shape they are
Prometheus metrics served at ``/metrics`` (loopback clients only unless a setting opens it).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fastapi import FastAPI

NAMESPACE = "impactlens"
_context: ContextVar[dict[str, str]] = ContextVar("impactlens_log_context", default={})  # noqa: B039 - never mutated


@contextmanager
def log_context(**ids: Any) -> Iterator[dict[str, str]]:
    """Adds ids to every log line (and EMF record) written inside the block, in this context."""
    merged = {**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None and v != ""}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_ids() -> dict[str, str]:
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on the root logger's handlers (Lambda's runtime installs one; else stderr)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
    logging.getLogger("impactlens").setLevel(level)


class Metrics(Protocol):
    def count(self, name: str, value: float = 1.0, **dims: str) -> None: ...

    def observe(self, name: str, seconds: float, **dims: str) -> None: ...

    def gauge(self, name: str, value: float, **dims: str) -> None: ...


class EmfMetrics:
    """CloudWatch Embedded Metric Format, one JSON line per value (written to ``out``)."""

    def __init__(self, out: Any = None) -> None:
        self.out = out

    def _emit(self, name: str, value: float, unit: str, dims: dict[str, str]) -> None:
        record: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [sorted(dims)],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            **_context.get(),  # searchable properties, not dimensions (no cardinality cost)
            **dims,
            name: value,
        }
        stream = self.out or sys.stdout
        stream.write(json.dumps(record) + "\n")
        stream.flush()

    def count(self, name: str, value: float = 1.0, **dims: str) -> None:
        self._emit(name, value, "Count", dims)

    def observe(self, name: str, seconds: float, **dims: str) -> None:
        self._emit(name, seconds, "Seconds", dims)

    def gauge(self, name: str, value: float, **dims: str) -> None:
        self._emit(name, value, "None", dims)


class PrometheusMetrics:
    """prometheus-client metrics on a registry of their own (created on first use)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _get(self, kind: str, name: str, labels: tuple[str, ...]) -> Any:
        import prometheus_client as prom

        with self._lock:
            metric = self._metrics.get(name)
            if metric is None:
                cls = {"count": prom.Counter, "observe": prom.Histogram, "gauge": prom.Gauge}[kind]
                doc = {"count": "events", "observe": "seconds", "gauge": "current value"}[kind]
                metric = cls(f"{NAMESPACE}_{name}", f"{name} ({doc})", labels, registry=self.registry)
                self._metrics[name] = metric
            return metric

    def _labelled(self, kind: str, name: str, dims: dict[str, str]) -> Any:
        metric = self._get(kind, name, tuple(sorted(dims)))
        return metric.labels(**dims) if dims else metric

    def count(self, name: str, value: float = 1.0, **dims: str) -> None:
        self._labelled("count", name, dims).inc(value)

    def observe(self, name: str, seconds: float, **dims: str) -> None:
        self._labelled("observe", name, dims).observe(seconds)

    def gauge(self, name: str, value: float, **dims: str) -> None:
        self._labelled("gauge", name, dims).set(value)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        out: bytes = generate_latest(self.registry)
        return out


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def metrics() -> Metrics:
    """The process's metrics: EMF on AWS, Prometheus in the embedded shape."""
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            from .settings import get_settings

            _metrics = EmfMetrics() if get_settings().backend == "aws" else PrometheusMetrics()
        return _metrics


def set_metrics(m: Metrics | None) -> None:
    """Replaces the process's metrics (tests; None = choose again from the settings)."""
    global _metrics
    with _metrics_lock:
        _metrics = m


def oldest_queued_age_s(repo: Any, now: float) -> float:
    """Age of the oldest queued job (0 when none): one key-range read of the queue's partition."""
    page = repo.table.query("JOBQ#queued", index="GSI1", limit=1)
    return max(0.0, now - float(page.items[0].get("created_at", now))) if page.items else 0.0


_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _request_id(scope: dict[str, Any]) -> str:
    """API Gateway's request id on Lambda, else the caller's X-Request-Id if sane, else new."""
    event = scope.get("aws.event") or {}
    rid = str((event.get("requestContext") or {}).get("requestId") or "")
    if not rid:
        for key, value in scope.get("headers") or []:
            if key == b"x-request-id":
                rid = value.decode("latin-1")
                break
    return rid if _SAFE_ID.match(rid) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Pure ASGI (no per-request task): names the request in its logs, returns the id in
    ``X-Request-Id``, and counts throttled (429) answers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
                if message["status"] == 429:
                    metrics().count("throttled_requests")
            await send(message)

        with log_context(request_id=rid):
            await self.app(scope, receive, send_with_id)


def install(app: FastAPI) -> None:
    """The request-id middleware, and ``GET /metrics`` (Prometheus, embedded shape only)."""
    from fastapi import Request, Response

    app.add_middleware(RequestContextMiddleware)

    async def prometheus(request: Request) -> Response:
        services = request.app.state.services
        m = metrics()
        client = request.client.host if request.client else ""
        allowed = client in ("127.0.0.1", "::1") or services.settings.metrics_public
        if not isinstance(m, PrometheusMetrics) or not allowed:
            body = {"error": {"code": "not_found", "message": "no such route"}}
            return Response(json.dumps(body), 404, media_type="application/json")
        m.gauge("oldest_queued_job_age_seconds", oldest_queued_age_s(services.repo, services.clock()))
        return Response(m.exposition(), media_type="text/plain; version=0.0.4")

    # Annotations are strings here (postponed); FastAPI resolves them in module globals, where
    # these names are not imported (fastapi stays out of the job runner's imports).
    prometheus.__annotations__ = {"request": Request, "return": Response}
    app.add_api_route("/metrics", prometheus, methods=["GET"], include_in_schema=False)


def record_job(repo: Any, job_id: str, seconds: float) -> str:
    """Counts a finished attempt by its outcome (done, failed, queued = will retry)."""
    job = repo.get_job(job_id) or {}
    outcome = str(job.get("status", "unknown"))
    m = metrics()
    m.count("jobs", 1.0, outcome=outcome)
    m.observe("job_seconds", seconds, outcome=outcome)
    return outcome
