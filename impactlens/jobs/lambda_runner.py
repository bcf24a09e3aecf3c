"""The cloud edge of the job queue: a Lambda that runs queued analysis jobs.

It is triggered by the table's stream (a job item inserted or re-queued) and by a schedule
(EventBridge, every minute), which also picks up retries whose backoff has passed and jobs
whose worker died. Either way it does the same sweep as the embedded worker's loop: requeue
expired leases, then claim and run queued jobs while the invocation has time left. Jobs are
durable in the table, so records are only wake-up calls: a job that fails is retried or
failed by the worker itself, and a job left queued when time runs out is taken by the next
sweep. A batch is reported failed (``batchItemFailures``, from its first record) only when
the sweep itself could not run (the table unreachable, a bad deployment): the mapping then
retries it a bounded number of times and sends it to the on-failure queue, whose depth alarms.

Lambda has no /dev/shm, so Python's process pools cannot start there: videos are analysed in
this process (``workers=0``), on the function's vCPUs through ONNX Runtime's threads. Videos
of at least ``sfn_min_video_seconds`` go to the Step Functions state machine instead (their
chunks analysed by parallel functions): the job is handed over to the execution, named after
the job, which finishes it (pipeline/sfn.py). Starting it twice is harmless: the existing
execution is adopted while it runs, and its outcome recorded once it has ended.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from functools import lru_cache
from typing import Any

from ..db.repository import ConflictError
from ..observability import configure_logging, log_context, metrics, oldest_queued_age_s, record_job
from ..services import Services, build_services
from ..settings import Settings, get_settings
from .analysis import model_version, results_prefix, source_key
from .worker import JobWorker

# Stop claiming new jobs when less than this is left of the invocation's 15 minutes.
RESERVE_MS = 5 * 60 * 1000
log = logging.getLogger("impactlens.jobs")
# The state machine's own TimeoutSeconds (deploy/statemachine/video.asl.json) plus a margin:
# if the execution is lost, the lease runs out and the next sweep records how it ended.
EXECUTION_TIMEOUT_S = 7200
EXECUTION_LEASE_S = EXECUTION_TIMEOUT_S + 600


@lru_cache(maxsize=1)
def _worker() -> JobWorker:
    settings = get_settings().model_copy(update={"workers": 0})
    return JobWorker(build_services(settings), worker_id=f"lambda-{uuid.uuid4().hex[:12]}")


@lru_cache(maxsize=1)
def _sfn_client() -> Any:
    import boto3

    s = get_settings()
    return boto3.client("stepfunctions", **({"endpoint_url": s.aws_endpoint_url} if s.aws_endpoint_url else {}))


def goes_to_state_machine(settings: Settings, asset: dict[str, Any] | None) -> bool:
    if not settings.state_machine_arn or asset is None or asset.get("kind") != "video":
        return False
    duration = float((asset.get("media") or {}).get("duration_s", 0.0))
    return duration >= settings.sfn_min_video_seconds


def execution_input(services: Services, job: dict[str, Any], asset: dict[str, Any]) -> dict[str, Any]:
    from ..engine.types import AOI
    from ..pipeline.video import video_payload

    s = services.settings
    aois = [AOI.model_validate(a) for a in asset.get("aois", [])]
    # Each upload has a key of its own (api/uploads.py); older assets the fixed one.
    source = {"blob": str(asset.get("source") or source_key(job["org"], job["asset"]))}
    payload = video_payload(job["job"], source, asset.get("name", ""), aois, s)
    payload["output_prefix"] = results_prefix(job["org"], job["asset"], model_version(s))
    payload["options"]["chunk_seconds"] = s.sfn_chunk_seconds  # the timeline does not depend on it
    if asset.get("max_video_s"):  # the plan's limit: probe and prepare stop decoding there
        payload["options"]["max_seconds"] = float(asset["max_video_s"])
    return {**payload, "org": job["org"], "asset": job["asset"], "holder": f"sfn:{job['job']}"}


def start_video_execution(worker: JobWorker, job: dict[str, Any], asset: dict[str, Any], sfn: Any) -> str:
    """Starts (or adopts) the execution named after the job and hands the job over to it."""
    services, arn = worker.services, str(worker.settings.state_machine_arn)
    payload = execution_input(services, job, asset)
    execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{job['job']}"
    try:
        execution_arn = sfn.start_execution(stateMachineArn=arn, name=job["job"], input=json.dumps(payload))[
            "executionArn"
        ]
        status = "RUNNING"
    except sfn.exceptions.ExecutionAlreadyExists:
        status = sfn.describe_execution(executionArn=execution_arn)["status"]
    holder = JobWorker(services, worker_id=payload["holder"])
    try:
        services.repo.hand_over_job(job["job"], worker.id, holder.id, EXECUTION_LEASE_S, execution=execution_arn)
    except ConflictError:
        log.warning("job %s was taken over before its hand-over to %s", job["job"], execution_arn)
        return status
    if status == "RUNNING":
        services.repo.update_asset(job["org"], job["asset"], {"status": "processing", "job": job["job"]})
    elif status == "SUCCEEDED":
        holder._finish(job, "done")  # noqa: SLF001 - the merge step recorded the results
    else:  # FAILED, TIMED_OUT, ABORTED: a failure the execution could not record itself
        message = f"the video's state machine execution ended {status}"
        holder._fail(job, "execution_" + status.lower(), message)  # noqa: SLF001
    log.info("job %s: execution %s %s", job["job"], execution_arn, status)
    return status


def run_one(worker: JobWorker, sfn: Any = None) -> bool:
    """Claims one job: long videos go to the state machine, the rest run here."""
    job = worker.services.repo.claim_job(worker.id, worker.settings.job_lease_s)
    if job is None:
        return False
    with log_context(job=job["job"], asset=job["asset"], org=job["org"]):
        log.info("job claimed (attempt %s)", job.get("attempts"))
        asset = worker.services.repo.get_asset(job["org"], job["asset"])
        if goes_to_state_machine(worker.settings, asset):
            assert asset is not None
            status = start_video_execution(worker, job, asset, sfn or _sfn_client())
            metrics().count("executions_started" if status == "RUNNING" else "executions_adopted")
        else:
            start = time.perf_counter()
            worker.process(job)
            log.info("job %s", record_job(worker.services.repo, job["job"], time.perf_counter() - start))
    return True


def sweep(worker: JobWorker, context: Any = None, max_jobs: int = 100) -> int:
    """Requeue dead workers' jobs, then run queued ones; returns how many ran."""
    worker.requeue_expired()  # fails jobs whose worker was killed job_max_attempts times
    repo = worker.services.repo
    metrics().gauge("oldest_queued_job_age_seconds", oldest_queued_age_s(repo, worker.services.clock()))
    ran = 0
    while ran < max_jobs:
        remaining = context.get_remaining_time_in_millis() if context is not None else None
        if remaining is not None and remaining < RESERVE_MS:
            break
        if not run_one(worker):
            break
        ran += 1
    # Webhooks are queued by the jobs and sent here, after them (a Lambda has no idle threads);
    # each delivery is bounded by webhook_timeout_s, and the rest wait for the next sweep.
    worker.webhooks.drain(limit=max(1, int(RESERVE_MS / 1000 / (2 * worker.settings.webhook_timeout_s))))
    return ran


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    configure_logging()
    with log_context(aws_request_id=getattr(context, "aws_request_id", None)):
        return _handle(event, context)


def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = event.get("Records")
    if not isinstance(records, list):
        return {"jobs_run": sweep(_worker(), context)}  # the schedule: a failure raises, and is retried
    try:
        ran = sweep(_worker(), context)
    except Exception:  # noqa: BLE001 - reported to the mapping, which retries then dead-letters
        log.exception("job sweep failed; the stream batch is reported for redelivery")
        first = records[0].get("dynamodb", {}).get("SequenceNumber") if records else None
        return {"jobs_run": 0, "batchItemFailures": [{"itemIdentifier": first}] if first else []}
    return {"jobs_run": ran, "batchItemFailures": []}
