"""ONNX Runtime sessions for the registered models. No torch here, by design."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import ModelNotReadyError
from .preprocess import resmem_input, saliency_input
from .registry import TAP_METADATA, ModelSpec, get_spec, model_path

if TYPE_CHECKING:
    import onnxruntime as ort


def ort_session(path: Path, threads: int, spin: bool = False, tap_outputs: bool = False) -> ort.InferenceSession:
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
    if tap_outputs:
        return ort.InferenceSession(with_tap_outputs(path), opts, providers=["CPUExecutionProvider"])
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def with_tap_outputs(path: Path) -> bytes:
    """The graph at ``path`` with the activations its metadata names (converters.TAP_METADATA)
    added as outputs after its own, e.g. ResMem's l3, l4, alex. Done in memory, for the sessions
    that need them only: as outputs they keep ONNX Runtime from fusing their producers."""
    import onnx

    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    if TAP_METADATA not in meta:
        raise ModelNotReadyError(f"{path.name} names no activations to hand out: run `impactlens models build`")
    for public, internal in json.loads(meta[TAP_METADATA]).items():
        # Relu: every tap is a ReLU's output, but the INT8 build folds a ReLU after a convolution
        # into the activation's quantisation, leaving the tensor of that name pre-ReLU (ResMem's
        # alex tap: relative error 1.08 against fp32 without this; idempotent on the others).
        model.graph.node.append(onnx.helper.make_node("Relu", [internal], [public], name=f"tap_{public}"))
        model.graph.output.append(onnx.helper.make_tensor_value_info(public, onnx.TensorProto.FLOAT, None))
    return bytes(model.SerializeToString())


@dataclass
class Timed:
    value: np.ndarray
    seconds: float


class OnnxModel:
    def __init__(self, spec: ModelSpec, model_dir: Path, threads: int = 0, tap_outputs: bool = False) -> None:
        self.spec = spec
        self.session = ort_session(model_path(model_dir, spec), threads, tap_outputs=tap_outputs)
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
    def __init__(self, spec: ModelSpec, model_dir: Path, threads: int = 0, taps: bool = False) -> None:
        super().__init__(spec, model_dir, threads, tap_outputs=taps)
        outputs = [o.name for o in self.session.get_outputs()]
        self._score = outputs[0]
        # With taps: activations the pass also hands out (ResMem: converters.RESMEM_TAPS),
        # which a saliency readout reads instead of running a second backbone.
        self.tap_names = outputs[1:]

    def predict(self, image: Image.Image) -> tuple[float, float]:
        """(memorability in [0, 1], seconds)."""
        start = time.perf_counter()
        with self._lock:
            out = self.session.run([self._score], {self._input: resmem_input(image)})[0]
        return float(out.reshape(-1)[0]), time.perf_counter() - start

    def predict_with_taps(self, image: Image.Image) -> tuple[float, dict[str, np.ndarray], float]:
        """(memorability, the graph's activations by name, seconds) from one pass."""
        start = time.perf_counter()
        with self._lock:
            out = self.session.run([self._score, *self.tap_names], {self._input: resmem_input(image)})
        taps = dict(zip(self.tap_names, out[1:], strict=True))
        return float(out[0].reshape(-1)[0]), taps, time.perf_counter() - start


class SaliencyModel(OnnxModel):
    def __init__(
        self, spec: ModelSpec, model_dir: Path, threads: int = 0, feeder: MemorabilityModel | None = None
    ) -> None:
        super().__init__(spec, model_dir, threads)
        # Extra inputs ("resmem_l3", ...): activations of the memorability pass (readout.py).
        self.tap_inputs = {i.name: i.name.split("_", 1)[1] for i in self.session.get_inputs()[1:]}
        if self.tap_inputs and (feeder is None or not set(self.tap_inputs.values()) <= set(feeder.tap_names)):
            raise ModelNotReadyError(
                f"saliency model {spec.name} reads the ResMem memorability pass "
                f"({', '.join(self.tap_inputs.values())}); load it with ResMem beside it"
            )
        self.feeder = feeder

    @property
    def needs_memorability_taps(self) -> bool:
        return bool(self.tap_inputs)

    def predict(self, image: Image.Image, taps: Mapping[str, np.ndarray] | None = None) -> tuple[np.ndarray, float]:
        """(fixation probability per cell of the model's grid, summing to 1; seconds).

        A model that reads the memorability pass takes its activations as ``taps`` (the
        engine passes those of the memorability call it makes anyway); without them it runs
        that pass itself, and the seconds include it."""
        start = time.perf_counter()
        feed = {self._input: saliency_input(image)}
        if self.tap_inputs:
            if taps is None:
                assert self.feeder is not None  # checked in __init__
                _, taps, _ = self.feeder.predict_with_taps(image)
            feed.update({name: taps[t] for name, t in self.tap_inputs.items()})
        with self._lock:
            out = self.session.run(None, feed)[0]
        return np.exp(out[0, 0].astype(np.float64)), time.perf_counter() - start


# The memorability model whose pass a saliency model's extra inputs come from.
TAP_SOURCE = "resmem"


@lru_cache(maxsize=8)
def load_memorability(
    name: str, variant: str, model_dir: Path, threads: int = 0, taps: bool = False
) -> MemorabilityModel:
    return MemorabilityModel(get_spec(name, variant), model_dir, threads, taps)


def reads_memorability_pass(name: str, variant: str) -> bool:
    """Whether this saliency model takes the memorability pass's activations (readout.py)."""
    return "memorability_taps" in get_spec(name, variant).input_spec


@lru_cache(maxsize=8)
def load_saliency(name: str, variant: str, model_dir: Path, threads: int = 0) -> SaliencyModel:
    needs = reads_memorability_pass(name, variant)
    feeder = load_memorability(TAP_SOURCE, variant, model_dir, threads, taps=True) if needs else None
    return SaliencyModel(get_spec(name, variant), model_dir, threads, feeder)
