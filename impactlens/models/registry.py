"""The model registry: what each model is, where its converted file lives, how it was measured.

Memorability and saliency models are looked up by name, so another memorability model (for
instance one with a commercial licence) can be plugged in by registering a spec and its
builder: a spec in catalog.py (the registered models and their measured figures) and a builder
in build.py.
"""

from __future__ import annotations

from pathlib import Path

from .catalog import SPECS
from .manifest import MANIFEST, model_path, read_manifest, record_build, sha256_file
from .spec import ModelSpec

# The registry is the models' one public surface: the specs (catalog.py, spec.py) and the
# manifest (manifest.py) are imported from here.
__all__ = [
    "CARDS_DIR",
    "MANIFEST",
    "SPECS",
    "TAP_METADATA",
    "ModelSpec",
    "card_path",
    "get_spec",
    "model_path",
    "read_manifest",
    "record_build",
    "sha256_file",
]

# ONNX metadata key naming the activations a graph can hand out: JSON {tap: internal tensor}.
TAP_METADATA = "tap_tensors"

CARDS_DIR = Path(__file__).parent / "cards"


def card_path(spec: ModelSpec) -> Path:
    return CARDS_DIR / f"{spec.card}.md"


def get_spec(name: str, variant: str) -> ModelSpec:
    spec = SPECS.get(f"{name}:{variant}")
    if spec is None and variant == "int8":
        # A model without an INT8 build runs its fp32 graph for the int8 variant.
        spec = SPECS.get(f"{name}:fp32")
    if spec is None:
        known = ", ".join(sorted(SPECS))
        raise KeyError(f"unknown model {name!r} variant {variant!r}; known: {known}")
    return spec
