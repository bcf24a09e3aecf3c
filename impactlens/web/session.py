"""Sign in and out with the same session cookie as POST /v1/auth/login."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..api.deps import SESSION_COOKIE, ServicesDep
from ..api.errors import ApiError
from ..api.routes.accounts import LOCKED_MESSAGE, open_session
from .deps import Form as CheckedForm
from .deps import anonymous_page
from .templating import render

router = APIRouter(dependencies=[Depends(anonymous_page)])  # counted per client address


SAME_SITE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]*")  # printable ASCII, no space or control


def _safe_next(value: str | None) -> str:
    """Only a path on this site. "//evil.example", "/\\evil.example" (browsers read "\\" as "/"),
    "https:evil" and a tab or newline inside "//" (browsers drop them) would all leave it;
    percent-encoded slashes are refused too, for whatever decodes the path later."""
    if not value or not SAME_SITE_PATH.fullmatch(value) or "\\" in value:
        return "/library"
    decoded = unquote(value)
    if decoded.startswith(("//", "/\\")) or "\\" in decoded or any(ord(c) < 0x20 or c == "\x7f" for c in decoded):
        return "/library"
    return value


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/library", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", {"next": _safe_next(next), "title": "Sign in"})


@router.post("/login", response_model=None)
def login(
    request: Request,
    services: ServicesDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/library",
) -> Response:
    target = _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    try:
        open_session(request, response, services, email, password)
    except ApiError as exc:
        ctx = {"next": target, "email": email, "error": _login_message(exc), "title": "Sign in"}
        page = render(request, "login.html", ctx, exc.status if exc.status in (429, 503) else 401)
        page.headers.update(exc.headers)  # Retry-After
        return page
    return response


def _login_message(exc: ApiError) -> str:
    if exc.message == LOCKED_MESSAGE:
        minutes = max(1, -(-int(exc.headers.get("Retry-After", "60")) // 60))
        return (
            "Too many failed sign-ins for this account. Try again in about "
            f"{minutes} minute{'s' if minutes > 1 else ''}, or sign in from a browser you have used before."
        )
    if exc.status in (429, 503):  # throttled per address, or every password check slot taken
        return "Too many sign-in attempts; wait a few seconds."
    return "Wrong email or password."


@router.post("/logout")
def logout(request: Request, services: ServicesDep, form: CheckedForm) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.accounts.logout(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
