"""The analysis job queue (claim, lease, finish, hand over, requeue) and the monthly usage
that accepted uploads count against.

Built on AssetsRepository: a job that fails for good fails its asset too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConflictError, NotFoundError, QuotaExceededError
from .ids import new_ulid
from .repo_assets import AssetsRepository
from .repo_base import public
from .table import NOT_EXISTS, Condition, ConditionFailedError, Item, Put, Update


class JobsRepository(AssetsRepository):
    # A job's GSI1 partition is its state (JOBQ#queued, JOBQ#running...), sorted by ULID, so
    # "oldest queued job" and "running jobs" are key ranges; state changes are conditional
    # updates, so two workers can never claim the same job.
    def create_job(self, org: str, asset: str, kind: str, payload: dict[str, Any] | None = None) -> Item:
        item = self._job_item(org, asset, kind, payload)
        self.table.put(item, NOT_EXISTS)
        return public(item) or {}

    def _job_item(self, org: str, asset: str, kind: str, payload: dict[str, Any] | None = None) -> Item:
        job = new_ulid()
        return {
            "PK": f"JOB#{job}",
            "SK": "JOB",
            "GSI1PK": "JOBQ#queued",
            "GSI1SK": job,
            "job": job,
            "org": org,
            "asset": asset,
            "kind": kind,
            "status": "queued",
            "attempts": 0,
            "payload": payload or {},
            "created_at": self.clock(),
        }

    def get_job(self, job: str) -> Item | None:
        return public(self.table.get(f"JOB#{job}", "JOB"))

    def claim_job(self, worker: str, lease_s: float = 300.0) -> Item | None:
        """Move the oldest queued job to running for ``worker``; None if the queue is empty."""
        now = self.clock()
        for candidate in self.table.query("JOBQ#queued", index="GSI1", limit=25).items:
            if float(candidate.get("not_before", 0)) > now:
                continue  # waiting out a retry backoff
            try:
                new = self.table.update(
                    candidate["PK"],
                    "JOB",
                    set={
                        "status": "running",
                        "GSI1PK": "JOBQ#running",
                        "worker": worker,
                        "lease_until": self.clock() + lease_s,
                    },
                    add={"attempts": 1},
                    condition=Condition(exists=True, equals={"status": "queued"}),
                )
            except ConditionFailedError:
                continue  # another worker took it
            return public(new)
        return None

    def finish_job(self, job: str, worker: str, status: str, **attrs: Any) -> Item:
        """Mark a job this worker holds as done, failed (with ``error``) or queued again (retry)."""
        if status not in ("done", "failed", "queued"):
            raise ValueError(f"bad job status {status!r}")
        try:
            new = self.table.update(
                f"JOB#{job}",
                "JOB",
                set={"status": status, "GSI1PK": f"JOBQ#{status}", **attrs},
                remove=["worker", "lease_until"],
                condition=Condition(exists=True, equals={"status": "running", "worker": worker}),
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"job {job} is not held by {worker}") from exc
        return public(new) or {}

    def renew_lease(self, job: str, worker: str, lease_s: float, **attrs: Any) -> Item:
        """Extends the lease (and records progress); ConflictError if the job was taken away."""
        try:
            new = self.table.update(
                f"JOB#{job}",
                "JOB",
                set={"lease_until": self.clock() + lease_s, **attrs},
                condition=Condition(exists=True, equals={"status": "running", "worker": worker}),
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"job {job} is not held by {worker}") from exc
        return public(new) or {}

    def hand_over_job(self, job: str, worker: str, to: str, lease_s: float, **attrs: Any) -> Item:
        """Gives a running job this worker holds to another holder (a state machine execution)
        with a lease as long as that holder may take; ConflictError if the job was taken away."""
        try:
            new = self.table.update(
                f"JOB#{job}",
                "JOB",
                set={"worker": to, "lease_until": self.clock() + lease_s, **attrs},
                condition=Condition(exists=True, equals={"status": "running", "worker": worker}),
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"job {job} is not held by {worker}") from exc
        return public(new) or {}

    def requeue_expired(self, max_attempts: int | None = None, on_failed: Callable[[Item], None] | None = None) -> int:
        """Jobs whose worker died (lease over) go back to the queue; returns how many.

        A job that already had ``max_attempts`` (its worker killed each time: a timeout, the
        OOM killer) fails instead, with its asset, rather than rerunning forever;
        ``on_failed`` gets each such job.
        """
        count = 0
        for job in self.table.query("JOBQ#running", index="GSI1", limit=100).items:
            if job.get("lease_until", 0) >= self.clock():
                continue
            held = Condition(equals={"status": "running", "worker": job["worker"]})
            attempts = int(job.get("attempts", 0))
            try:
                if max_attempts is not None and attempts >= max_attempts:
                    error = {
                        "code": "worker_lost",
                        "message": f"failed after {attempts} attempts: the worker stopped (killed, out of memory "
                        "or out of time) before finishing",
                    }
                    self.table.update(
                        job["PK"],
                        "JOB",
                        set={"status": "failed", "GSI1PK": "JOBQ#failed", "error": error},
                        remove=["worker", "lease_until"],
                        condition=held,
                    )
                    try:
                        failed = {"status": "failed", "error": error, "job": job["job"]}
                        self.update_asset(job["org"], job["asset"], failed)
                    except NotFoundError:
                        pass  # deleted meanwhile
                    if on_failed is not None:
                        on_failed({**(public(job) or {}), "error": error})
                else:
                    self.table.update(
                        job["PK"],
                        "JOB",
                        set={"status": "queued", "GSI1PK": "JOBQ#queued"},
                        remove=["worker", "lease_until"],
                        condition=held,
                    )
                    count += 1
            except ConditionFailedError:
                pass
        return count

    # Usage -----------------------------------------------------------------------------------
    def accept_upload(
        self, org: str, asset: str, expected_status: str, attrs: dict[str, Any], month: str, limit: int | None
    ) -> Item:
        """One transaction: the asset takes ``attrs`` (its new source among them) if it is still
        ``expected_status``, its analysis job is queued, and the month's usage goes up by one
        if it is below ``limit``. ConflictError when the asset changed meanwhile,
        QuotaExceededError when the quota is used up; either way nothing is written."""
        job = self._job_item(org, asset, "analyse")
        usage_key = (f"ORG#{org}", f"USAGE#{month}")
        try:
            self.table.transact(
                [
                    Update(
                        f"ASSET#{asset}",
                        "METADATA",
                        set=attrs,
                        remove=["error", "scores", "result_version"],
                        condition=Condition(exists=True, equals={"org": org, "status": expected_status}),
                    ),
                    Put(job, NOT_EXISTS),
                    Update(
                        *usage_key,
                        add={"analyses": 1},
                        condition=Condition(less_than={"analyses": limit}) if limit is not None else None,
                    ),
                ]
            )
        except ConditionFailedError as exc:
            used = int((self.table.get(*usage_key) or {}).get("analyses", 0))
            if limit is not None and used >= limit:
                raise QuotaExceededError(f"the {limit} analyses of {month} are used") from exc
            raise ConflictError(f"asset {asset} is no longer {expected_status}") from exc
        return public(job) or {}

    def add_usage(self, org: str, month: str, analyses: int = 1) -> int:
        item = self.table.update(f"ORG#{org}", f"USAGE#{month}", add={"analyses": analyses})
        return int(item["analyses"])
