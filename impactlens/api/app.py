"""The FastAPI application: one app for `impactlens serve` and for Lambda (via Mangum)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .. import __version__, observability
from ..db.ratelimit import TableRateLimiter
from ..services import Services
from ..web import mount_web
from . import errors
from .body_limit import BodyLimitMiddleware
from .routes import accounts, analytics, assets, blobs, catalog, models
from .throttle import TokenBuckets
from .uploads import ValidationSlots

DESCRIPTION = """Predicts how memorable images and videos are and where attention goes.

Authenticate with an API key (`Authorization: Bearer il_...` or `X-API-Key`) or with the
session cookie from `POST /v1/auth/login`. Every object belongs to the caller's
organisation; another organisation's object answers 404. Errors are
`{"error": {"code": ..., "message": ...}}`."""


def create_app(services: Services, on_startup: Any = None, on_shutdown: Any = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            on_startup()
        try:
            yield
        finally:
            if on_shutdown:
                on_shutdown()

    # /docs is served by the dashboard from local files (FastAPI's default loads a CDN).
    app = FastAPI(
        title="impactlens",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    # On AWS many containers answer: the plans' limits are counted in the table, not per container.
    app.state.buckets = TableRateLimiter(services.table) if services.settings.backend == "aws" else TokenBuckets()
    app.state.validations = ValidationSlots(services.settings.max_concurrent_validations)
    errors.install(app)
    # Innermost of the middlewares: its 413 still gets the request id and security headers.
    app.add_middleware(BodyLimitMiddleware)
    observability.install(app)  # request ids in logs and X-Request-Id, 429 counts, /metrics
    if services.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=services.settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"],
        )
    for r in (accounts.router, catalog.router, assets.router, analytics.router, blobs.router, models.router):
        app.include_router(r)
    mount_web(app)

    @app.get("/healthz", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
