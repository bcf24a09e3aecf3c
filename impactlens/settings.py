"""The one place that reads configuration. Every environment variable name lives here."""

from __future__ import annotations

import os
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
ENV_WORKERS = f"{ENV_PREFIX}WORKERS"
ENV_VIDEO_SAMPLE_FPS = f"{ENV_PREFIX}VIDEO_SAMPLE_FPS"
ENV_VIDEO_CHUNK_SECONDS = f"{ENV_PREFIX}VIDEO_CHUNK_SECONDS"
ENV_MAX_VIDEO_SECONDS = f"{ENV_PREFIX}MAX_VIDEO_SECONDS"

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
    # Video: sampled instants per second, seconds per chunk (the unit of fan-out), the long
    # side frames are downscaled to before analysis, and the limits checked at probe time.
    video_sample_fps: float = Field(default=2.0, gt=0, le=30)
    video_chunk_seconds: float = Field(default=10.0, gt=0)
    video_long_side: int = Field(default=640, ge=64, le=1920)
    video_smoothing_s: float = Field(default=1.0, ge=0)
    max_video_seconds: float = Field(default=600.0, gt=0)
    max_video_pixels: int = 7680 * 4320  # 8K
    # Local fan-out: processes analysing chunks (one ONNX Runtime thread each); 0 = in process.
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
