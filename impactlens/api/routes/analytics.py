"""Aggregates (read from the stream-maintained items, never recomputed) and comparisons."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ...accounts import Principal
from ...db.aggregates import Stats, read_stats
from ...services import Services
from ..deps import Caller, ServicesDep
from ..errors import ApiError, not_found
from ..schemas import AggregateOut, CompareOut, StatsOut

router = APIRouter(prefix="/v1", tags=["analytics"])


@router.get("/aggregates", response_model=AggregateOut, responses={401: {}, 404: {}, 422: {}})
async def aggregates(
    principal: Caller,
    services: ServicesDep,
    brand: Annotated[str | None, Query(max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = None,
    campaign: Annotated[str | None, Query(max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = None,
) -> Any:
    """count, mean and std of each score for the organisation, a brand or a campaign."""
    if campaign and not brand:
        raise ApiError(422, "invalid_request", "campaign needs brand")
    if brand and services.repo.get_brand(principal.org, brand) is None:
        raise not_found("brand", brand)
    if campaign and services.repo.get_campaign(principal.org, str(brand), campaign) is None:
        raise not_found("campaign", f"{brand}/{campaign}")
    count, stats = scope_stats(services, principal.org, brand, campaign)
    scope = "organisation" if not brand else (f"campaign {brand}/{campaign}" if campaign else f"brand {brand}")
    return AggregateOut(
        scope=scope,
        assets=count,
        scores={k: StatsOut(count=v.count, mean=v.mean, std=v.std) for k, v in stats.items()},
    )


def scope_stats(services: Services, org: str, brand: str | None, campaign: str | None) -> tuple[int, dict[str, Stats]]:
    """The stream-maintained asset count and per-score stats of an organisation, brand or campaign."""
    sk = "AGG#ORG" if not brand else f"AGG#BRAND#{brand}" + (f"#CAMPAIGN#{campaign}" if campaign else "")
    item = services.table.get(f"ORG#{org}", sk)
    return int((item or {}).get("count", 0)), read_stats(item)


@router.get("/compare", response_model=CompareOut, responses={401: {}, 404: {}, 409: {}, 422: {}})
async def compare(
    principal: Caller,
    services: ServicesDep,
    ids: Annotated[list[str], Query(min_length=2, max_length=10, description="two to ten asset ids")],
) -> Any:
    """Scores and AOI shares side by side, and which asset wins on each."""
    return CompareOut(**compare_assets(services, principal, ids))


def compare_assets(services: Services, principal: Principal, ids: list[str]) -> dict[str, Any]:
    """The comparison behind /v1/compare and the dashboard's compare page (ApiError if refused)."""
    if len(set(ids)) != len(ids):
        raise ApiError(422, "invalid_request", "the asset ids must be distinct")
    rows = []
    for asset in ids:
        item = services.repo.get_asset(principal.org, asset)
        if item is None:
            raise not_found("asset", asset)
        version = item.get("result_version")
        stored = services.repo.get_result(principal.org, asset, str(version)) if version else None
        if stored is None:
            raise ApiError(409, "not_ready", f"asset {asset} has no results yet")
        analysis = json.loads(stored["analysis"])
        shares = {}
        for a in analysis.get("attention", []):
            shares[a["name"]] = a["share"] if "share" in a else a["whole"]
        rows.append(
            {
                "asset": asset,
                "name": item.get("name"),
                "kind": item["kind"],
                "scores": item.get("scores", {}),
                "attention": shares,
            }
        )
    winners: dict[str, str] = {}
    for metric in sorted(set.intersection(*(set(r["scores"]) for r in rows))):
        winners[metric] = max(rows, key=lambda r: r["scores"][metric])["asset"]
    for aoi in sorted(set.intersection(*(set(r["attention"]) for r in rows))):
        winners[f"attention:{aoi}"] = max(rows, key=lambda r: r["attention"][aoi])["asset"]
    return {"assets": rows, "winners": winners}
