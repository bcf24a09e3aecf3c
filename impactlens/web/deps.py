"""Page dependencies: the signed-in user from the session cookie, the Admin role, form tokens,
and the pages' request limits.

Pages count like the API does, in the same buckets object (in process embedded, the table on
AWS) but under keys of their own, so an organisation's API traffic never locks its people out
of the dashboard: signed-in pages per organisation at its plan's rate; the requests a page makes
for itself (thumbnails, media, htmx polls) at ``FRAGMENT_FACTOR`` times that, since one library
page asks for 24 thumbnails at once; anonymous pages per client address. /static is a mount,
outside every limit, so a page that was answered always gets its styles and scripts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import PlainTextResponse, Response

from ..accounts import Principal, get_plan
from ..accounts.service import AuthError
from ..api.deps import SESSION_COOKIE, ServicesDep, get_buckets
from ..api.throttle import client_key, retry_after
from .csrf import TOKEN_FIELD, TOKEN_HEADER, token_ok
from .templating import render

FRAGMENT_FACTOR = 5


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


class PageThrottled(Exception):
    """Over a page limit: a readable 429 page (a fragment gets a line of text), with Retry-After."""

    def __init__(self, message: str, wait_s: float, fragment: bool) -> None:
        super().__init__(message)
        self.retry_after, self.fragment = retry_after(wait_s), fragment


def _take(request: Request, key: str, rate: float, burst: int, message: str, fragment: bool, cost: int = 1) -> None:
    wait = get_buckets(request).take(key, rate, burst, cost)
    if wait:
        raise PageThrottled(message, wait, fragment)


def _anonymous(request: Request, services: ServicesDep, fragment: bool) -> None:
    s = services.settings
    message = "Too many requests from your network address."
    _take(request, f"web:anon:{client_key(request)}", s.page_anon_rate_per_s, s.page_anon_burst, message, fragment)


async def anonymous_page(request: Request, services: ServicesDep) -> None:
    """The limit of pages anyone may open (sign-in), per client address."""
    _anonymous(request, services, False)


async def _user(request: Request, services: ServicesDep, fragment: bool) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        principal = services.accounts.authenticate_session(token) if token else None
    except AuthError:
        principal = None
    if principal is None:
        _anonymous(request, services, fragment)  # signed-out requests count per address
        raise LoginRequired(_next(request), fragment)
    _organisation(request, principal, fragment)
    request.state.principal = principal  # only now: a throttled page renders without reading the org
    return principal


def _organisation(request: Request, principal: Principal, fragment: bool) -> None:
    plan = get_plan(principal.plan)
    factor, kind = (FRAGMENT_FACTOR, "media") if fragment else (1, "page")
    rate = plan.requests_per_s * factor
    message = f"Your organisation's {plan.name} plan allows {rate:g} dashboard requests a second."
    _take(request, f"web:{kind}:{principal.org}", rate, plan.burst * factor, message, fragment)


def charge_pages(request: Request, principal: Principal, cost: int) -> None:
    """Takes ``cost`` tokens, at the plan's page rate, for a page whose work grows with what it
    reads (the CSV export): PageThrottled, before that work, when the bucket has not got
    ``tokens_needed(cost, burst)`` (at most half a burst); a cost above what is left is a debt
    that later exports wait out. A bucket of its own (``web:export:<org>``): in the pages'
    bucket, one member's export of a large campaign kept every other member's pages waiting."""
    if cost > 0:
        plan = get_plan(principal.plan)
        message = f"Your organisation's exports on the {plan.name} plan are paced: the last one was large."
        _take(request, f"web:export:{principal.org}", plan.requests_per_s, plan.burst, message, False, cost)


async def page_user(request: Request, services: ServicesDep) -> Principal:
    return await _user(request, services, False)


PageUser = Annotated[Principal, Depends(page_user)]


async def fragment_user(request: Request, services: ServicesDep) -> Principal:
    return await _user(request, services, True)


FragmentUser = Annotated[Principal, Depends(fragment_user)]


async def throttled_response(request: Request, exc: Exception) -> Response:
    """The answer to PageThrottled (installed by mount_web): words for a person, not JSON."""
    assert isinstance(exc, PageThrottled)
    headers = {"Retry-After": exc.retry_after}
    wait = f"Wait {exc.retry_after} second{'s' if exc.retry_after != '1' else ''} and try again."
    if exc.fragment or request.headers.get("hx-request"):
        return PlainTextResponse(f"{exc} {wait}", 429, headers=headers)
    page = render(request, "error.html", {"title": "Too many requests", "message": f"{exc} {wait}"}, 429)
    page.headers.update(headers)
    return page


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
