"""The same ASGI app on Lambda: API Gateway HTTP API (v2) events through Mangum, with the
AWS backends (DynamoDB, S3) on moto's server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from impactlens.api import lambda_handler
from impactlens.services import aws_services
from impactlens.settings import get_settings
from tests.aws import use_aws_backend

EVENTS = Path(__file__).parent / "events"


@pytest.fixture
def api_key(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    use_aws_backend(monkeypatch, aws_endpoint, "impactlens-lambda")
    lambda_handler._handler.cache_clear()
    services = aws_services(get_settings())
    org = f"lam{len(services.accounts.list_orgs())}"
    services.accounts.create_org(org, "Lambda org", "pro")
    _, key = services.accounts.create_api_key(org, "lambda", "Admin")
    yield key
    get_settings.cache_clear()
    lambda_handler._handler.cache_clear()


def _event(name: str, key: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text().replace("{{API_KEY}}", key))


class Context:
    function_name = "impactlens-api"
    aws_request_id = "0f3c2b1a-5d4e-4f6a-8b7c-9d0e1f2a3b4c"


def test_api_gateway_v2_events_reach_the_app(api_key: str) -> None:
    me = lambda_handler.handler(_event("apigw_v2_get_me.json", api_key), Context())
    assert me["statusCode"] == 200 and json.loads(me["body"])["role"] == "Admin"
    created = lambda_handler.handler(_event("apigw_v2_create_brand.json", api_key), Context())
    assert created["statusCode"] == 201 and json.loads(created["body"])["brand"] == "spring"
    listed = lambda_handler.handler(_event("apigw_v2_list_assets.json", api_key), Context())
    assert listed["statusCode"] == 200 and json.loads(listed["body"]) == {"items": [], "cursor": None}


def test_lambda_refuses_a_request_without_credentials(api_key: str) -> None:
    r = lambda_handler.handler(_event("apigw_v2_no_credentials.json", api_key), Context())
    assert r["statusCode"] == 401 and json.loads(r["body"])["error"]["code"] == "unauthorized"


def test_asset_creation_on_aws_returns_a_presigned_upload(api_key: str, aws_endpoint: str) -> None:
    lambda_handler.handler(_event("apigw_v2_create_brand.json", api_key), Context())
    event = _event("apigw_v2_create_brand.json", api_key)
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/brands/spring/campaigns"
    event["body"] = json.dumps({"campaign": "launch", "name": "Launch"})
    assert lambda_handler.handler(event, Context())["statusCode"] == 201
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/assets"
    event["body"] = json.dumps({"brand": "spring", "campaign": "launch", "name": "teaser"})
    r = lambda_handler.handler(event, Context())
    upload = json.loads(r["body"])["upload"]
    assert r["statusCode"] == 201 and upload["method"] == "PUT" and upload["url"].startswith(aws_endpoint)
    assert upload["complete_url"].endswith("/uploaded")


def test_presigned_s3_upload_then_uploaded_queues_the_job(api_key: str, aws_endpoint: str) -> None:
    import urllib.request

    from tests.media_cases import jpeg

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        event = _event("apigw_v2_create_brand.json", api_key)
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["body"] = json.dumps(body) if body is not None else None
        return lambda_handler.handler(event, Context())

    call("POST", "/v1/brands", {"brand": "spring", "name": "Spring"})
    call("POST", "/v1/brands/spring/campaigns", {"campaign": "launch", "name": "Launch"})
    created = json.loads(call("POST", "/v1/assets", {"brand": "spring", "campaign": "launch", "name": "p"})["body"])
    asset, upload = created["asset"], created["upload"]
    early = call("POST", f"/v1/assets/{asset}/uploaded")
    assert early["statusCode"] == 409 and json.loads(early["body"])["error"]["code"] == "not_uploaded"
    req = urllib.request.Request(upload["url"], data=jpeg(), method="PUT", headers=upload["headers"])
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
        assert r.status == 200
    done = call("POST", f"/v1/assets/{asset}/uploaded")
    assert done["statusCode"] == 202 and json.loads(done["body"])["status"] == "queued"
    services = aws_services(get_settings())
    queued = [j for j in services.table.query("JOBQ#queued", index="GSI1").items if j["asset"] == asset]
    assert len(queued) == 1
