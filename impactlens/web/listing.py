"""The library's listing: the repository's GSI1 key range (newest first) plus the filters the
key cannot express (kind, status, name search), and sorting by score.

Everything a card shows is on the asset item itself (scores, status, best AOI share), so a
page of cards costs one query, never a read per card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..db.table import Item
from ..services import Services

PAGE = 24
SCAN_LIMIT = 2000  # items examined per request when filters are sparse; the cursor continues
SORT_ALL_LIMIT = 5000  # sorting by score reads the whole scope, up to this many assets
IN_PROGRESS = ("created", "awaiting_upload", "queued", "processing")


@dataclass
class Filters:
    brand: str | None = None
    campaign: str | None = None
    kind: str | None = None
    status: str | None = None
    q: str | None = None
    sort: str = "date"

    def matches(self, item: Item) -> bool:
        if self.kind and item.get("kind") != self.kind:
            return False
        if self.status:
            wanted = IN_PROGRESS if self.status == "analysing" else (self.status,)
            if item.get("status") not in wanted:
                return False
        return not self.q or self.q.casefold() in str(item.get("name") or "").casefold()

    @property
    def post_filtered(self) -> bool:
        return bool(self.kind or self.status or self.q)


@dataclass
class Listing:
    items: list[Item]
    cursor: str | None = None  # the repository's cursor for the next page (sort by date)
    offset: int | None = None  # the next offset (sort by score)
    total: int | None = None
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def memorability(item: Item) -> float:
    try:
        return float(item.get("scores", {}).get("memorability", -1.0))
    except (TypeError, ValueError):
        return -1.0


def scope_assets(services: Services, org: str, brand: str | None, campaign: str | None, cap: int) -> list[Item]:
    """Every asset of the organisation, brand or campaign (newest first), at most ``cap``."""
    out: list[Item] = []
    cursor = None
    while len(out) < cap:
        page = services.repo.list_assets(org, brand, campaign, limit=min(500, cap - len(out)), cursor=cursor)
        out.extend(page.items)
        cursor = page.cursor
        if not cursor:
            break
    return out


def list_library(
    services: Services, org: str, f: Filters, cursor: str | None = None, offset: int = 0, limit: int = PAGE
) -> Listing:
    if f.sort == "score":
        everything = scope_assets(services, org, f.brand, f.campaign, SORT_ALL_LIMIT)
        matching = sorted((i for i in everything if f.matches(i)), key=memorability, reverse=True)
        page = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        return Listing(page, offset=offset + limit if more else None, total=len(matching),
                       truncated=len(everything) >= SORT_ALL_LIMIT)
    if not f.post_filtered:
        p = services.repo.list_assets(org, f.brand, f.campaign, limit=limit, cursor=cursor)
        return Listing(p.items, cursor=p.cursor)
    # Filtered: walk whole repository pages (so the cursor stays the API's), keep the matches.
    items: list[Item] = []
    scanned = 0
    while True:
        p = services.repo.list_assets(org, f.brand, f.campaign, limit=limit, cursor=cursor)
        items.extend(i for i in p.items if f.matches(i))
        scanned += len(p.items)
        cursor = p.cursor
        if not cursor or len(items) >= limit or scanned >= SCAN_LIMIT:
            break
    return Listing(items, cursor=cursor, truncated=scanned >= SCAN_LIMIT and cursor is not None)


# The pipeline's steps in the order they run, in words, with what they count and their share of
# the overall figure (sampling frames and scoring chunks are the long ones; they overlap).
STEPS: tuple[tuple[str, str, str, float], ...] = (
    ("probe", "Reading the file", "", 0.05),
    ("prepare", "Sampling frames", "frames", 0.45),
    ("analyse", "Scoring memorability and attention", "chunks", 0.45),
    ("merge", "Putting the results together", "", 0.05),
)


def progress_overview(steps: Any) -> dict[str, Any]:
    """A job's reported steps ({name: [done, total]}) as ordered rows in words and one overall
    fraction: a weighted mean over the pipeline's steps (a step not reported yet counts 0), so
    800 frames do not outweigh 4 chunks and the figure does not jump back when a step starts."""
    reported = {k: v for k, v in (steps or {}).items() if isinstance(v, list | tuple) and len(v) == 2}
    known = {name: (label, unit, weight) for name, label, unit, weight in STEPS}
    rows = []
    for name in [n for n, *_ in STEPS if n in reported] + sorted(set(reported) - set(known)):
        done, total = int(reported[name][0]), int(reported[name][1])
        label, unit, _ = known.get(name, (name.replace("_", " ").capitalize(), "", 0.0))
        rows.append({"name": name, "label": label, "unit": unit, "done": done, "total": total,
                     "pct": round(100 * done / total) if total else 0})

    def fraction(n: str) -> float:
        done, total = int(reported[n][0]), int(reported[n][1])
        return min(1.0, done / total) if total else 0.0

    if any(n in known for n in reported):
        overall = sum(w * fraction(n) for n, _, _, w in STEPS if n in reported) / sum(w for *_, w in STEPS)
    else:
        overall = sum(fraction(n) for n in reported) / len(reported) if reported else 0.0
    return {"rows": rows, "overall": overall}


def job_progress(services: Services, item: Item) -> float | None:
    """0..1 while a job runs (from the job's reported steps), else None."""
    if item.get("status") not in ("queued", "processing") or not item.get("job"):
        return None
    job = services.repo.get_job(str(item["job"])) or {}
    return float(progress_overview(job.get("progress"))["overall"])
