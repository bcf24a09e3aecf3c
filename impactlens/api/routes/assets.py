"""Assets: create, list, status, results, move, delete. The upload (asset_uploads) and AOI
(asset_aois) routes are included where they stood before the split: OpenAPI lists paths in the
order they are registered, so the documented API keeps its order."""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response

from ...jobs.analysis import asset_prefix, results_prefix
from ...services import Services
from ...storage.local import LocalBlobStore
from ..deps import Caller, ServicesDep
from ..errors import ApiError, not_found
from ..idempotency import Idempotent
from ..schemas import AssetCreated, AssetIn, AssetOut, AssetPage, MoveIn, ResultOut, UploadInfo
from ..uploads import incoming_key
from . import asset_aois, asset_uploads
from .asset_views import NOT_FOUND, own_asset
from .asset_views import asset_out as asset_out  # re-exported: the pages (web/detail.py) import it from here

router = APIRouter(prefix="/v1/assets", tags=["assets"])


def upload_info(services: Services, request: Request, asset: str, org: str) -> UploadInfo:
    base = str(request.base_url).rstrip("/")
    if isinstance(services.blobs, LocalBlobStore):
        return UploadInfo(method="POST", url=f"{base}/v1/assets/{asset}/upload", form_field="file")
    # The content type is signed too: clients send exactly these headers with the bytes.
    signed = services.blobs.presign_upload(incoming_key(org, asset), content_type="application/octet-stream")
    return UploadInfo(
        method=signed.method, url=signed.url, headers=signed.headers, complete_url=f"{base}/v1/assets/{asset}/uploaded"
    )


@router.post("", response_model=AssetCreated, status_code=201, responses={401: {}, 404: {}, 422: {}})
def create_asset(
    body: AssetIn,
    request: Request,
    principal: Caller,
    services: ServicesDep,
    idem: Annotated[Idempotent, Depends()],
) -> Any:
    def created(item: dict[str, Any]) -> dict[str, Any]:
        out = asset_out(services, item)
        out["upload"] = upload_info(services, request, item["asset"], principal.org).model_dump()
        return AssetCreated(**out).model_dump(mode="json")

    def make() -> dict[str, Any]:
        item = services.repo.create_asset(
            principal.org,
            body.brand,
            body.campaign,
            "unknown",
            fence=idem.fence,
            name=body.name,
            status="awaiting_upload",
            aois=[a.model_dump() for a in body.aois],
        )
        return created(item)

    def recover(asset: str) -> dict[str, Any] | None:
        """The answer for the asset this Idempotency-Key created (its request stopped first)."""
        item = services.repo.get_asset(principal.org, asset)
        return None if item is None else created(item)

    return idem.run(principal, body, make, 201, recover)


@router.get("", response_model=AssetPage, responses={401: {}, 422: {}})
async def list_assets(
    principal: Caller,
    services: ServicesDep,
    brand: Annotated[str | None, Query(max_length=63)] = None,
    campaign: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> Any:
    if campaign and not brand:
        raise ApiError(422, "invalid_request", "campaign needs brand")
    for value in (brand, campaign):
        if value is not None and ("#" in value or not value):
            raise ApiError(422, "invalid_request", "brand and campaign are slugs")
    page = services.repo.list_assets(principal.org, brand, campaign, limit=limit, cursor=cursor)
    # The hottest route: items were validated when written, so the page is serialised
    # directly (response_model validation of 50 items would double its cost).
    body = {"items": [asset_out(services, i) for i in page.items], "cursor": page.cursor}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/{asset}", response_model=AssetOut, responses={401: {}, **NOT_FOUND})
async def get_asset(asset: str, principal: Caller, services: ServicesDep) -> Any:
    return asset_out(services, own_asset(services, principal, asset), with_job=True)


router.include_router(asset_uploads.router)


def result_files(analysis: dict[str, Any]) -> dict[str, str]:
    """Role -> file name under the results prefix (the API's links and the pages' media)."""
    names = dict(analysis.get("outputs", {}))
    for n, k in enumerate(analysis.get("keyframes", [])):
        names[f"keyframe_{n + 1}"] = k["thumbnail"]
    return names


def _links(services: Services, org: str, asset: str, version: str, analysis: dict[str, Any]) -> dict[str, str]:
    prefix = results_prefix(org, asset, version)
    names = result_files(analysis)
    return {role: services.blobs.presign_download(f"{prefix}/{name}") for role, name in names.items()}


@router.get("/{asset}/results", response_model=ResultOut, responses={401: {}, 409: {}, **NOT_FOUND})
async def results(asset: str, principal: Caller, services: ServicesDep) -> Any:
    item = own_asset(services, principal, asset)
    version = item.get("result_version")
    stored = services.repo.get_result(principal.org, asset, str(version)) if version else None
    if stored is None:
        raise ApiError(409, "not_ready", f"no results yet: the asset is {item['status']}")
    analysis = json.loads(stored["analysis"])
    return ResultOut(
        asset=asset,
        model_version=str(version),
        analysis=analysis,
        links=_links(services, principal.org, asset, str(version), analysis),
    )


router.include_router(asset_aois.router)


@router.post("/{asset}/move", response_model=AssetOut, responses={401: {}, **NOT_FOUND})
def move(asset: str, body: MoveIn, principal: Caller, services: ServicesDep) -> Any:
    own_asset(services, principal, asset)
    if services.repo.get_campaign(principal.org, body.brand, body.campaign) is None:
        raise not_found("campaign", f"{body.brand}/{body.campaign}")
    return asset_out(services, services.repo.move_asset(principal.org, asset, body.brand, body.campaign))


@router.delete("/{asset}", status_code=204, responses={401: {}, **NOT_FOUND})
def delete(asset: str, principal: Caller, services: ServicesDep) -> None:
    own_asset(services, principal, asset)
    services.repo.delete_asset(principal.org, asset)
    for blob in list(services.blobs.list(asset_prefix(principal.org, asset) + "/")):
        services.blobs.delete(blob.key)
