"""The dashboard: server-rendered pages on the same app (and session cookie) as /v1."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> None:
    # Imported here: they import impactlens.api, whose app imports this module, so importing
    # impactlens.web (or one of its modules) first would otherwise find it half-initialised.
    from . import detail, pages
    from .csrf import CsrfMiddleware
    from .deps import BadForm, LoginRequired, PageForbidden, PageNotFound, PageThrottled, throttled_response
    from .headers import SecurityHeadersMiddleware, store_origin
    from .templating import render

    settings = app.state.services.settings
    app.add_middleware(CsrfMiddleware, public_url=settings.public_url, trusted=list(settings.cors_origins))
    try:  # presigning is local arithmetic (no request); media and uploads may go to the store
        probe = store_origin(app.state.services.blobs.presign_download("csp/probe"))
    except Exception:  # noqa: BLE001 - a store that cannot presign serves nothing directly
        probe = None
    app.add_middleware(SecurityHeadersMiddleware, extra_origins=[probe] if probe else [])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if exc.fragment:
            # htmx follows HX-Redirect whatever the status: a polling card whose session ended
            # takes the whole page to the sign-in form.
            hx = {"HX-Redirect": "/login"} if request.headers.get("hx-request") else {}
            return PlainTextResponse("sign in first", 401, headers=hx)
        return RedirectResponse(exc.next_url, status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> HTMLResponse:
        return render(request, "error.html", {"title": "Not allowed", "message": str(exc)}, 403)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> HTMLResponse:
        return render(request, "error.html", {"title": "Not found", "message": str(exc)}, 404)

    @app.exception_handler(BadForm)
    async def _bad_form(request: Request, exc: BadForm) -> HTMLResponse:
        return render(request, "error.html", {"title": "Form refused", "message": str(exc)}, 403)

    app.add_exception_handler(PageThrottled, throttled_response)  # a readable 429 page

    for router in pages.routers():
        app.include_router(router, include_in_schema=False)
    app.include_router(detail.router, include_in_schema=False)
