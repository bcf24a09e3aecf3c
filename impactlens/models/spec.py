"""What a registered model is: its name, task, variant, converted file, input, licence and figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .manifest import read_manifest


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # "memorability" | "saliency" | "face_detection" | "text_detection" | "text_recognition"
    version: str
    variant: str  # "fp32" | "int8"
    filename: str
    input_spec: dict[str, Any]
    licence: str
    source: str
    metrics: dict[str, float] = field(default_factory=dict)
    card: str = ""  # the model card: impactlens/models/cards/<card>.md

    @property
    def key(self) -> str:
        return f"{self.name}:{self.variant}"

    @property
    def card_url(self) -> str:
        # Served by impactlens/api/routes/models.py; one URL per model name, whatever the variant.
        return f"/v1/models/{self.name}/card"

    def describe(self, model_dir: Path) -> dict[str, Any]:
        record = asdict(self)
        record["sha256"] = read_manifest(model_dir).get(self.filename, {}).get("sha256")
        return record
