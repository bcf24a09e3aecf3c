"""schemathesis against the OpenAPI document: no generated request gets a 5xx, and every
error is JSON with a code."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from tests.api_support import make_world
from tests.media_cases import jpeg

_world = make_world(Path(tempfile.mkdtemp(prefix="impactlens-fuzz-")))
_org = _world.add_org("fuzz")
_world.campaign(_org)
_asset = _world.asset(_org, "seed")["asset"]
_world.upload(_org, _asset, jpeg())
_world.run_jobs()

schema = schemathesis.openapi.from_asgi("/openapi.json", _world.client.app)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {_org.admin_key}"}
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.text)
    if response.status_code >= 400:
        assert "code" in response.json()["error"], response.text
