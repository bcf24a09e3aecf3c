"""The library: asset cards with filters, search, sort and cursor paging; live card status."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ..api.deps import ServicesDep
from ..db.table import InvalidCursorError
from ..services import Services
from .deps import FragmentUser, PageUser
from .listing import Filters, Listing, job_progress, list_library
from .templating import render

router = APIRouter()
SLUG = r"^[a-z0-9][a-z0-9_-]*$"
OPTIONAL_SLUG = r"^([a-z0-9][a-z0-9_-]*)?$"  # the filter form sends "" for "all"


def catalog(services: Services, org: str) -> list[dict[str, Any]]:
    """Brands with their campaigns, for filters and pickers."""
    brands = services.repo.list_brands(org, limit=1000).items
    for b in brands:
        b["campaigns"] = services.repo.list_campaigns(org, b["brand"], limit=1000).items
    return brands


def card(services: Services, item: dict[str, Any], place: str | None = None) -> dict[str, Any]:
    """What a card shows: the item, its job's progress, and where it lives ("Brand / Campaign")."""
    if place is None:  # one card on its own (the htmx poll): its names from two key reads
        b = services.repo.get_brand(item["org"], item["brand"]) or {}
        c = services.repo.get_campaign(item["org"], item["brand"], item["campaign"]) or {}
        place = f"{b.get('name', item['brand'])} / {c.get('name', item['campaign'])}"
    return {**item, "progress": job_progress(services, item), "place": place}


def places(brands: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {(b["brand"], c["campaign"]): f"{b['name']} / {c['name']}" for b in brands for c in b["campaigns"]}


@router.get("/library", response_class=HTMLResponse)
def library(
    request: Request,
    principal: PageUser,
    services: ServicesDep,
    brand: Annotated[str | None, Query(max_length=63, pattern=OPTIONAL_SLUG)] = None,
    campaign: Annotated[str | None, Query(max_length=63, pattern=OPTIONAL_SLUG)] = None,
    kind: Annotated[str | None, Query(pattern="^(image|video)?$")] = None,
    status: Annotated[str | None, Query(pattern="^(done|failed|analysing|awaiting_upload)?$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    sort: Annotated[str, Query(pattern="^(date|score)$")] = "date",
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> HTMLResponse:
    f = Filters(brand or None, (campaign or None) if brand else None, kind or None, status or None, q or None, sort)
    error = None
    try:
        listing = list_library(services, principal.org, f, cursor=cursor, offset=offset)
    except InvalidCursorError:
        listing, error = Listing([]), "This page link is no longer valid; showing the first page instead."
        listing = list_library(services, principal.org, f)
    base = {k: v for k, v in vars(f).items() if v and not (k == "sort" and v == "date")}
    nxt = None
    if listing.cursor:
        nxt = "/library?" + urlencode({**base, "cursor": listing.cursor})
    elif listing.offset is not None:
        nxt = "/library?" + urlencode({**base, "offset": listing.offset})
    brands = catalog(services, principal.org)
    names = places(brands)
    ctx = {
        "title": "Library",
        "active": "library",
        "f": f,
        "cards": [card(services, i, names.get((i["brand"], i["campaign"]), "")) for i in listing.items],
        "listing": listing,
        "next_url": nxt,
        "first_url": "/library?" + urlencode(base) if (cursor or offset) else None,
        "brands": brands,
        "error": error,
    }
    return render(request, "library.html", ctx)


@router.get("/library/cards/{asset}", response_class=HTMLResponse)
def card_fragment(asset: str, request: Request, principal: FragmentUser, services: ServicesDep) -> HTMLResponse:
    """One card, re-rendered while its analysis runs (htmx polls it until done or failed)."""
    item = services.repo.get_asset(principal.org, asset)
    if item is None:
        return HTMLResponse("", status_code=404)
    return render(request, "_card.html", {"a": card(services, item)})
