"""ONNX Runtime sessions for the registered models. No torch here, by design."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .preprocess import resmem_input, saliency_input
from .registry import ModelSpec, get_spec, model_path

if TYPE_CHECKING:
    import onnxruntime as ort


def ort_session(path: Path, threads: int, spin: bool = False) -> ort.InferenceSession:
    """A CPU session. Its worker threads sleep between parallel sections rather than spin
    (ONNX Runtime's default): an analysis runs five sessions one after another, each with
    its own pool, and on a shared 2-core machine a spinning pool fights the next session
    and any other process for the cores. int8 ResMem, 2 threads, another process using
    one core: 171-200 ms spinning, 119-132 ms not; a whole image analysis on a quiet machine:
    243 ms not spinning, 308 ms spinning with session.force_spinning_stop, 455 ms spinning
    (int8 ResMem alone on a quiet machine is ~10% faster spinning: the price paid)."""
    import onnxruntime as ort  # here, not at the top: the API and stream functions never load it

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@dataclass
class Timed:
    value: np.ndarray
    seconds: float


class OnnxModel:
    def __init__(self, spec: ModelSpec, model_dir: Path, threads: int = 0) -> None:
        self.spec = spec
        self.session = ort_session(model_path(model_dir, spec), threads)
        self._input = self.session.get_inputs()[0].name
        # ORT sessions are thread-safe for run(), but we keep one call at a time per session
        # so that intra-op threads are not oversubscribed by concurrent callers.
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> Timed:
        start = time.perf_counter()
        with self._lock:
            out = self.session.run(None, {self._input: x})[0]
        return Timed(out, time.perf_counter() - start)


class MemorabilityModel(OnnxModel):
    def predict(self, image: Image.Image) -> tuple[float, float]:
        """(memorability in [0, 1], seconds)."""
        r = self.run(resmem_input(image))
        return float(r.value.reshape(-1)[0]), r.seconds


class SaliencyModel(OnnxModel):
    def predict(self, image: Image.Image) -> tuple[np.ndarray, float]:
        """(fixation probability per cell of the model's grid, summing to 1; seconds)."""
        r = self.run(saliency_input(image))
        return np.exp(r.value[0, 0].astype(np.float64)), r.seconds


@lru_cache(maxsize=8)
def load_memorability(name: str, variant: str, model_dir: Path, threads: int = 0) -> MemorabilityModel:
    return MemorabilityModel(get_spec(name, variant), model_dir, threads)


@lru_cache(maxsize=8)
def load_saliency(name: str, variant: str, model_dir: Path, threads: int = 0) -> SaliencyModel:
    return SaliencyModel(get_spec(name, variant), model_dir, threads)
