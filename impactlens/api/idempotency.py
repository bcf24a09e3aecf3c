"""Idempotency-Key on POSTs that create things: the same key and body replay the first
response; the same key with another body is refused (422)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..accounts import Principal
from ..db.repository import ConflictError
from .errors import ApiError


class Idempotent:
    def __init__(
        self,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=200, description="replay-safe creation")] = None,
    ) -> None:
        self.request = request
        self.key = idempotency_key

    def run(self, principal: Principal, body: BaseModel | None, make: Callable[[], Any], status: int) -> Any:
        if not self.key:
            return JSONResponse(make(), status)
        services = self.request.app.state.services
        payload = body.model_dump(mode="json") if body is not None else None
        raw = json.dumps([self.request.method, self.request.url.path, payload], sort_keys=True)
        fingerprint = hashlib.sha256(raw.encode()).hexdigest()
        try:
            replay = services.idempotency.begin(principal.org, self.key, fingerprint)
        except ConflictError as exc:
            code = 409 if "in progress" in str(exc) else 422
            raise ApiError(code, "idempotency_conflict", str(exc)) from exc
        if replay is not None:
            return JSONResponse(replay[1], replay[0], headers={"Idempotent-Replayed": "true"})
        try:
            result = make()
        except BaseException:
            services.idempotency.abandon(principal.org, self.key)
            raise
        services.idempotency.finish(principal.org, self.key, status, result)
        return JSONResponse(result, status)
