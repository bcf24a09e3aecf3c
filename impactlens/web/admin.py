"""Admin: users, API keys (the secret shown once), the webhook. Members get a 403 page.

Input goes through the API's own request models and the same account services, so a page
accepts exactly what /v1 accepts.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from ..accounts import Principal
from ..api.deps import ServicesDep
from ..api.routes.accounts import store_webhook
from ..api.schemas import ApiKeyIn, UserIn, UserPatch, WebhookIn
from ..db.repository import ConflictError, NotFoundError
from ..services import Services
from .deps import AdminPage, Form
from .templating import render

router = APIRouter()


def _page(request: Request, services: Services, principal: Principal, status: int = 200, **extra: Any) -> HTMLResponse:
    org = services.repo.get_org(principal.org) or {}
    ctx = {
        "title": "Admin",
        "active": "admin",
        "users": [
            {k: v for k, v in u.items() if k != "password_hash"}
            for u in services.repo.list_users(principal.org, limit=1000).items
        ],
        "keys": services.repo.list_api_keys(principal.org, limit=1000).items,
        "webhook_url": org.get("webhook_url"),
        **extra,
    }
    return render(request, "admin.html", ctx, status)


def _problem(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, principal: AdminPage, services: ServicesDep) -> HTMLResponse:
    return _page(request, services, principal)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> HTMLResponse:
    try:
        body = UserIn(
            email=form.get("email", ""), name=form.get("name", ""), role=form.get("role", "Member"),  # type: ignore[arg-type]
            password=form.get("password", ""),
        )
        services.accounts.create_user(principal.org, body.email, body.name, body.role, body.password)
    except ValidationError as exc:
        return _page(request, services, principal, 422, error=f"User not created: {_problem(exc)}")
    except (ConflictError, ValueError, NotFoundError) as exc:
        return _page(request, services, principal, 409, error=f"User not created: {exc}")
    return _page(request, services, principal, 201, ok=f"User {body.email} created with role {body.role}.")


@router.post("/admin/users/{user}/delete")
def delete_user(user: str, request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> Any:
    if user == principal.user:
        return _page(request, services, principal, 409, error="You cannot delete your own user.")
    try:
        services.repo.delete_user(principal.org, user)
    except LookupError:
        return _page(request, services, principal, 404, error="No such user.")
    except ConflictError as exc:
        return _page(request, services, principal, 409, error=f"User not deleted: {exc}.")
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{user}/role", response_model=None)
def change_role(user: str, request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> Any:
    """The same change as PATCH /v1/users/{id}: own organisation only, never its last Admin."""
    try:
        body = UserPatch(role=form.get("role", ""))  # type: ignore[arg-type]
        services.accounts.set_role(principal.org, user, body.role)
    except ValidationError:
        return _page(request, services, principal, 422, error="The role must be Admin or Member.")
    except NotFoundError:
        return _page(request, services, principal, 404, error="No such user.")
    except ConflictError as exc:
        return _page(request, services, principal, 409, error=f"Role not changed: {exc}.")
    if user == principal.user and body.role != "Admin":
        return RedirectResponse("/library", status_code=303)  # no longer allowed here
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/keys", response_class=HTMLResponse)
def create_key(request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> HTMLResponse:
    try:
        body = ApiKeyIn(label=form.get("label", ""), role=form.get("role", "Member"))  # type: ignore[arg-type]
    except ValidationError as exc:
        return _page(request, services, principal, 422, error=f"Key not created: {_problem(exc)}")
    item, full = services.accounts.create_api_key(principal.org, body.label, body.role)
    # The secret is in this one response only; it is never stored or shown again.
    response = _page(request, services, principal, 201, new_key={**item, "key": full})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(key_id: str, request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> Any:
    try:
        services.repo.revoke_api_key(principal.org, key_id)
    except LookupError:
        return _page(request, services, principal, 404, error="No such API key.")
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/webhook", response_class=HTMLResponse)
def set_webhook(request: Request, principal: AdminPage, services: ServicesDep, form: Form) -> HTMLResponse:
    try:
        body = WebhookIn(url=form.get("url", ""))
    except ValidationError:
        return _page(request, services, principal, 422, error="The webhook URL must start with http:// or https://.")
    try:
        secret = store_webhook(services, principal.org, body.url)
    except ValueError as exc:  # an address the server refuses to call (private, loopback...)
        return _page(request, services, principal, 422, error=f"Webhook not saved: {exc}")
    response = _page(request, services, principal, 200, webhook_secret=secret)
    response.headers["Cache-Control"] = "no-store"
    return response
