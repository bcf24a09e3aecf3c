"""Cross-site request protection for cookie-authenticated state changes.

SameSite=strict keeps the session cookie off cross-*site* requests, but another origin on the
same site (another port, a sibling sub-domain) still gets it sent. So every unsafe request that
carries the session cookie, and every unsafe page request (the login form has no cookie yet),
must come from our own origin (Origin, else Referer). Forms and htmx also carry a token derived
from the session, which a page on another origin cannot read. API keys are not affected: a
browser never attaches them on its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..api.deps import SESSION_COOKIE

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_FIELD = "csrf_token"  # noqa: S105 - a form field name, not a secret
TOKEN_HEADER = "x-csrf-token"  # noqa: S105


def csrf_token(session: str | None) -> str:
    """A token bound to the session; empty without one (the login form relies on Origin)."""
    if not session:
        return ""
    return hmac.new(session.encode(), b"impactlens-csrf", hashlib.sha256).hexdigest()[:32]


def token_ok(session: str | None, sent: str | None) -> bool:
    return bool(session) and bool(sent) and hmac.compare_digest(csrf_token(session), str(sent))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def allowed_origins(request: Request, public_url: str, extra: Iterable[str]) -> set[str]:
    own = {_origin(public_url), f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    return own | {o.rstrip("/").lower() for o in extra}


class CsrfMiddleware:
    """Refuses unsafe cookie requests from another origin before any route runs."""

    def __init__(self, app: ASGIApp, public_url: str, trusted: list[str]) -> None:
        self.app, self.public_url, self.trusted = app, public_url, trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        api = request.url.path.startswith("/v1/")
        by_key = "authorization" in request.headers or "x-api-key" in request.headers
        by_cookie = SESSION_COOKIE in request.cookies and not by_key
        if not by_cookie and api:
            await self.app(scope, receive, send)
            return
        sent = request.headers.get("origin") or _origin(request.headers.get("referer", ""))
        if not sent and api:
            # Browsers always send Origin on cross-origin unsafe requests; a caller without
            # one (curl, a test client holding the cookie) is not a browser being tricked.
            await self.app(scope, receive, send)
            return
        if sent.lower() not in allowed_origins(request, self.public_url, self.trusted):
            # A browser form navigation gets words; every other caller gets the API's JSON error.
            page = not api and "text/html" in request.headers.get("accept", "")
            await _refuse(not page, scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _refuse(as_json: bool, scope: Scope, receive: Receive, send: Send) -> None:
    message = "cross-origin request refused: it did not come from this site"
    response: Response
    if as_json:
        response = JSONResponse({"error": {"code": "csrf_refused", "message": message}}, 403)
    else:
        response = PlainTextResponse(message, 403)
    await response(scope, receive, send)
