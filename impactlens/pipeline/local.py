"""The local executor: runs the video steps on one machine, chunks fanned out to processes.

Chunks are submitted as soon as ``prepare`` writes them, so decoding overlaps analysis.
Each worker process loads the models once with one ONNX Runtime thread (several
single-threaded workers scale better than one multi-threaded session, and that is the
shape the cloud has: one chunk per function). ``workers=0`` analyses in this process.

Worker processes die with the process that started them (a ``kill -9`` of the server must
not leave hundreds of megabytes of models behind): on Linux the kernel sends them SIGKILL
when their parent dies, and a watchdog thread checks the parent elsewhere (and covers the
kernel's rule being tied to the thread that forked, not the process). Each run gets its own
scratch folder, removed when the run ends.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any

from ..engine.image import ImageEngine
from ..errors import ImpactLensError
from ..settings import Settings
from ..storage.base import BlobStore
from .steps import (
    Payload,
    Progress,
    StepContext,
    analyse_chunk_step,
    cleanup_step,
    iter_prepare,
    merge_step,
    no_progress,
    probe_step,
)

_worker: dict[str, Any] = {}


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Ends this process when ``parent`` ends (a worker must not outlive the server)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _init_worker(settings: dict[str, Any], parent: int | None = None) -> None:
    die_with_parent(parent if parent is not None else os.getppid())
    s = Settings(**settings)
    _worker["settings"] = s
    _worker["engine"] = ImageEngine.from_settings(s)


def _worker_analyse(payload: Payload, blobs: BlobStore) -> Payload:
    ctx = StepContext(blobs, _worker["settings"], lambda: _worker["engine"])
    return analyse_chunk_step(payload, ctx)


class WorkerCrashedError(ImpactLensError):
    code = "worker_crashed"


class VideoRunner:
    """Reusable across videos: the pool and the in-process engine are created once."""

    def __init__(self, settings: Settings, blobs: BlobStore, workers: int | None = None, scratch: str | None = None):
        self.settings = settings
        self.blobs = blobs
        self.workers = settings.workers if workers is None else workers
        self.scratch = scratch
        self._pool: ProcessPoolExecutor | None = None
        self._engine: ImageEngine | None = None

    def engine(self) -> ImageEngine:
        if self._engine is None:
            self._engine = ImageEngine.from_settings(self.settings)
        return self._engine

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            single = self.settings.model_copy(update={"threads": 1}).model_dump(mode="json")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(single, os.getpid()),
            )
        return self._pool

    def warm_up(self) -> None:
        """Starts the workers and loads their models (so timings exclude start-up)."""
        if self.workers:
            pool = self.pool()
            list(pool.map(_noop, range(self.workers)))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> VideoRunner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def run(self, payload: Payload, progress: Progress = no_progress, blobs: BlobStore | None = None) -> Payload:
        """probe -> prepare (+ overlapping fan-out) -> merge; intermediate blobs always removed.

        On failure nothing stays under the output prefix either. ``blobs`` replaces the store
        for this process's writes (the outputs), e.g. one that checks the asset still exists.
        """
        kwargs: dict[str, Any] = {}
        run_dir = None
        if self.scratch:
            run_dir = os.path.join(self.scratch, str(payload.get("job") or "run"))
            os.makedirs(run_dir, exist_ok=True)
            kwargs["scratch"] = run_dir
        ctx = StepContext(blobs or self.blobs, self.settings, self.engine, progress, **kwargs)
        try:
            p = probe_step(payload, ctx)
            start = time.perf_counter()
            chunks = self._fan_out(p, ctx, progress)
            timings = dict(p.get("timings", {}))
            timings["prepare_and_analyse"] = time.perf_counter() - start
            return merge_step({**p, "chunks": chunks, "timings": timings}, ctx)
        except BaseException:
            for blob in list(self.blobs.list(payload["output_prefix"] + "/")):
                self.blobs.delete(blob.key)
            raise
        finally:
            cleanup_step(payload, ctx)
            if run_dir is not None:
                shutil.rmtree(run_dir, ignore_errors=True)

    def _fan_out(self, p: Payload, ctx: StepContext, progress: Progress) -> list[dict[str, Any]]:
        light = {k: v for k, v in p.items() if k not in ("timings",)}
        if not self.workers:
            done = []
            for desc in iter_prepare(p, ctx):
                done.append(analyse_chunk_step({**light, "chunk": desc}, ctx)["chunk"])
                progress("analyse", len(done), len(done))
            return done
        pool = self.pool()
        futures: list[Future[Payload]] = []
        try:
            for desc in iter_prepare(p, ctx):
                futures.append(pool.submit(_worker_analyse, {**light, "chunk": desc}, self.blobs))
                self._check(futures, progress)
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in finished:
                if f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            progress("analyse", len(futures), len(futures))
            return [f.result()["chunk"] for f in futures]
        except BrokenProcessPool as exc:
            self._pool = None
            raise WorkerCrashedError(f"a chunk worker process died: {exc}") from exc
        finally:
            for f in futures:
                f.cancel()

    @staticmethod
    def _check(futures: list[Future[Payload]], progress: Progress) -> None:
        """Fails fast on a chunk error while decoding goes on; reports progress."""
        done = [f for f in futures if f.done()]
        for f in done:
            if f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        progress("analyse", len(done), len(futures))


def _noop(_: int) -> None:
    return None
