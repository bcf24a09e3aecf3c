"""An asset's areas of interest: checked against the analysed frame, stored, and with results
present the attention shares recounted from the stored saliency."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter

from ...accounts import Principal
from ...db.repository import NotFoundError
from ...jobs.analysis import recompute_attention
from ...services import Services
from ..deps import Caller, ServicesDep
from ..errors import ApiError, not_found
from ..schemas import AoisIn, AssetOut
from .asset_views import NOT_FOUND, asset_out, own_asset

# No prefix or tags of its own: assets.router includes it under /v1/assets, tag "assets".
router = APIRouter()


def check_aois_fit(analysis: dict[str, Any], aois: list[Any]) -> None:
    """Refuses, before anything is stored, AOIs that could never count: a box wholly outside
    the frame, a time window starting at or after the end of the video; and tracks that do not
    fit the video: a box not even overlapping the frame, a time past its end, any track on an
    image (an image's AOI is one box)."""
    width, height = float(analysis["width"]), float(analysis["height"])
    duration = analysis.get("duration_s")  # a video's only
    for a in aois:
        if a.x >= width or a.y >= height:
            raise ApiError(422, "invalid_aoi", f"AOI {a.name} lies outside the {width:g}x{height:g} px frame")
        if duration is not None and a.start_s is not None and a.start_s >= float(duration):
            raise ApiError(
                422,
                "invalid_aoi",
                f"AOI {a.name} starts at {a.start_s:g} s, at or after the end of the video ({float(duration):g} s)",
            )
        if a.track and duration is None:
            raise ApiError(
                422, "invalid_aoi", f"AOI {a.name} has a track: tracks are for videos, an image's AOI is one box"
            )
        for i, p in enumerate(a.track or ()):
            if p.x >= width or p.y >= height or p.x + p.w <= 0 or p.y + p.h <= 0:
                raise ApiError(
                    422,
                    "invalid_aoi",
                    f"AOI {a.name}: track point {i} (t={p.t:g} s, box {p.x:g},{p.y:g},{p.w:g},{p.h:g}) "
                    f"does not overlap the {width:g}x{height:g} px frame",
                )
            if duration is not None and p.t > float(duration):
                raise ApiError(
                    422,
                    "invalid_aoi",
                    f"AOI {a.name}: track point {i} is at {p.t:g} s, "
                    f"after the end of the video ({float(duration):g} s)",
                )


@router.put("/{asset}/aois", response_model=AssetOut, responses={401: {}, 409: {}, 422: {}, **NOT_FOUND})
def set_aois(asset: str, body: AoisIn, principal: Caller, services: ServicesDep) -> Any:
    """Stores the AOIs; when results exist, recomputes the shares from the stored saliency.

    Without results the AOIs are stored for the running job to count, but only while the
    result is still absent: a job that finishes between this read and the write has already
    re-checked the AOIs, so then nothing is stored and the shares are recomputed instead."""
    aois = list(body.aois)
    for _ in range(3):
        item = own_asset(services, principal, asset)
        if item.get("result_version"):
            return _recount(services, principal, item, aois)
        dumped = [a.model_dump() for a in aois]
        try:
            stored = services.repo.update_asset_while_absent(
                principal.org, asset, {"aois": dumped}, absent=("result_version",)
            )
        except NotFoundError as exc:
            raise not_found("asset", asset) from exc
        if stored is not None:
            return asset_out(services, stored)
    raise ApiError(409, "conflict", "the asset's results changed meanwhile; send the AOIs again")


def _recount(services: Services, principal: Principal, item: dict[str, Any], aois: list[Any]) -> Any:
    asset = str(item["asset"])
    stored = services.repo.get_result(principal.org, asset, str(item["result_version"]))
    if stored is None:
        raise ApiError(409, "not_ready", f"no results yet: the asset is {item['status']}")
    check_aois_fit(json.loads(stored["analysis"]), aois)
    try:
        recompute_attention(services, principal.org, asset, aois)
    except LookupError as exc:  # deleted (404) or its result gone meanwhile: nothing was stored
        own_asset(services, principal, asset)
        raise ApiError(409, "not_ready", "the asset's results changed meanwhile; send the AOIs again") from exc
    return asset_out(services, own_asset(services, principal, asset))
