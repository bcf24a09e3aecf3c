"""Jinja2 rendering for the pages (autoescape on: every name a user typed is escaped)."""

from __future__ import annotations

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
    try:
        return f"{float(value) * 100:.0f}%" if float(value) <= 1 else f"{float(value):.0f}%"
    except (TypeError, ValueError):
        return "–"


def _fmt_time(value: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(value)))
    except (TypeError, ValueError):
        return ""


env.filters["score"] = _fmt_score
env.filters["pct"] = _fmt_pct
env.filters["when"] = _fmt_time


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
