"""Page dependencies: the signed-in user from the session cookie, the Admin role, form tokens."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from ..accounts import Principal
from ..accounts.service import AuthError
from ..api.deps import SESSION_COOKIE, ServicesDep
from .csrf import TOKEN_FIELD, TOKEN_HEADER, token_ok


class LoginRequired(Exception):
    """Not signed in: a page answers with a redirect to /login, a fragment (htmx, media,
    thumbnails) with 401 (handled in mount_web): a redirect would swap the sign-in page into a
    card, or hand an <img> an HTML page."""

    def __init__(self, next_url: str, fragment: bool = False) -> None:
        super().__init__(next_url)
        self.next_url, self.fragment = next_url, fragment


class PageForbidden(Exception):
    """Signed in without the needed role: a 403 page."""


class PageNotFound(Exception):
    """A missing (or another organisation's) object: a 404 page."""


class BadForm(Exception):
    """A form without a valid token (or another refused page request): a 403/400 page."""


def _next(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(path, safe='')}"


async def page_user(request: Request, services: ServicesDep) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(_next(request))
    try:
        principal = services.accounts.authenticate_session(token)
    except AuthError:
        raise LoginRequired(_next(request)) from None
    request.state.principal = principal
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


async def fragment_user(request: Request, services: ServicesDep) -> Principal:
    try:
        return await page_user(request, services)
    except LoginRequired as exc:
        raise LoginRequired(exc.next_url, fragment=True) from None


FragmentUser = Annotated[Principal, Depends(fragment_user)]


async def admin_page(principal: PageUser) -> Principal:
    if not principal.is_admin:
        raise PageForbidden("this page needs the Admin role")
    return principal


AdminPage = Annotated[Principal, Depends(admin_page)]


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings, after checking its CSRF token (field or header)."""
    form = await request.form()
    sent = form.get(TOKEN_FIELD) or request.headers.get(TOKEN_HEADER)
    if not token_ok(request.cookies.get(SESSION_COOKIE), str(sent) if sent else None):
        raise BadForm("the form has expired or did not come from this site; reload the page and try again")
    return {k: v for k, v in form.items() if isinstance(v, str)}


Form = Annotated[dict[str, str], Depends(checked_form)]
