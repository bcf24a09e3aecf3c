"""Streaming activation-range calibration for static INT8 quantisation, in bounded memory.

ONNX Runtime's own calibrator keeps every intermediate tensor of every calibration input
before it builds its histograms: for ResMem (ResNet-152 + AlexNet branch, 315 calibrated
tensors) that is ~160 MB per photograph, 15 GB for 64. Here each batch's activations are
folded into one histogram per tensor and dropped, so memory is one model plus one batch.

The statistic is ONNX Runtime's symmetric "percentile" range (histogram of |x|, the
percentile's bin edge, clamped to the observed min/max); the bin width is fixed by the
first batch and bins are appended when a later batch goes further, so the resolution is at
least that of the all-at-once histogram. The ranges are written as an ONNX Runtime
calibration cache that quantize_static reads instead of calibrating again.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper


class AbsHistogram:
    """Histogram of |x| over [0, bins * width), grown by whole bins, plus the signed min/max."""

    def __init__(self, bins: int) -> None:
        self.first_bins = bins
        self.width = 0.0
        self.counts = np.zeros(1, np.int64)  # all zeros until a batch sets the bin width
        self.lowest = np.inf
        self.highest = -np.inf

    def add(self, x: np.ndarray) -> None:
        flat = x.reshape(-1)
        if flat.size == 0:
            return
        lo, hi = float(flat.min()), float(flat.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError("non-finite activation during calibration")
        self.lowest, self.highest = min(self.lowest, lo), max(self.highest, hi)
        amax = max(-lo, hi)
        if amax == 0.0:
            self.counts[0] += flat.size
            return
        if self.width == 0.0:
            self.width = amax / self.first_bins
        need = int(np.ceil(amax / self.width)) + 1
        if need > self.counts.size:
            self.counts = np.concatenate([self.counts, np.zeros(need - self.counts.size, np.int64)])
        # Bin index = floor(|x| / width), computed in float32 in place: no float64 copy.
        idx = np.abs(flat)
        idx *= np.float32(1.0 / self.width)
        self.counts += np.bincount(idx.astype(np.int32), minlength=self.counts.size)[: self.counts.size]

    def symmetric_range(self, percentile: float) -> tuple[float, float]:
        """(lowest, highest) as ONNX Runtime's symmetric percentile calibrator computes it."""
        cdf = np.cumsum(self.counts) / self.counts.sum()
        idx = int(np.searchsorted(cdf, percentile / 100.0))
        threshold = idx * self.width
        return max(-threshold, self.lowest), min(threshold, self.highest)


def calibrated_tensors(model: onnx.ModelProto, op_types: Sequence[str]) -> list[str]:
    """The non-constant inputs and the outputs of the nodes to quantise, in graph order."""
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    seen: dict[str, None] = {}
    for node in model.graph.node:
        if node.op_type in op_types:
            for name in (*node.input, *node.output):
                if name and name not in constants:
                    seen[name] = None
    return list(seen)


def _augmented_session(
    model_path: Path, op_types: Sequence[str], threads: int
) -> tuple[ort.InferenceSession, list[str]]:
    """A session that also outputs every tensor to calibrate; the graph is not kept in memory."""
    model = onnx.load(str(model_path))
    tensors = calibrated_tensors(model, op_types)
    existing = {o.name for o in model.graph.output}
    for name in tensors:
        if name not in existing:
            model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "augmented.onnx"
        onnx.save(model, str(path))
        del model
        gc.collect()
        opts = ort.SessionOptions()
        # Fusions (Conv+Relu) would hide some of the tensors we observe; speed matters less here.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if threads > 0:
            opts.intra_op_num_threads = threads
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]), tensors


def percentile_ranges(
    model_path: Path,
    batches: Iterable[dict[str, np.ndarray]],
    op_types: Sequence[str],
    percentile: float,
    bins: int = 2048,
    threads: int = 0,
) -> dict[str, tuple[float, float]]:
    """Activation ranges of the inputs/outputs of `op_types` nodes, one batch in memory at a time."""
    session, tensors = _augmented_session(model_path, op_types, threads)
    hists = {name: AbsHistogram(bins) for name in tensors}
    for feed in batches:
        values = session.run(tensors, feed)
        for name, value in zip(tensors, values, strict=True):
            hists[name].add(value)
        del values
    del session
    gc.collect()
    return {name: h.symmetric_range(percentile) for name, h in hists.items()}


def write_ort_cache(ranges: dict[str, tuple[float, float]], path: Path) -> None:
    """Save ranges as the calibration cache quantize_static(calibration_cache_path=...) reads."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData, save_tensors_data

    data = {
        name: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
        for name, (lo, hi) in ranges.items()
    }
    save_tensors_data(TensorsData(CalibrationMethod.Percentile, data), path)
