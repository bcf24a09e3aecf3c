"""The one place that reads configuration. Every environment variable name lives here."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "IMPACTLENS_"
# Names, for documentation and for the few places (tests, CI) that set them explicitly.
ENV_MODEL_DIR = f"{ENV_PREFIX}MODEL_DIR"
ENV_VARIANT = f"{ENV_PREFIX}VARIANT"
ENV_MEMORABILITY_MODEL = f"{ENV_PREFIX}MEMORABILITY_MODEL"
ENV_MAX_IMAGE_PIXELS = f"{ENV_PREFIX}MAX_IMAGE_PIXELS"
ENV_THREADS = f"{ENV_PREFIX}THREADS"

Variant = Literal["fp32", "int8"]


def _default_model_dir() -> Path:
    return Path.home() / ".cache" / "impactlens" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    model_dir: Path = Field(default_factory=_default_model_dir)
    variant: Variant = "int8"
    memorability_model: str = "resmem"
    saliency_model: str = "mnv2-readout"
    # Decoded-pixel budget: larger images are refused before decoding (decompression bombs).
    max_image_pixels: int = 100_000_000
    # Threads per ONNX Runtime session; 0 lets ONNX Runtime decide (all cores).
    threads: int = 0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
