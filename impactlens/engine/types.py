"""Typed results of an analysis (what the CLI writes as JSON and the API will return)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, model_validator

_AOI_RE = re.compile(r"^([A-Za-z0-9_.\-]+)=(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?),(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$")


class AOI(BaseModel):
    """An area of interest, a rectangle in the (EXIF-oriented) image's pixel coordinates."""

    name: str = Field(min_length=1, max_length=64)
    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)

    @classmethod
    def parse(cls, text: str) -> AOI:
        m = _AOI_RE.match(text.strip())
        if not m:
            raise ValueError(f"AOI {text!r} is not NAME=x,y,w,h (pixels, w and h > 0)")
        name, x, y, w, h = m.groups()
        return cls(name=name, x=float(x), y=float(y), w=float(w), h=float(h))


class Peak(BaseModel):
    x: float
    y: float
    relative_density: float  # this peak's density divided by the map's maximum


class ModelInfo(BaseModel):
    name: str
    version: str
    variant: str
    sha256: str | None
    licence: str


class AttentionShare(BaseModel):
    name: str
    share: float  # fraction of predicted fixations inside the AOI (clipped to the image)
    area_fraction: float  # the AOI's share of the image area, for comparison
    lift: float  # share / area_fraction: > 1 means the AOI draws more than its size


class ImageAnalysis(BaseModel):
    source: str
    kind: str = "image"
    width: int
    height: int
    format: str
    memorability: float
    memorability_percentile: float
    attention: list[AttentionShare]
    saliency_peaks: list[Peak]
    models: dict[str, ModelInfo]
    timings_s: dict[str, float]
    warnings: list[str] = []
    outputs: dict[str, str] = {}

    @model_validator(mode="after")
    def _check_range(self) -> ImageAnalysis:
        if not 0.0 <= self.memorability <= 1.0:
            raise ValueError("memorability outside [0, 1]")
        return self


class AnalysisError(BaseModel):
    source: str
    code: str
    message: str
