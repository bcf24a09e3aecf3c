"""AWS Lambda entry point for the HTTP API (API Gateway HTTP API, payload v2), via Mangum."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from mangum import Mangum

from ..services import build_services
from ..settings import get_settings
from .app import create_app


@lru_cache(maxsize=1)
def _handler() -> Mangum:
    # Built once per container; the job queue runs elsewhere (Step Functions), not here.
    return Mangum(create_app(build_services(get_settings())), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _handler()(event, context)
    return result
