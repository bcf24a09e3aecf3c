"""Login, the caller, users, API keys and the organisation's webhook."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response

from ...accounts import Principal
from ...accounts.lockout import DEVICE_COOKIE, LoginGuard, SignInLocked
from ...accounts.security import PasswordChecksBusyError
from ...accounts.service import AuthError
from ...db.repository import NotFoundError
from ...jobs.webhooks import check_webhook_url
from ...services import Services
from ..deps import SESSION_COOKIE, AdminCaller, Caller, ServicesDep, get_buckets
from ..errors import ApiError, not_found
from ..idempotency import Idempotent
from ..schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, LoginIn, Me, UserIn, UserOut, UserPatch, WebhookIn, WebhookOut
from ..throttle import client_key, retry_after

router = APIRouter(prefix="/v1", tags=["accounts"])


LOCKED_MESSAGE = (
    "too many failed sign-ins for this account; try again later, or from a browser that signed in to it before"
)


def login_guard(app: Any) -> LoginGuard:
    """The app's sign-in lockout (made on first use: its counts and key live in the table)."""
    guard: LoginGuard | None = getattr(app.state, "login_guard", None)
    if guard is None:
        services: Services = app.state.services
        guard = app.state.login_guard = LoginGuard.from_settings(services.table, services.settings, services.clock)
    return guard


def open_session(request: Request, response: Response, services: Services, email: str, password: str) -> Principal:
    """Throttled login that sets the session cookie (the API's and the dashboard's sign-in):
    per client address, then per account (accounts/lockout.py), before any password check."""
    guard = login_guard(request.app)
    address = client_key(request)
    wait = get_buckets(request).take(f"login:{address}", 1.0, 10)
    if wait:
        guard.refusals.refused(f"address {address}", "over the per-address sign-in rate")
        raise ApiError(429, "rate_limited", "too many login attempts", {"Retry-After": retry_after(wait)})
    device = request.cookies.get(DEVICE_COOKIE)
    try:
        attempt = guard.begin(email, device)
    except SignInLocked as exc:
        raise ApiError(429, "rate_limited", LOCKED_MESSAGE, {"Retry-After": retry_after(exc.retry_after_s)}) from None
    failed = False
    try:
        token, principal = services.accounts.login(email, password, attempt.priority)
    except AuthError as exc:
        failed = True  # the one outcome that stays counted
        raise ApiError(401, "unauthorized", str(exc)) from exc
    except PasswordChecksBusyError as exc:
        raise ApiError(503, "busy", str(exc), {"Retry-After": "2"}) from exc
    finally:
        if not failed:
            attempt.release()
    secure = services.settings.public_url.startswith("https://")
    response.set_cookie(
        SESSION_COOKIE, token, max_age=services.settings.session_ttl_s, httponly=True, samesite="strict", secure=secure
    )
    # This browser is now trusted for this account: its own small budget of failures from here on.
    response.set_cookie(
        DEVICE_COOKIE,
        guard.device_cookie(device, attempt.account, guard.holder(principal.org, str(principal.user))),
        max_age=int(guard.device_ttl_s),
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return principal


@router.post("/auth/login", response_model=Me, responses={401: {}, 429: {}})
def login(body: LoginIn, request: Request, response: Response, services: ServicesDep) -> Any:
    return Me(**open_session(request, response, services, body.email, body.password).__dict__)


@router.post("/auth/logout", status_code=204, responses={401: {}})
def logout(request: Request, response: Response, services: ServicesDep, principal: Caller) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.accounts.logout(token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=Me, responses={401: {}})
async def me(principal: Caller) -> Any:
    return Me(**principal.__dict__)


@router.get("/org", responses={401: {}})
async def org(principal: Caller, services: ServicesDep) -> dict[str, Any]:
    import time

    item = services.repo.get_org(principal.org) or {}
    month = time.strftime("%Y-%m", time.gmtime(services.clock()))
    usage = services.table.get(f"ORG#{principal.org}", f"USAGE#{month}") or {}
    return {
        "org": principal.org,
        "name": item.get("name"),
        "plan": item.get("plan"),
        "usage": {"month": month, "analyses": int(usage.get("analyses", 0))},
        "webhook_url": webhook_for(principal, item.get("webhook_url")),
    }


def webhook_for(principal: Principal, url: Any) -> str | None:
    """Admins see the URL they set; Members see only where it goes (scheme, host and port):
    a URL often carries a token or credentials of the receiver."""
    if not url or principal.is_admin:
        return str(url) if url else None
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed URL stored before URLs were checked
        return "(set)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}/…"


@router.put("/org/webhook", response_model=WebhookOut, responses={401: {}, 403: {}})
def set_webhook(body: WebhookIn, principal: AdminCaller, services: ServicesDep) -> Any:
    return WebhookOut(url=body.url, secret=store_webhook(services, principal.org, body.url))


def store_webhook(services: Services, org: str, url: str) -> str:
    """Sets the organisation's webhook with a new signing secret, returned (shown once)."""
    check_webhook_url(services.settings, url)  # UnsafeURLError (a ValueError: 422) stores nothing
    secret = secrets.token_urlsafe(32)
    services.table.update(f"ORG#{org}", f"ORG#{org}", set={"webhook_url": url, "webhook_secret": secret})
    return secret


@router.get("/users", response_model=list[UserOut], responses={401: {}, 403: {}})
async def list_users(principal: AdminCaller, services: ServicesDep) -> Any:
    return services.repo.list_users(principal.org, limit=1000).items


@router.post("/users", response_model=UserOut, status_code=201, responses={401: {}, 403: {}, 409: {}})
def create_user(
    body: UserIn, principal: AdminCaller, services: ServicesDep, idem: Annotated[Idempotent, Depends()]
) -> Any:
    def make() -> dict[str, Any]:
        item = services.accounts.create_user(principal.org, body.email, body.name, body.role, body.password)
        return UserOut(**item).model_dump()

    return idem.run(principal, body, make, 201)


@router.patch("/users/{user}", response_model=UserOut, responses={401: {}, 403: {}, 404: {}, 409: {}, 422: {}})
def change_user(user: str, body: UserPatch, principal: AdminCaller, services: ServicesDep) -> Any:
    """Changes a user's role (409 for the organisation's last Admin); a demoted user's sessions
    lose the Admin rights on their next request."""
    try:
        return services.accounts.set_role(principal.org, user, body.role)
    except NotFoundError as exc:
        raise not_found("user", user) from exc


@router.delete("/users/{user}", status_code=204, responses={401: {}, 403: {}, 404: {}, 409: {}})
def delete_user(user: str, principal: AdminCaller, services: ServicesDep) -> None:
    """Their sessions stop working at once (a session is checked against its user)."""
    if user == principal.user:
        raise ApiError(409, "conflict", "an admin cannot delete their own user")
    try:
        services.repo.delete_user(principal.org, user)
    except LookupError as exc:
        raise not_found("user", user) from exc


@router.get("/api-keys", response_model=list[ApiKeyOut], responses={401: {}, 403: {}})
async def list_keys(principal: AdminCaller, services: ServicesDep) -> Any:
    return services.repo.list_api_keys(principal.org, limit=1000).items


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, responses={401: {}, 403: {}})
def create_key(body: ApiKeyIn, principal: AdminCaller, services: ServicesDep) -> Any:
    # Not idempotent by design: replaying the response would mean storing the secret.
    item, full = services.accounts.create_api_key(principal.org, body.label, body.role)
    return ApiKeyCreated(**item, key=full)


@router.delete("/api-keys/{key_id}", status_code=204, responses={401: {}, 403: {}, 404: {}})
def revoke_key(key_id: str, principal: AdminCaller, services: ServicesDep) -> None:
    try:
        services.repo.revoke_api_key(principal.org, key_id)
    except LookupError as exc:
        raise not_found("API key", key_id) from exc
