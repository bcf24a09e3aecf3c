"""Scratch space for analyses: one folder per job under ``<data dir>/scratch``.

A run removes its folder when it ends; a process killed mid-run cannot, so every worker
start sweeps the folders and intermediate blobs of jobs that are no longer running under a
live lease, and the temporary files of blob writes and uploads whose writing process has
stopped (see :mod:`impactlens.storage.owners`: the data dir may be shared by live processes).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from ..services import Services
from ..settings import Settings
from ..storage import owners

log = logging.getLogger("impactlens.jobs")
PARTIAL_SUFFIX = ".partial"  # storage/local.py's temporary files, renamed into place when complete


def root(settings: Settings) -> str | None:
    """The scratch root of the embedded shape; None elsewhere (the system's temp folder)."""
    if settings.backend != "embedded":
        return None
    path = Path(settings.data_dir).resolve() / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def sweep(services: Services, include_uploads: bool = True) -> list[str]:
    """Removes what dead runs left behind; returns the removed paths. Call it when this
    process starts, before it takes any work: it owns no scratch yet."""
    base = root(services.settings)
    if base is None:
        return []
    removed: list[str] = []
    now = services.clock()

    def live(job_id: str) -> bool:
        job = services.repo.get_job(job_id)
        return job is not None and job.get("status") == "running" and float(job.get("lease_until", 0)) > now

    for entry in sorted(Path(base).iterdir()):
        if not live(entry.name):  # else another live worker's run
            _remove(entry, removed)
    removed += drop_work_blobs(services, live)
    data = Path(services.settings.data_dir).resolve()
    blobs = data / "blobs"
    if blobs.is_dir():
        for partial in blobs.rglob(f".*{PARTIAL_SUFFIX}"):
            if owners.abandoned(partial):  # else another live process is writing it
                _remove(partial, removed)
    uploads = data / "tmp"
    if include_uploads and uploads.is_dir():
        for spooled in uploads.glob("upload-*"):
            if owners.abandoned(spooled):  # else another live process is receiving it
                _remove(spooled, removed)
    if removed:
        log.info("removed %d scratch files left by stopped runs", len(removed))
    return removed


def drop_work_blobs(services: Services, keep: Callable[[str], bool] = lambda job: False, job: str = "") -> list[str]:
    """Deletes the intermediate blobs (``work/<job>/``) of ``job``, or of every job ``keep``
    does not want; returns their keys."""
    dropped: list[str] = []
    for blob in list(services.blobs.list(f"work/{job}/" if job else "work/")):
        owner = blob.key.split("/")[1] if blob.key.count("/") >= 2 else ""
        if job or not keep(owner):
            services.blobs.delete(blob.key)
            dropped.append(blob.key)
    return dropped


def _remove(path: Path, removed: list[str]) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(str(path))
    except FileNotFoundError:
        pass
