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
this process (``workers=0``), on the function's vCPUs through ONNX Runtime's threads.
"""

from __future__ import annotations

import logging
import uuid
from functools import lru_cache
from typing import Any

from ..services import build_services
from ..settings import get_settings
from .worker import JobWorker

# Stop claiming new jobs when less than this is left of the invocation's 15 minutes.
RESERVE_MS = 5 * 60 * 1000
log = logging.getLogger("impactlens.jobs")


@lru_cache(maxsize=1)
def _worker() -> JobWorker:
    settings = get_settings().model_copy(update={"workers": 0})
    return JobWorker(build_services(settings), worker_id=f"lambda-{uuid.uuid4().hex[:12]}")


def sweep(worker: JobWorker, context: Any = None, max_jobs: int = 100) -> int:
    """Requeue dead workers' jobs, then run queued ones; returns how many ran."""
    worker.services.repo.requeue_expired()
    ran = 0
    while ran < max_jobs:
        remaining = context.get_remaining_time_in_millis() if context is not None else None
        if remaining is not None and remaining < RESERVE_MS:
            break
        if not worker.run_once():
            break
        ran += 1
    return ran


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
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
