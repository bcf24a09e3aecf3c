"""The video steps as Lambda handlers under Step Functions (deploy/statemachine/video.asl.json).

Each state invokes ``handler`` with ``{"step": name, "payload": state input}``; the handler runs
the same plain function as the local executor (pipeline/steps.py) on the AWS blob store and
returns its JSON output. The execution input is built by the job runner
(jobs/lambda_runner.py): the payload of ``video_payload`` plus ``org``, ``asset`` and
``holder`` (the job's holder: the execution, which finishes the job at Merge or FailAsset).

Errors: an ``ImpactLensError`` leaves the function as ``StepError`` with the message
``"<code>: <message>"`` (Lambda names the error after the exception's class), so FailAsset can
record the code; the state machine retries only Lambda's own service errors and timeouts.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from ..errors import ImpactLensError
from ..observability import configure_logging, log_context, metrics
from ..services import Services, build_services
from ..settings import get_settings
from ..storage.base import BlobStore
from .steps import (
    Payload,
    Progress,
    StepContext,
    analyse_chunk_step,
    chunk_key,
    cleanup_step,
    merge_step,
    no_progress,
    prepare_step,
    probe_step,
)

if TYPE_CHECKING:
    from ..engine.image import ImageEngine

log = logging.getLogger("impactlens.sfn")


class StepError(Exception):
    """What a step's own failure looks like to the state machine (errorType "StepError")."""


@lru_cache(maxsize=1)
def _services() -> Services:
    return build_services(get_settings().model_copy(update={"workers": 0}))


@lru_cache(maxsize=1)
def _engine() -> ImageEngine:
    from ..engine.image import ImageEngine  # only the chunk function loads the models

    return ImageEngine.from_settings(_services().settings)


def _context(services: Services) -> StepContext:
    return StepContext(services.blobs, services.settings, _engine)


def probe(payload: Payload, services: Services) -> Payload:
    return probe_step(payload, _context(services))


def prepare(payload: Payload, services: Services) -> Payload:
    return prepare_step(payload, _context(services))


def analyse_chunk(payload: Payload, services: Services) -> dict[str, Any]:
    """One Map item: returns only the chunk descriptor (the Map collects them as ``chunks``)."""
    chunk: dict[str, Any] = analyse_chunk_step(payload, _context(services))["chunk"]
    return chunk


def merge(payload: Payload, services: Services) -> Payload:
    """Merges the chunks and records the result exactly as the job runner does for a short
    video (jobs/analysis.run_analysis), then finishes the job. The analysis itself stays in
    the blob store and the table, out of the execution's 256 KB state."""
    from ..jobs.analysis import run_analysis
    from ..jobs.worker import JobWorker
    from .local import VideoRunner

    class MergedRunner(VideoRunner):
        """The runner run_analysis calls: here the chunks are already analysed, so running
        is merging them (the payload run_analysis builds names the same prefixes)."""

        def run(self, built: Payload, progress: Progress = no_progress, blobs: BlobStore | None = None) -> Payload:
            assert built["output_prefix"] == payload["output_prefix"], built["output_prefix"]
            return merge_step(payload, _context(services))

    job = _job(payload, services)
    # run_analysis needs an engine only for images; this is a video, so the models stay unloaded.
    outcome = run_analysis(services, job, cast("ImageEngine", None), MergedRunner(services.settings, services.blobs))
    worker = JobWorker(services, worker_id=payload["holder"])
    worker._finish(job, "done")  # noqa: SLF001 - the worker's own completion path
    metrics().count("jobs", 1.0, outcome="done")
    if outcome is not None:
        worker._webhook(job, "analysis.completed", {"scores": outcome["scores"]})  # noqa: SLF001
    return {**payload, "scores": outcome["scores"] if outcome else None}


def cleanup(payload: Payload, services: Services) -> Payload:
    cleanup_step(payload, _context(services))
    return {k: v for k, v in payload.items() if k != "error"}


def _failure_message(payload: Payload, services: Services) -> tuple[str, str]:
    """(code, message) naming the failed step and, for the analysis, the chunk's time range."""
    step = str(payload.get("failed_step", "unknown"))
    error = payload.get("error") or {}
    name, cause = str(error.get("Error", "States.TaskFailed")), str(error.get("Cause", ""))
    try:
        detail = str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        detail = cause
    code = "step_failed"
    if name == "StepError" and ": " in detail:
        code, detail = detail.split(": ", 1)
    elif name in ("States.Timeout", "Sandbox.Timedout"):
        code, detail = "step_timeout", f"{name}: {detail}".strip(": ")
    else:
        detail = f"{name}: {detail}".strip(": ")
    if step == "analyse" and not detail.startswith("chunk "):
        # A timeout or a crashed function does not say which chunk: the first one without a
        # result is the one that was still running.
        chunks = payload.get("chunks", [])
        pending = [c for c in chunks if not services.blobs.exists(chunk_key(payload, c["index"], "results"))]
        if pending:
            c = pending[0]
            detail = f"chunk {c['index']} ({c['start_s']:.1f}-{c['end_s']:.1f} s): {detail}"
    return code, f"{step}: {detail}"


def fail_asset(payload: Payload, services: Services) -> Payload:
    """Marks the asset and the job failed (with the step and chunk), removes partial outputs."""
    from ..jobs.worker import JobWorker
    code, message = _failure_message(payload, services)
    cleanup_step(payload, _context(services))
    for blob in list(services.blobs.list(payload["output_prefix"] + "/")):
        services.blobs.delete(blob.key)
    job = _job(payload, services)
    JobWorker(services, worker_id=payload["holder"])._fail(job, code, message)  # noqa: SLF001
    metrics().count("jobs", 1.0, outcome="failed")
    log.warning("video job %s failed: %s", payload["job"], message)
    return {"job": payload["job"], "error": {"code": code, "message": message}}


def _job(payload: Payload, services: Services) -> dict[str, Any]:
    known = {"job": payload["job"], "org": payload["org"], "asset": payload["asset"]}
    return services.repo.get_job(payload["job"]) or known


STEPS = {
    "probe": probe,
    "prepare": prepare,
    "analyse_chunk": analyse_chunk,
    "merge": merge,
    "cleanup": cleanup,
    "fail_asset": fail_asset,
}


def handler(event: dict[str, Any], context: Any) -> Any:
    """Lambda entry point of VideoStepsFunction and ChunkFunction (deploy/template.yaml)."""
    step = STEPS.get(str(event.get("step")))
    payload = event.get("payload")
    if step is None or not isinstance(payload, dict):
        raise ValueError(f"not a video step event: step {event.get('step')!r}")
    configure_logging()
    chunk = (payload.get("chunk") or {}).get("index")
    ids = {"job": payload.get("job"), "asset": payload.get("asset"), "execution": event.get("execution")}
    with log_context(**ids, step=event["step"], chunk=chunk, aws_request_id=getattr(context, "aws_request_id", None)):
        start = time.perf_counter()
        try:
            out = step(payload, _services())
        except ImpactLensError as exc:
            log.warning("step %s failed: %s", event["step"], exc.message)
            raise StepError(f"{exc.code}: {exc.message}") from exc
        seconds = time.perf_counter() - start
        metrics().observe("step_seconds", seconds, step=str(event["step"]))
        log.info("step %s done in %.2f s", event["step"], seconds)
        return out
