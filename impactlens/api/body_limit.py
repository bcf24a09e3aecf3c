"""A cap on request bodies, enforced before any route reads one.

FastAPI reads a JSON or form body whole, into memory, before a route's dependencies run, so
before authentication and throttling: without a cap, anyone who can reach the port could
make the server hold gigabytes (a 400 MB login body took the process from 0.7 to 1.5 GB).
No JSON or form body here needs more than a few kilobytes (50 AOIs are ~10 KB), so every
body is held to MAX_BODY_BYTES, except the upload route's, which is streamed to a scratch
file and capped by the plan's upload size (`api/uploads.py`).

A declared Content-Length over the cap is refused at once, unread; a body without one (or
with a Content-Length the client does not keep to) is counted as it arrives and refused as
soon as it passes the cap.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

MAX_BODY_BYTES = 1 << 20
STREAMED = re.compile(r"^/v1/assets/[^/]+/upload$")
CODE = "request_too_large"
MESSAGE = f"the request body is larger than {MAX_BODY_BYTES // 1024} KB"


class BodyTooLargeError(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, MESSAGE)


class BodyLimitMiddleware:
    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (scope["method"] == "POST" and STREAMED.match(scope["path"])):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            response = JSONResponse({"error": {"code": CODE, "message": MESSAGE}}, 413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLargeError()
            return message

        await self.app(scope, counted, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for key, value in scope.get("headers") or []:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
