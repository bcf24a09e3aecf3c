"""The model folder's manifest: which converted files were built, with their sha256 and build info."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelNotReadyError
from .locking import exclusive

if TYPE_CHECKING:
    from .spec import ModelSpec


MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(model_dir: Path) -> dict[str, dict[str, Any]]:
    path = model_dir / MANIFEST
    if not path.exists():
        return {}
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return data


def record_build(model_dir: Path, filename: str, **info: Any) -> None:
    """Adds `filename`'s entry; read, change and replace under the folder's manifest lock, so
    builds running at once neither lose each other's entries nor write one temporary file."""
    entry = {"sha256": sha256_file(model_dir / filename), **info}
    with exclusive(model_dir / (MANIFEST + ".lock")):
        manifest = read_manifest(model_dir)
        manifest[filename] = entry
        tmp = model_dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
        tmp.replace(model_dir / MANIFEST)


def model_path(model_dir: Path, spec: ModelSpec) -> Path:
    path = model_dir / spec.filename
    entry = read_manifest(model_dir).get(spec.filename)
    if not path.exists() or entry is None:
        raise ModelNotReadyError(f"model file {path} is missing; run `impactlens models build` (or `make setup`)")
    return path
