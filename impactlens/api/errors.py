"""Every error leaves the API as JSON: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..accounts.security import PasswordChecksBusyError
from ..accounts.service import AuthError
from ..db.repository import ConflictError, NotFoundError
from ..db.table import InvalidCursorError
from ..errors import MediaError, scrub

log = logging.getLogger("impactlens.api")

# Media error codes -> HTTP status for uploads.
MEDIA_STATUS = {
    "unsupported_media": 415,
    "not_a_video": 415,
    "no_video_stream": 415,
    "image_too_large": 413,
    "video_too_large": 413,
}




class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {ident}")


def body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(body(exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse(body("unauthorized", str(exc)), 401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(NotFoundError)
    async def _nf(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(body("not_found", str(exc)), 404)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(body("conflict", str(exc)), 409)

    @app.exception_handler(InvalidCursorError)
    async def _cursor(request: Request, exc: InvalidCursorError) -> JSONResponse:
        return JSONResponse(body("invalid_cursor", "the cursor is not valid for this listing"), 422)

    @app.exception_handler(MediaError)
    async def _media(request: Request, exc: MediaError) -> JSONResponse:
        return JSONResponse(body(exc.code, scrub(exc.message)), MEDIA_STATUS.get(exc.code, 422))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse(body("validation_error", "the request is not valid", details=details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "request_too_large"}
        return JSONResponse(
            body(codes.get(exc.status_code, "http_error"), str(exc.detail)), exc.status_code, headers=exc.headers
        )

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse(body("invalid_request", scrub(str(exc))), 422)

    @app.exception_handler(PasswordChecksBusyError)
    async def _busy(request: Request, exc: PasswordChecksBusyError) -> JSONResponse:
        return JSONResponse(body("busy", str(exc)), 503, headers={"Retry-After": "2"})

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The caller left mid-body (a dropped upload): nobody reads this answer, and it is not
        # a server error (no traceback, no 5xx alarm); what it had sent is cleaned up as usual.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The details go to the log only (no query string: presigned links carry signatures).
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(body("internal_error", "an internal error occurred"), 500)
