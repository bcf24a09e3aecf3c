"""Compare 2-4 assets side by side, through the same comparison as GET /v1/compare."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ..api.deps import ServicesDep
from ..api.errors import ApiError
from ..api.routes.analytics import compare_assets
from ..api.routes.assets import _links
from ..services import Services
from .deps import PageUser
from .listing import Filters, list_library
from .templating import render

router = APIRouter()
MAX_COMPARED = 4


def _picture(services: Services, org: str, asset: str) -> dict[str, str]:
    """The heatmap to show for an asset: the image's overlay, or a video's heatmap and first keyframe."""
    item = services.repo.get_asset(org, asset) or {}
    version = str(item.get("result_version", ""))
    stored = services.repo.get_result(org, asset, version) if version else None
    if stored is None:
        return {}
    links = _links(services, org, asset, version, json.loads(stored["analysis"]))
    out = {"still": links.get("heatmap") or links.get("keyframe_1") or ""}
    video = next((v for k, v in links.items() if "video" in k or k.endswith("_mp4")), None)
    if video:
        out["video"] = video
    return out


@router.get("/compare", response_class=HTMLResponse)
def compare(
    request: Request,
    principal: PageUser,
    services: ServicesDep,
    ids: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006 - FastAPI copies defaults
) -> HTMLResponse:
    ctx: dict[str, Any] = {"title": "Compare", "active": "compare", "ids": ids}
    if len(ids) < 2 or len(ids) > MAX_COMPARED:
        if ids:
            ctx["error"] = f"Pick 2 to {MAX_COMPARED} assets (you picked {len(ids)})."
        ctx["choices"] = list_library(services, principal.org, Filters(status="done"), limit=48).items
        return render(request, "compare.html", ctx, 422 if ids else 200)
    try:
        result = compare_assets(services, principal, ids)
    except ApiError as exc:
        ctx["error"] = exc.message
        ctx["choices"] = list_library(services, principal.org, Filters(status="done"), limit=48).items
        return render(request, "compare.html", ctx, exc.status)
    rows = result["assets"]
    for r in rows:
        r["picture"] = _picture(services, principal.org, r["asset"])
    metrics = sorted(set().union(*(r["scores"] for r in rows)))
    aois = sorted(set().union(*(r["attention"] for r in rows)))
    ctx.update({"rows": rows, "winners": result["winners"], "metrics": metrics, "aois": aois})
    return render(request, "compare.html", ctx)
