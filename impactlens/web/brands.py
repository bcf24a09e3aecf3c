"""Brand and campaign views (stream-maintained aggregates and what the assets show), the
printable campaign report, and creating brands and campaigns."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..api.deps import ServicesDep
from ..api.errors import ApiError
from ..api.routes.analytics import scope_stats
from ..api.routes.assets import delete as delete_api_asset
from ..db.repository import ConflictError
from ..services import Services
from .deps import AdminPage, Form, PageNotFound, PageUser
from .insights import best_and_worst, distribution, over_time
from .library import SLUG, catalog
from .listing import SORT_ALL_LIMIT, scope_assets
from .templating import render

router = APIRouter()
Slug = Annotated[str, Path(max_length=63, pattern=SLUG)]


def slugify(name: str) -> str:
    """The id in the URL: accents dropped (Rösterei -> rosterei); a name with no Latin letter or
    digit (コーヒー) gets one from its hash instead of being refused."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.casefold()).strip("-_")[:63].strip("-_")
    if slug or not name.strip():
        return slug
    return "x-" + hashlib.sha256(name.strip().encode()).hexdigest()[:10]


def _scope(services: Services, org: str, brand: str, campaign: str | None) -> dict[str, Any]:
    b = services.repo.get_brand(org, brand)
    c = services.repo.get_campaign(org, brand, campaign) if campaign else None
    if b is None or (campaign and c is None):
        what = f"campaign {brand}/{campaign}" if campaign else f"brand {brand}"
        raise PageNotFound(f"There is no {what}.")
    assets = scope_assets(services, org, brand, campaign, SORT_ALL_LIMIT)
    count, stats = scope_stats(services, org, brand, campaign)
    best, worst = best_and_worst(assets)
    return {
        "brand": b,
        "campaign": c,
        "count": count,
        "stats": stats,
        "assets": assets,
        "bins": distribution(assets),
        "best": best,
        "worst": worst,
        "trend": over_time(assets),
    }


def _refused(request: Request, title: str, message: str, status: int) -> HTMLResponse:
    return render(request, "error.html", {"title": title, "message": message}, status)


@router.get("/brands", response_class=HTMLResponse)
def brands(request: Request, principal: PageUser, services: ServicesDep) -> HTMLResponse:
    rows = []
    for b in catalog(services, principal.org):
        count, stats = scope_stats(services, principal.org, b["brand"], None)
        rows.append({**b, "count": count, "mem": stats.get("memorability")})
    count, stats = scope_stats(services, principal.org, None, None)
    ctx = {"title": "Brands", "active": "brands", "rows": rows, "count": count, "stats": stats}
    return render(request, "brands.html", ctx)


@router.get("/brands/{brand}", response_class=HTMLResponse)
def brand_view(brand: Slug, request: Request, principal: PageUser, services: ServicesDep) -> HTMLResponse:
    ctx = _scope(services, principal.org, brand, None)
    ctx["campaigns"] = []
    for c in services.repo.list_campaigns(principal.org, brand, limit=1000).items:
        count, stats = scope_stats(services, principal.org, brand, c["campaign"])
        ctx["campaigns"].append({**c, "count": count, "mem": stats.get("memorability")})
    return render(request, "scope.html", {**ctx, "title": ctx["brand"]["name"], "active": "brands"})


@router.get("/brands/{brand}/campaigns/{campaign}", response_class=HTMLResponse)
def campaign_view(
    brand: Slug, campaign: Slug, request: Request, principal: PageUser, services: ServicesDep
) -> HTMLResponse:
    ctx = _scope(services, principal.org, brand, campaign)
    ctx["targets"] = [
        (b, c) for b in catalog(services, principal.org) for c in b["campaigns"]
        if (b["brand"], c["campaign"]) != (brand, campaign)
    ]
    ctx["moved"] = request.query_params.get("moved")
    ctx["deleted"] = "deleted" in request.query_params  # no name echoed: a link could carry any text
    return render(request, "scope.html", {**ctx, "title": ctx["campaign"]["name"], "active": "brands"})


@router.get("/brands/{brand}/campaigns/{campaign}/report", response_class=HTMLResponse)
def campaign_report(
    brand: Slug, campaign: Slug, request: Request, principal: PageUser, services: ServicesDep
) -> HTMLResponse:
    ctx = _scope(services, principal.org, brand, campaign)
    ctx["by_score"] = sorted(ctx["assets"], key=lambda a: -float(a.get("scores", {}).get("memorability", -1)))
    return render(request, "campaign_report.html", {**ctx, "title": f"Report: {ctx['campaign']['name']}"})


@router.post("/brands")
def create_brand(request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> Any:
    name = form.get("name", "").strip()[:100]
    if not name:
        return _refused(request, "Brand not created", "A brand needs a name.", 422)
    try:
        item = services.repo.create_brand(principal.org, slugify(name), name)
    except ConflictError:
        return _refused(request, "Brand not created", f"There is already a brand called “{name}” (or one whose name "
                        "reads the same in a web address). Pick another name, or use the existing brand.", 409)
    except ValueError:
        return _refused(request, "Brand not created", f"“{name}” cannot be used as a brand name.", 422)
    return RedirectResponse(f"/library?brand={item['brand']}", status_code=303)


@router.post("/campaigns")
def create_campaign(request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> Any:
    brand, name = form.get("brand", ""), form.get("name", "").strip()[:100]
    b = services.repo.get_brand(principal.org, brand)
    if b is None:
        return _refused(request, "Campaign not created", "That brand no longer exists; reload the library.", 404)
    if not name:
        return _refused(request, "Campaign not created", "A campaign needs a name.", 422)
    try:
        item = services.repo.create_campaign(principal.org, brand, slugify(name), name)
    except ConflictError:
        return _refused(request, "Campaign not created", f"{b['name']} already has a campaign called “{name}” (or one "
                        "whose name reads the same in a web address). Pick another name.", 409)
    except ValueError:
        return _refused(request, "Campaign not created", f"“{name}” cannot be used as a campaign name.", 422)
    return RedirectResponse(f"/library?brand={brand}&campaign={item['campaign']}", status_code=303)


@router.post("/assets/{asset}/move")
def move_asset(asset: str, request: Request, principal: PageUser, services: ServicesDep, form: Form) -> Any:
    """The same move as POST /v1/assets/{id}/move; back to the campaign it left."""
    item = services.repo.get_asset(principal.org, asset)
    if item is None:
        raise PageNotFound("There is no such asset.")
    brand, campaign = (form.get("target", "") + "/").split("/")[:2]
    if services.repo.get_campaign(principal.org, brand, campaign) is None:
        return _refused(request, "Not moved", "That campaign no longer exists; reload the page and pick another.", 404)
    services.repo.move_asset(principal.org, asset, brand, campaign)
    back = f"/brands/{item['brand']}/campaigns/{item['campaign']}?moved={asset}"
    return RedirectResponse(back, status_code=303)


@router.post("/assets/{asset}/delete")
def delete_asset(asset: str, principal: PageUser, services: ServicesDep, form: Form) -> Any:
    """The same delete as DELETE /v1/assets/{id} (record, results, files); back to its campaign.
    The form asks first (data-confirm): nothing can bring an asset back."""
    item = services.repo.get_asset(principal.org, asset)
    if item is None:
        raise PageNotFound("There is no such asset in your organisation. It may have been deleted.")
    try:
        delete_api_asset(asset, principal, services)
    except ApiError as exc:  # deleted meanwhile by another request
        raise PageNotFound("There is no such asset in your organisation. It may have been deleted.") from exc
    back = f"/brands/{item['brand']}/campaigns/{item['campaign']}?deleted=1"
    return RedirectResponse(back, status_code=303)
