"""Jinja2 rendering for the pages (autoescape on: every name a user typed is escaped)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..accounts import Principal
from ..api.deps import SESSION_COOKIE
from ..services import Services
from .csrf import csrf_token
from .listing import progress_overview

TEMPLATES = Path(__file__).parent / "templates"
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml", "svg"], default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

NAV = (
    ("library", "Library", "/library", False),
    ("upload", "Upload", "/upload", False),
    ("brands", "Brands", "/brands", False),
    ("compare", "Compare", "/compare", False),
    ("admin", "Admin", "/admin", True),
)


def _fmt_score(value: Any, digits: int = 2) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "–"


def _fmt_pct(value: Any) -> str:
    """A share as a percentage with one decimal, as the asset page shows it (0.4% is not 0%)."""
    try:
        return f"{float(value) * 100:.1f}%" if float(value) <= 1 else f"{float(value):.1f}%"
    except (TypeError, ValueError):
        return "–"


def ordinal(percentile: float) -> str:
    """'99th' for 99.9: floored, so only an asset above the whole reference set reads 100th."""
    n = int(math.floor(percentile))
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fmt_percentile(value: Any) -> str:
    try:
        return ordinal(float(value))
    except (TypeError, ValueError, OverflowError):
        return "–"


# The scores kept per asset and in the aggregates, in the order they are shown, with the words a
# creative team reads (the stored keys are the API's) and how each is formatted.
SCORES: dict[str, tuple[str, str, str]] = {
    "memorability": ("Memorability", "score", "predicted chance a viewer remembers it after one look (0 to 1)"),
    "memorability_percentile": (
        "Percentile", "percentile", "rank against 500 everyday scene photographs (50th is typical)"
    ),
    "memorability_first_3s": ("Memorability, first 3 s", "score", "videos only: the mean over the opening 3 seconds"),
}


def score_order(keys: Any) -> list[str]:
    """Known scores first in SCORES order, then any other key alphabetically."""
    return sorted(keys, key=lambda k: (list(SCORES).index(k) if k in SCORES else len(SCORES), k))


def _score_label(key: str) -> str:
    return SCORES[key][0] if key in SCORES else key.replace("_", " ").capitalize()


def _score_hint(key: str) -> str:
    return SCORES[key][2] if key in SCORES else ""


def _fmt_metric(value: Any, key: str) -> str:
    """A score as its kind reads: 0.73 for a probability, 74th for a percentile."""
    kind = SCORES[key][1] if key in SCORES else "score"
    return _fmt_percentile(value) if kind == "percentile" else _fmt_score(value)


def _fmt_spread(value: Any, key: str) -> str:
    """A standard deviation in the score's unit (percentile points for a percentile)."""
    kind = SCORES[key][1] if key in SCORES else "score"
    try:
        return f"±{float(value):.0f} pts" if kind == "percentile" else f"±{float(value):.2f}"
    except (TypeError, ValueError):
        return "–"


def _fmt_bytes(value: Any) -> str:
    """1.5 GB, 50 MB, 980 KB: binary units, as file managers show sizes."""
    try:
        n = float(value)
    except (TypeError, ValueError):
        return "–"
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" or n >= 10 or n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    return "–"  # not reached


def _fmt_time(value: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(value)))
    except (TypeError, ValueError):
        return ""


env.globals["progress_overview"] = progress_overview
env.filters["score"] = _fmt_score
env.filters["pct"] = _fmt_pct
env.filters["when"] = _fmt_time
env.filters["percentile"] = _fmt_percentile
env.filters["bytes"] = _fmt_bytes
env.filters["metric"] = _fmt_metric
env.filters["spread"] = _fmt_spread
env.filters["score_label"] = _score_label
env.filters["score_hint"] = _score_hint
env.filters["score_order"] = score_order


def org_summary(services: Services, org: str) -> dict[str, Any]:
    """Name, plan and this month's usage, shown in every page's header."""
    item = services.repo.get_org(org) or {}
    month = time.strftime("%Y-%m", time.gmtime(services.clock()))
    usage = services.table.get(f"ORG#{org}", f"USAGE#{month}") or {}
    return {
        "org": org,
        "name": item.get("name", org),
        "plan": item.get("plan", "free"),
        "month": month,
        "analyses": int(usage.get("analyses", 0)),
    }


def render(request: Request, name: str, ctx: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """A full page (or an htmx fragment): the template plus the shared context."""
    services: Services = request.app.state.services
    principal: Principal | None = getattr(request.state, "principal", None)
    context: dict[str, Any] = {
        "request": request,
        "principal": principal,
        "csrf_token": csrf_token(request.cookies.get(SESSION_COOKIE)),
        "nav": [n for n in NAV if not n[3] or (principal is not None and principal.is_admin)],
        "org": org_summary(services, principal.org) if principal else None,
        "user": services.repo.get_user(principal.org, principal.user) if principal and principal.user else None,
        "active": "",
    }
    context.update(ctx or {})
    return HTMLResponse(env.get_template(name).render(context), status_code=status)
