"""A campaign's assets as CSV (scores and attention share per AOI), for a spreadsheet.

The rows are what the campaign view lists (the asset items, one key-range query) plus, for the
analysed ones, the stored result's attention per AOI (one read each): the same numbers as
/v1/assets/{id}/results, never recomputed here.

Its work grows with the campaign, so it is paid for in export tokens (web/deps.py charge_pages),
each charged before the reads it pays for: the page's own token covers the first listing page
(``LIST_PAGE`` assets) and the first ``RESULTS_PER_TOKEN`` results; every further listing page
is one token, every further ``RESULTS_PER_TOKEN`` results one more, all taken before the first
result is read. A refused export (429) has read no result; a large one leaves the organisation
a debt its next pages wait out, so exports cannot read results faster than the plan's page rate
allows (``RESULTS_PER_TOKEN`` per page token).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from ..api.deps import ServicesDep
from ..db.table import Item
from ..services import Services
from .deps import PageNotFound, PageUser, charge_pages
from .library import SLUG

router = APIRouter()
Slug = Annotated[str, Path(max_length=63, pattern=SLUG)]
SCORE_COLUMNS = ("memorability", "memorability_percentile", "memorability_first_3s")
# A cell starting with one of these is a formula to Excel or LibreOffice: names are users' text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LIST_PAGE = 500  # assets per listing query (one page token each past the first)
# Results read and parsed per page token. A result is two reads and a JSON parse of up to
# 400 KB (a long video's timeline). Measured on SQLite: a /brands page ~6-7 ms; a row with a
# small result ~0.3 ms, with a 186 KB one ~4.4 ms. Ten rows: half a page to six pages of work.
RESULTS_PER_TOKEN = 10


# A formula character right after a separator: a cell of its own when the file is read with
# another list separator than ',' (';' in most of Europe, where quoting does not protect it).
AFTER_SEPARATOR = re.compile(r"([;,\t])(?=[=+\-@\t\r])")


def _cell(value: Any) -> str:
    text = AFTER_SEPARATOR.sub(r"\1'", "" if value is None else str(value))
    return "'" + text if text.startswith(FORMULA_START) else text


def _number(value: Any, digits: int) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return ""


def _attention(services: Services, org: str, item: Item) -> dict[str, dict[str, float]]:
    """Per user AOI: 'share' (an image's share, a video's whole-video share) and, for a video,
    'first_3s'. Empty while the asset has no result."""
    version = item.get("result_version")
    stored = services.repo.get_result(org, item["asset"], str(version)) if version else None
    if stored is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    for a in json.loads(stored["analysis"]).get("attention", []):
        shares = {"share": a["share"] if "share" in a else a.get("whole")}
        if "first_3s" in a:
            shares["first_3s"] = a["first_3s"]
        out[str(a["name"])] = shares
    return out


def all_assets(
    services: Services, org: str, brand: str, campaign: str, charge: Callable[[int], None] = lambda n: None
) -> list[Item]:
    """Every asset of the campaign, page after page to the end: the export has no cap (the
    views' SORT_ALL_LIMIT would drop rows past 5,000 without a word). ``charge(1)`` is called
    before each listing page after the first (it raises to stop)."""
    out: list[Item] = []
    cursor = None
    while True:
        if cursor:
            charge(1)
        page = services.repo.list_assets(org, brand, campaign, limit=LIST_PAGE, cursor=cursor)
        out.extend(page.items)
        cursor = page.cursor
        if not cursor:
            return out


def campaign_csv(
    services: Services, org: str, brand: str, campaign: str, charge: Callable[[int], None] = lambda n: None
) -> str:
    """``charge(n)`` takes n export tokens (or raises) before the work they pay for."""
    assets = all_assets(services, org, brand, campaign, charge)
    analysed = sum(1 for a in assets if a.get("result_version"))
    charge(max(0, math.ceil(analysed / RESULTS_PER_TOKEN) - 1))  # the page's own token paid the first ones
    attention = {a["asset"]: _attention(services, org, a) for a in assets}
    names = sorted({n for shares in attention.values() for n in shares})
    timed = sorted({n for shares in attention.values() for n, s in shares.items() if "first_3s" in s})
    base = services.settings.public_url.rstrip("/")  # the page column: one click from a cell to the asset
    out = io.StringIO()
    # The BOM lets Excel read the file as UTF-8 (asset names are often not ASCII).
    out.write("\ufeff")
    # Every cell quoted: where the list separator is ';' (Excel across most of Europe) an unquoted
    # name like 'Q4;=1+1;' would split into cells, one of them a live formula.
    w = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    w.writerow(
        ["asset", "name", "kind", "status", "uploaded_utc", *SCORE_COLUMNS, "best_aoi", "best_aoi_share", "page"]
        + [f"share_{n}" for n in names]
        + [f"share_first_3s_{n}" for n in timed]
    )
    for a in assets:
        scores, best, shares = a.get("scores") or {}, a.get("best_aoi") or {}, attention[a["asset"]]
        uploaded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(a.get("created_at", 0))))
        w.writerow(
            [a["asset"], _cell(a.get("name")), a.get("kind", ""), a.get("status", ""), uploaded]
            + [_number(scores.get(k), 1 if k.endswith("percentile") else 4) for k in SCORE_COLUMNS]
            + [_cell(best.get("name")), _number(best.get("share"), 4), f"{base}/assets/{a['asset']}"]
            + [_number(shares.get(n, {}).get("share"), 4) for n in names]
            + [_number(shares.get(n, {}).get("first_3s"), 4) for n in timed]
        )
    return out.getvalue()


@router.get("/brands/{brand}/campaigns/{campaign}/export.csv")
def campaign_export(
    brand: Slug, campaign: Slug, request: Request, principal: PageUser, services: ServicesDep
) -> Response:
    """Every asset of one of the caller's organisation's campaigns; another organisation's
    campaign reads exactly like a missing one (404). Over the page limit: 429 (PageThrottled)."""
    if services.repo.get_campaign(principal.org, brand, campaign) is None:
        raise PageNotFound(f"There is no campaign {brand}/{campaign}.")
    body = campaign_csv(services, principal.org, brand, campaign, lambda n: charge_pages(request, principal, n))
    filename = f"{brand}-{campaign}-assets.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"}
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)
