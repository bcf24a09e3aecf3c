"""The local executor: runs the video steps on one machine, chunks fanned out to processes.

Chunks are submitted as soon as ``prepare`` writes them, so decoding overlaps analysis.
Each worker process loads the models once with one ONNX Runtime thread (several
single-threaded workers scale better than one multi-threaded session, and that is the
shape the cloud has: one chunk per function). ``workers=0`` analyses in this process.
"""

from __future__ import annotations

import multiprocessing
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


def _init_worker(settings: dict[str, Any]) -> None:
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
                initargs=(single,),
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

    def run(self, payload: Payload, progress: Progress = no_progress) -> Payload:
        """probe -> prepare (+ overlapping fan-out) -> merge; intermediate blobs always removed.

        On failure nothing stays under the output prefix either.
        """
        kwargs = {"scratch": self.scratch} if self.scratch else {}
        ctx = StepContext(self.blobs, self.settings, self.engine, progress, **kwargs)
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
