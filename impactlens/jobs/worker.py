"""The local job executor: claims jobs from the table and runs them, durably.

A claimed job holds a lease that a heartbeat renews (recording progress per step) while it
runs. A worker that dies stops renewing; ``requeue_expired`` (run by every worker, and at
start-up) puts its job back in the queue, so nothing stays "processing" forever. Media
errors fail the asset at once with the reason; other errors are retried with exponential
backoff and fail the asset after the last attempt; so does a job whose worker was killed on
each of its attempts. Webhooks are queued, never sent here (webhooks.py), so a slow receiver
cannot hold up analyses. In the embedded shape the same loop drains the outbox into the
aggregates.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from ..db.aggregates import AggregateConsumer, drain
from ..db.repository import ConflictError
from ..engine.image import ImageEngine
from ..errors import ImpactLensError, MediaError, scrub
from ..observability import log_context, record_job
from ..pipeline.local import VideoRunner
from ..services import Services
from . import scratch
from .analysis import run_analysis
from .expiry import ExpirySweeper
from .webhooks import WebhookDispatcher, enqueue

log = logging.getLogger("impactlens.jobs")


class JobWorker:
    def __init__(self, services: Services, worker_id: str | None = None, poll_s: float = 0.5) -> None:
        self.services = services
        self.settings = services.settings
        self.id = worker_id or f"w-{uuid.uuid4().hex[:12]}"
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._engine: ImageEngine | None = None
        self._runner: VideoRunner | None = None
        self._lock = threading.Lock()
        self._consumer = AggregateConsumer(services.table, services.clock)
        self.webhooks = WebhookDispatcher(services, self.id)
        self.expiry = ExpirySweeper(services, self.settings.expiry_sweep_interval_s)

    # Resources, created on first use --------------------------------------------------------
    def engine(self) -> ImageEngine:
        with self._lock:
            if self._engine is None:
                self._engine = ImageEngine.from_settings(self.settings)
            return self._engine

    def runner(self) -> VideoRunner:
        with self._lock:
            if self._runner is None:
                self._runner = VideoRunner(self.settings, self.services.blobs, scratch=scratch.root(self.settings))
            return self._runner

    # Loop -------------------------------------------------------------------------------------
    def start(self, threads: int = 1) -> None:
        scratch.sweep(self.services)
        self.requeue_expired()
        self.webhooks.start()
        self.expiry.start()  # its own thread: runs with job_workers=0 too
        for n in range(threads):
            t = threading.Thread(target=self._loop, name=f"impactlens-job-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.webhooks.stop(timeout)
        self.expiry.stop(timeout)
        for t in self._threads:
            t.join(timeout)
        if self._runner is not None:
            self._runner.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.maintain()
                if not self.run_once():
                    self._stop.wait(self.poll_s)
            except Exception:  # noqa: BLE001 - the loop must survive a bad moment of the database
                log.exception("job loop error")
                self._stop.wait(self.poll_s)

    def maintain(self) -> None:
        """Requeue jobs of dead workers; in the embedded shape, fold the outbox into aggregates."""
        self.requeue_expired()
        trim = getattr(self.services.table, "trim_stream", None)
        if trim is not None:
            drain(self.services.table, self._consumer)
            checkpoint = self.services.table.get("STREAM#aggregates", "CHECKPOINT")
            if checkpoint:
                trim(checkpoint["position"])

    def requeue_expired(self) -> int:
        """Dead workers' jobs go back to the queue, or fail once they had every attempt."""

        def failed(job: dict[str, Any]) -> None:
            scratch.drop_work_blobs(self.services, job=job["job"])
            error = dict(job["error"])
            error["message"] = scrub(str(error.get("message", "")))
            self._webhook(job, "analysis.failed", {"error": error})

        return self.services.repo.requeue_expired(self.settings.job_max_attempts, failed)

    def run_once(self) -> bool:
        job = self.services.repo.claim_job(self.id, self.settings.job_lease_s)
        if job is None:
            return False
        with log_context(job=job["job"], asset=job["asset"], org=job["org"]):
            log.info("job claimed (attempt %s)", job.get("attempts"))
            start = time.perf_counter()
            self.process(job)
            outcome = record_job(self.services.repo, job["job"], time.perf_counter() - start)
            log.info("job %s", outcome)
        return True

    # One job ------------------------------------------------------------------------------------
    def process(self, job: dict[str, Any]) -> None:
        repo = self.services.repo
        progress: dict[str, list[int]] = {}
        done = threading.Event()

        def report(step: str, n: int, total: int) -> None:
            progress[step] = [n, total]

        def heartbeat() -> None:
            while not done.wait(min(1.0, self.settings.job_lease_s / 3)):
                try:
                    repo.renew_lease(job["job"], self.id, self.settings.job_lease_s, progress=dict(progress))
                except ConflictError:
                    return
                except Exception:  # noqa: BLE001 - the next beat retries
                    log.warning("lease renewal failed for job %s", job["job"])

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            self._mark_asset(job, {"status": "processing", "job": job["job"]})
            outcome = run_analysis(self.services, job, self.engine(), self.runner(), report)
            done.set()
            if outcome is not None:
                # Queued before the job is marked done: a crash in between reruns the job,
                # and the event is queued once per job.
                self._webhook(job, "analysis.completed", {"scores": outcome["scores"]})
            repo.finish_job(job["job"], self.id, "done", progress=dict(progress))
        except MediaError as exc:
            done.set()
            self._fail(job, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, then reported
            done.set()
            code = exc.code if isinstance(exc, ImpactLensError) else "analysis_error"
            attempts = int(job.get("attempts", 1))
            if attempts < self.settings.job_max_attempts:
                delay = self.settings.job_retry_base_s * 2 ** (attempts - 1)
                log.warning("job %s attempt %d failed (%s); retry in %.1f s", job["job"], attempts, exc, delay)
                self._mark_asset(job, {"status": "queued", "last_error": f"{code}: {exc}"})
                self._finish(job, "queued", not_before=self.services.clock() + delay, last_error=str(exc))
            else:
                self._fail(job, code, f"failed after {attempts} attempts: {exc}")
        finally:
            done.set()
            beat.join(5)

    def _finish(self, job: dict[str, Any], status: str, **attrs: Any) -> None:
        try:
            self.services.repo.finish_job(job["job"], self.id, status, **attrs)
        except ConflictError:
            log.warning("job %s was taken over by another worker", job["job"])

    def _mark_asset(self, job: dict[str, Any], attrs: dict[str, Any]) -> None:
        try:
            self.services.repo.update_asset(job["org"], job["asset"], attrs)
        except LookupError:
            pass  # deleted meanwhile

    def _fail(self, job: dict[str, Any], code: str, message: str) -> None:
        self._mark_asset(job, {"status": "failed", "error": {"code": code, "message": message}})
        self._finish(job, "failed", error={"code": code, "message": message})
        # The receiver is outside: the same scrubbed message the API shows, not server paths.
        self._webhook(job, "analysis.failed", {"error": {"code": code, "message": scrub(message)}})

    def _webhook(self, job: dict[str, Any], event: str, data: dict[str, Any]) -> None:
        """Queues the event for delivery; a failure here never changes the job's outcome."""
        try:
            enqueue(self.services, job["org"], job["job"], event, {"asset": job["asset"], **data})
        except Exception:  # noqa: BLE001 - the analysis result stands whatever the webhook does
            log.exception("could not queue webhook %s for job %s", event, job["job"])
