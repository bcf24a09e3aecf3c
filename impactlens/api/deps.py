"""Request dependencies: services, the authenticated caller (always one organisation),
throttling by plan, and role checks.

They are ``async``: FastAPI would run each sync dependency in the thread pool, and those
hops cost more than the work (two key lookups in the table).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..accounts import Principal, get_plan
from ..accounts.refusal_log import RefusalLog
from ..accounts.service import AuthError
from ..services import Services
from .errors import ApiError
from .throttle import TokenBuckets, client_key, retry_after

log = logging.getLogger("impactlens.api")

SESSION_COOKIE = "impactlens_session"
FAILED_AUTH_RATE, FAILED_AUTH_BURST = 5.0, 50

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer il_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key in a header")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The browser session from /v1/auth/login")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_buckets(request: Request) -> TokenBuckets:
    buckets: TokenBuckets = request.app.state.buckets
    return buckets


def auth_refusals(request: Request) -> RefusalLog:
    """The app's log of refused authentications: a key-guessing flood is refused thousands of
    times a second, so it is logged once per address a minute, then summarised."""
    refusals: RefusalLog | None = getattr(request.app.state, "auth_refusals", None)
    if refusals is None:
        refusals = request.app.state.auth_refusals = RefusalLog(log, "authentication refused")
    return refusals


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_principal(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header_key: Annotated[str | None, Security(_header)],
    session: Annotated[str | None, Security(_cookie)],
) -> Principal:
    key = bearer.credentials if bearer else header_key
    try:
        if key:
            principal = services.accounts.authenticate_key(key)
        elif session:
            principal = services.accounts.authenticate_session(session)
        else:
            raise AuthError("authentication required: an API key or a session")
    except AuthError:
        # Guessing keys or replaying dead sessions costs a token per try, per client address.
        address = client_key(request)
        wait = get_buckets(request).take(f"authfail:{address}", FAILED_AUTH_RATE, FAILED_AUTH_BURST)
        if wait:
            auth_refusals(request).refused(f"address {address}", "over the failed-authentication rate")
            raise ApiError(
                429, "rate_limited", "too many failed authentications", {"Retry-After": retry_after(wait)}
            ) from None
        raise
    plan = get_plan(principal.plan)
    wait = get_buckets(request).take(f"org:{principal.org}", plan.requests_per_s, plan.burst)
    if wait:
        raise ApiError(
            429,
            "rate_limited",
            f"the {plan.name} plan allows {plan.requests_per_s:g} requests/s",
            {"Retry-After": retry_after(wait)},
        )
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


async def admin_principal(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this needs the Admin role")
    return principal


AdminCaller = Annotated[Principal, Depends(admin_principal)]
