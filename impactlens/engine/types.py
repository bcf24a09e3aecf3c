"""Typed results of an analysis (what the CLI writes as JSON and the API will return)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field, field_validator, model_validator

_NUM = r"(-?\d+(?:\.\d+)?)"
_AOI_RE = re.compile(rf"^([A-Za-z0-9_.\-]+)={_NUM},{_NUM},{_NUM},{_NUM}(?:@{_NUM}-{_NUM})?$")


class TrackPoint(BaseModel):
    """Where a tracked element's box is at ``t`` (seconds from the first frame; displayed pixels).
    A box may reach past the frame's edges (a face half out of the picture)."""

    t: float = Field(ge=0)
    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)


class AOI(BaseModel):
    """An area of interest: a rectangle in the displayed image's (or video's) pixel coordinates.

    For a video it may be limited to a time range [start_s, end_s); outside it the AOI holds
    no attention. Images ignore the time range.

    A video AOI may follow a ``track``: keyframes (times strictly increasing) between which the
    box moves linearly, held before the first and after the last (engine/tracks.py). Its shares
    are then measured with the box where it is at each instant; ``x``, ``y``, ``w``, ``h`` stay the
    representative (mean) box, for what needs one box. Images ignore the track.
    """

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)
    start_s: float | None = Field(default=None, ge=0)
    end_s: float | None = Field(default=None, gt=0)
    track: Sequence[TrackPoint] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _check_times(self) -> AOI:
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("AOI end_s must be after start_s")
        return self

    @field_validator("track")
    @classmethod
    def _check_track(cls, track: Sequence[TrackPoint] | None) -> Sequence[TrackPoint] | None:
        points = list(track or ())
        for i in range(1, len(points)):
            a, b = points[i - 1].t, points[i].t
            if b <= a:
                raise ValueError(
                    f"track times must strictly increase, "
                    f"but point {i} (t={b:g} s) is not after point {i - 1} (t={a:g} s)"
                )
        return track

    def active_at(self, t: float) -> bool:
        return (self.start_s is None or t >= self.start_s) and (self.end_s is None or t < self.end_s)

    @classmethod
    def parse(cls, text: str) -> AOI:
        m = _AOI_RE.match(text.strip())
        if not m:
            raise ValueError(f"AOI {text!r} is not NAME=x,y,w,h[@start-end] (pixels, seconds; w and h > 0)")
        name, x, y, w, h, start, end = m.groups()
        try:
            return cls(
                name=name,
                x=float(x),
                y=float(y),
                w=float(w),
                h=float(h),
                start_s=float(start) if start is not None else None,
                end_s=float(end) if end is not None else None,
            )
        except ValueError as exc:
            raise ValueError(f"AOI {text!r}: {exc}") from exc


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
    # The model card (data, licence, metrics, limits), served by the API; None in results
    # stored before cards existed.
    card_url: str | None = None


class AttentionShare(BaseModel):
    name: str
    share: float  # fraction of predicted fixations inside the AOI (clipped to the image)
    area_fraction: float  # the AOI's share of the image area, for comparison
    lift: float  # share / area_fraction: > 1 means the AOI draws more than its size


class AutoAOI(BaseModel):
    """An element a detector found (a face, a block of text), reported like a user AOI.

    ``name``, ``x``, ``y``, ``w``, ``h`` (and for videos ``start_s``/``end_s``, the span it was
    seen in) are an AOI's fields: to keep, rename or drop automatic AOIs, send the ones wanted
    (renamed at will) as the asset's user AOIs (PUT /v1/assets/{id}/aois).
    """

    name: str
    kind: str  # "face" | "text"
    x: float
    y: float
    w: float
    h: float
    start_s: float | None = None
    end_s: float | None = None
    # Videos: the tracked boxes (keyframes, as AOI.track); None for images and older results.
    track: list[TrackPoint] | None = None
    confidence: float  # the detector's score in [0, 1] (text: mean over the block's lines)
    text: str | None = None  # recognised words, where a recogniser ran
    role: str | None = None  # text read as a "price" or a "call_to_action" (models/detect_text_rec.py)
    attention: AttentionShare | VideoAttentionShare


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
    auto_aois: list[AutoAOI] = []
    # Beside the map (definitions in engine/map_measures.py and the README); None in older results.
    focus: float | None = None
    focus_percentile: float | None = None
    clutter: float | None = None
    clutter_percentile: float | None = None

    @model_validator(mode="after")
    def _check_range(self) -> ImageAnalysis:
        if not 0.0 <= self.memorability <= 1.0:
            raise ValueError("memorability outside [0, 1]")
        return self


class AnalysisError(BaseModel):
    source: str
    code: str
    message: str


class TimelinePoint(BaseModel):
    t: float  # seconds from the first frame
    memorability: float  # the model's score for the frame on screen at t
    smoothed: float  # Gaussian-smoothed curve (sigma in VideoAnalysis.smoothing_s)


class VideoAttentionShare(BaseModel):
    """Mean share of attention inside the AOI over the sampled instants of each window."""

    name: str
    first_3s: float
    first_5s: float
    whole: float
    # The box's share of the frame's area, averaged over the instants the AOI counts (a tracked
    # box's area at each instant); lift = its mean share over those instants / that area
    # (None in older results, or when it never counts).
    area_fraction: float
    lift: float | None = None


class Keyframe(BaseModel):
    t: float
    memorability: float
    thumbnail: str  # file name (CLI) or blob key (pipeline), heatmap blended


class ChunkSpan(BaseModel):
    index: int
    start_s: float
    end_s: float
    samples: int


class VideoAnalysis(BaseModel):
    """What a video analysis returns. ``memorability`` is the mean of the timeline's raw values
    (every sampled instant weighs the same: a viewer's exposure is spread evenly over time)."""

    source: str
    kind: str = "video"
    width: int
    height: int
    container: str
    codec: str
    duration_s: float
    fps: float
    variable_frame_rate: bool
    rotation: int
    has_audio: bool
    sample_fps: float
    smoothing_s: float
    memorability: float
    memorability_percentile: float
    memorability_first_3s: float
    memorability_peak: TimelinePoint
    timeline: list[TimelinePoint]
    attention: list[VideoAttentionShare]
    keyframes: list[Keyframe]
    chunks: list[ChunkSpan]
    models: dict[str, ModelInfo]
    timings_s: dict[str, float]
    warnings: list[str] = []
    outputs: dict[str, str] = {}
    auto_aois: list[AutoAOI] = []
