"""API request and response bodies (separate from the stored items)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..engine.tracks import MAX_TRACK_POINTS
from ..engine.types import AOI, TrackPoint

Slug = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="lowercase letters, digits, '-' and '_'")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    org: str
    role: str
    kind: str
    user: str | None = None
    key_id: str | None = None
    plan: str


class UserIn(Strict):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["Admin", "Member"] = "Member"
    password: str = Field(min_length=10, max_length=1024)


class UserPatch(Strict):
    role: Literal["Admin", "Member"]


class UserOut(BaseModel):
    user: str
    email: str
    name: str
    role: str
    created_at: float


class ApiKeyIn(Strict):
    label: str = Field(default="", max_length=200)
    role: Literal["Admin", "Member"] = "Member"


class ApiKeyOut(BaseModel):
    key_id: str
    label: str
    role: str
    created_at: float


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="the full key; shown once, never stored")


class WebhookIn(Strict):
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)


class WebhookOut(BaseModel):
    url: str
    secret: str = Field(description="HMAC-SHA256 key for the X-Impactlens-Signature header; shown once")


class BrandIn(Strict):
    brand: str = Slug
    name: str = Field(min_length=1, max_length=200)


class CampaignIn(Strict):
    campaign: str = Slug
    name: str = Field(min_length=1, max_length=200)


class Named(BaseModel):
    name: str
    brand: str
    campaign: str | None = None


# Pixels: far past any image that may be decoded, small enough that areas and sums of
# AOIs stay finite; seconds: a day, far past any plan's video length.
MAX_COORD = 1_000_000.0
MAX_SECONDS = 86_400.0


# Track points in one request, over all its AOIs: 1,200 points are about 70 KB of JSON; with
# the rest of the asset they keep the stored item well under DynamoDB's 400 KB and the video
# job's payload under Step Functions' 256 KB (50 AOIs at the per-track cap would not).
MAX_TRACK_POINTS_TOTAL = 1_200


class TrackPointIn(TrackPoint, Strict):
    """A tracked box as clients send it: finite, bounded; it may reach past the frame's left or
    top edge (checked against the frame, with the video's length, when results exist)."""

    t: float = Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    x: float = Field(ge=-MAX_COORD, le=MAX_COORD, allow_inf_nan=False)
    y: float = Field(ge=-MAX_COORD, le=MAX_COORD, allow_inf_nan=False)
    w: float = Field(gt=0, le=MAX_COORD, allow_inf_nan=False)
    h: float = Field(gt=0, le=MAX_COORD, allow_inf_nan=False)


class AoiIn(AOI):
    """An AOI as clients send it: finite, non-negative numbers within sane bounds (an
    overflowing ``1e400`` or a NaN is refused here, before anything is stored). A video AOI
    may carry a ``track`` (keyframes, times strictly increasing; at most MAX_TRACK_POINTS)."""

    x: float = Field(ge=0, le=MAX_COORD, allow_inf_nan=False)
    y: float = Field(ge=0, le=MAX_COORD, allow_inf_nan=False)
    w: float = Field(gt=0, le=MAX_COORD, allow_inf_nan=False)
    h: float = Field(gt=0, le=MAX_COORD, allow_inf_nan=False)
    start_s: float | None = Field(default=None, ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    end_s: float | None = Field(default=None, gt=0, le=MAX_SECONDS, allow_inf_nan=False)
    track: list[TrackPointIn] | None = Field(default=None, min_length=1, max_length=MAX_TRACK_POINTS)


def _capped(aois: list[AoiIn]) -> None:
    points = sum(len(a.track or ()) for a in aois)
    if points > MAX_TRACK_POINTS_TOTAL:
        raise ValueError(
            f"the AOIs' tracks hold {points} points in all; at most {MAX_TRACK_POINTS_TOTAL} per request "
            "(send keyframes: the box moves linearly between them)"
        )


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def finite_aois(aois: Any) -> list[Any]:
    """The stored AOIs whose numbers are all finite, their tracks' too (items written before
    validation existed may hold others; they are left out rather than breaking every page
    they are on). Stored AOIs without a track (one box) are read as they always were."""
    if not isinstance(aois, list):
        return []
    return [a for a in aois if isinstance(a, dict) and _finite(a)]


class AssetIn(Strict):
    brand: str = Slug
    campaign: str = Slug
    name: str = Field(min_length=1, max_length=300)
    aois: list[AoiIn] = Field(default=[], max_length=50)

    @model_validator(mode="after")
    def _check_tracks(self) -> AssetIn:
        _capped(self.aois)
        return self


class UploadInfo(BaseModel):
    method: str
    url: str
    headers: dict[str, str] = {}
    form_field: str | None = None
    complete_url: str | None = Field(default=None, description="POST here after a direct (presigned) upload")


class AssetOut(BaseModel):
    asset: str
    brand: str
    campaign: str
    name: str
    kind: str
    status: str
    created_at: float
    scores: dict[str, float] = {}
    aois: list[AOI] = []
    error: dict[str, str] | None = None
    size: int | None = None
    job: dict[str, Any] | None = None


class AssetCreated(AssetOut):
    upload: UploadInfo


class AssetPage(BaseModel):
    items: list[AssetOut]
    cursor: str | None


class AoisIn(Strict):
    aois: list[AoiIn] = Field(max_length=50)

    @model_validator(mode="after")
    def _check_tracks(self) -> AoisIn:
        _capped(self.aois)
        return self


class MoveIn(Strict):
    brand: str = Slug
    campaign: str = Slug


class ResultOut(BaseModel):
    asset: str
    model_version: str
    analysis: dict[str, Any]
    links: dict[str, str]


class StatsOut(BaseModel):
    count: int
    mean: float
    std: float


class AggregateOut(BaseModel):
    scope: str
    assets: int
    scores: dict[str, StatsOut]


class CompareOut(BaseModel):
    assets: list[dict[str, Any]]
    winners: dict[str, str]
