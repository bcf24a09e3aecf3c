"""INT8 quantisation of the converted graphs: the recipes, and the static (calibrated) and
dynamic passes that turn an fp32 ONNX file into its int8 sibling."""

from __future__ import annotations

import errno
import gc
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from .calibration import percentile_ranges, write_ort_cache
from .converters import RESMEM_TAPS
from .preprocess import resmem_input, saliency_input
from .readout import MEMORABILITY_TAP
from .runtime import ort_session

# Quantisation recipe: see quantise_resmem's docstring for why these choices.
INT8_RECIPE = {
    "percentile": 99.999,
    "calibration_images": 64,
    "fp32": "stem",
    "quantised": "Conv, Relu",
    "head": "dynamic",
    "calibrator": "streaming-1",
    "batch": 4,
}


def quantise_resmem(fp32: Path, dest: Path, images: list[Path]) -> None:
    """Static INT8 (QDQ, per-channel int8 weights, uint8 activations) of the convolutions.

    Activation ranges are the 99.999th percentile over the calibration set rather than the
    min/max: a few extreme activations otherwise stretch the scale and cost resolution where
    the values are. The ResNet stem stays fp32: it sees the raw, unnormalised [0, 1] input
    and quantising it cost the most rank agreement with the reference (Spearman vs the
    reference on NUS 401-460, convolutions alone quantised: all int8 0.94; stem fp32 0.980;
    stem + first stage fp32 0.989).

    Since 2026-12-02 the first residual block is int8 too (the previous recipe kept it fp32):
    bench/memorability_vs_reference.py, --threads 1, NUS 401-460, the two int8 builds in the
    same run (another job using 1.3 cores): stem fp32 182 ms/image, rho 0.9851 vs the
    reference, max |delta| 0.087; stem + first block fp32 209 ms, rho 0.9923, 0.056: 1.15x
    under that load, 2-3% on a quiet machine (all cores 47 vs 48 ms, 3.98x vs 3.91x the
    reference; one thread 77 vs 79 ms), for rho still above the 0.98 target. Other splits,
    against the fp32 graph (the reference within 4e-7)
    on NUS 401-460, one thread, CPU time vs the previous recipe: stem + the block's conv1 and
    downsample fp32 (the two that read the stem's output) rho 0.9929 but 0.92x CPU (the
    int8/fp32 boundaries inside the block cost more than its convolutions save); stem fp32
    with 99.99th-percentile ranges rho 0.9805, 99.9999th 0.9445. An int4 (MatMulNBits)
    head instead of the dynamic int8 one: no faster in the whole graph.

    Relu is quantised with the convolutions: ONNX Runtime then drops each Relu that follows
    a quantised Conv and gives the Conv's output the Relu's range ([0, max], all 256 levels
    on the values that survive). Quantising Conv alone left the Conv output on a signed range
    (half the levels on values the Relu zeroes) and a DequantizeLinear -> QuantizeLinear
    pair before every next Conv (~12% of the int8 run time). With Relu folded the first
    stage's last two blocks can be int8 too. Measured against the fp32 model on 99 NUS
    photographs outside the calibration set and NUS 401-500 (every 4th of 4-396 not in
    impactlens/data/calibration), one ONNX Runtime thread, interleaved, CPU time relative to
    the previous recipe (Conv only, stem + whole first stage fp32: rho 0.9851, max |delta|
    0.049): Conv+Relu with stem + first stage fp32 rho 0.9886, 1.06x; stem + first block fp32
    (this recipe) rho 0.9910, max |delta| 0.039, 1.12x; stem alone fp32 rho 0.9855, 1.17x;
    stem and the AlexNet branch's first conv fp32 rho 0.9885, 1.11x.

    The fully connected head is quantised dynamically (int8 weights, activation scales per
    call): it is memory-bound (268 MB of fp32 weights per image), so this saves ~6 ms at no
    measured loss.

    The ranges come from calibration.percentile_ranges (streamed, 4 photographs at a time:
    peak ~2 GB instead of ~15 GB) and reach the same agreement as ONNX Runtime's all-at-once
    calibrator (Conv-only recipe: rho 0.9882 vs 0.9879 on NUS 401-460). Earlier alternatives
    (Conv-only recipe): residual Adds quantised too (QDQ Add) 0.9859, 0.87x (ORT re-quantises
    around every Add), so Add stays out.
    """
    batch = int(str(INT8_RECIPE["batch"]))
    ops = [op.strip() for op in str(INT8_RECIPE["quantised"]).split(",")]

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for i in range(0, len(images), batch):
            yield {"image": np.concatenate([resmem_input(Image.open(p)) for p in images[i : i + batch]])}

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().addFilter(_not_quantiser_advice)
    with tempfile.TemporaryDirectory() as tmpdir:
        convs = Path(tmpdir) / "int8-convs.onnx"
        tmp = Path(tmpdir) / "int8.onnx"
        keep = ("features.conv1_",)
        _quantise_static(fp32, convs, batches(), ops, keep, float(str(INT8_RECIPE["percentile"])))
        quantize_dynamic(str(convs), str(tmp), op_types_to_quantize=["Gemm", "MatMul"], weight_type=QuantType.QInt8)
        _move_into_place(tmp, dest)


def _not_quantiser_advice(record: logging.LogRecord) -> bool:
    # ONNX Runtime's quantiser logs generic advice ("consider pre-processing", "check if the
    # model is already quantized") on the root logger for every model; users read it as a fault.
    return not (record.levelno == logging.WARNING and "onnxruntime/quantization" in record.pathname.replace("\\", "/"))


def _quantise_static(
    fp32: Path,
    dest: Path,
    batches: Iterator[dict[str, np.ndarray]],
    ops: list[str],
    keep_prefixes: tuple[str, ...],
    percentile: float,
) -> None:
    """QDQ INT8 of the `ops` nodes (per-channel int8 weights, uint8 activations), streamed
    percentile ranges; nodes whose names start with `keep_prefixes` stay fp32."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    logging.getLogger().addFilter(_not_quantiser_advice)
    model = onnx.load(str(fp32))
    keep = [n.name for n in model.graph.node if n.name.startswith(keep_prefixes)]
    del model
    with tempfile.TemporaryDirectory() as tmpdir:
        cache = Path(tmpdir) / "ranges.json"
        write_ort_cache(percentile_ranges(fp32, batches, ops, percentile), cache)
        gc.collect()
        tmp = Path(tmpdir) / "int8.onnx"
        quantize_static(
            str(fp32),
            str(tmp),
            None,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=ops,
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.Percentile,
            calibration_cache_path=str(cache),
        )
        gc.collect()
        _move_into_place(tmp, dest)


def _move_into_place(src: Path, dest: Path) -> None:
    """Replaces `dest` with `src` atomically, also when `src` is in a temporary folder on
    another filesystem than the model folder (a tmpfs /tmp), where a rename fails (EXDEV):
    then the file is copied next to `dest` first and renamed from there."""
    try:
        src.replace(dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        part = dest.with_name(f".{dest.name}.partial")
        try:
            shutil.copyfile(src, part)
            part.replace(dest)
        finally:
            part.unlink(missing_ok=True)


# INT8 saliency: see quantise_saliency.
SALIENCY_INT8_RECIPE = {"percentile": 99.999, "calibration_images": 64, "quantised": "Conv, Clip", "fp32": "readout/"}


def quantise_saliency(fp32: Path, dest: Path, images: list[Path], taps_from: Path | None = None) -> None:
    """Static INT8 of a composed saliency graph's backbone(s); the readout stays fp32.

    EfficientNet-Lite was designed for int8 (ReLU6, no squeeze-excite): its convolutions and
    their ReLU6 (Clip, folded into the Conv's output range) are quantised; the readout (the
    1x1/3x3 convolutions after the taps, resizes, blur, centre bias, softmax: every node
    readout.py names "readout/") stays fp32, so whatever readout the registry composes is
    quantised the same way. Calibration: one photograph at a time at its own input size
    (the graph's H and W are free). Measured on NUS 401-430 + OSIE 1601-1620, one thread,
    lite1-readout-3: 1.7x faster than fp32, map CC vs fp32 mean 0.996 (min 0.969); keeping
    the stem fp32 too: CC 0.997, 1.5x; residual Adds quantised too: no faster. A graph that
    also reads the memorability pass's activations gets them from ``taps_from`` (the fp32
    ResMem graph) for each calibration photograph.
    """
    r = SALIENCY_INT8_RECIPE
    mem = ort_session(taps_from, 0, tap_outputs=True) if taps_from is not None else None

    def batches() -> Iterator[dict[str, np.ndarray]]:
        for p in images[: int(str(r["calibration_images"]))]:
            with Image.open(p) as im:
                feed = {"image": saliency_input(im)}
                if mem is not None:
                    outs = mem.run(list(RESMEM_TAPS), {"image": resmem_input(im)})
                    feed.update({f"{MEMORABILITY_TAP}_{t}": o for t, o in zip(RESMEM_TAPS, outs, strict=True)})
                yield feed

    ops = [op.strip() for op in str(r["quantised"]).split(",")]
    _quantise_static(fp32, dest, batches(), ops, (str(r["fp32"]),), float(str(r["percentile"])))
