"""Assets: create, upload, status, results, AOIs, move, delete, list."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ...accounts import Principal, get_plan
from ...db.repository import NotFoundError
from ...errors import MediaError
from ...jobs.analysis import asset_prefix, recompute_attention, results_prefix
from ...services import Services
from ...storage.base import BlobNotFoundError
from ...storage.local import LocalBlobStore
from ..deps import Caller, ServicesDep
from ..errors import ApiError, not_found, scrub
from ..idempotency import Idempotent
from ..schemas import AoisIn, AssetCreated, AssetIn, AssetOut, AssetPage, MoveIn, ResultOut, UploadInfo, finite_aois
from ..uploads import MULTIPART_OVERHEAD, UPLOADABLE, accept, incoming_key, receive_file, scratch_file

router = APIRouter(prefix="/v1/assets", tags=["assets"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such asset in the caller's organisation"}}


def own_asset(services: Services, principal: Principal, asset: str) -> dict[str, Any]:
    item = services.repo.get_asset(principal.org, asset)
    if item is None:
        raise not_found("asset", asset)  # another organisation's asset looks exactly like a missing one
    return item


_ASSET_FIELDS = tuple(k for k in AssetOut.model_fields if k != "job")


def _error_out(error: Any) -> Any:
    """Stored error messages can hold server paths or blob keys (from a failed job)."""
    if not isinstance(error, dict):
        return error
    return {k: scrub(v) if k == "message" and isinstance(v, str) else v for k, v in error.items()}


def asset_out(services: Services, item: dict[str, Any], with_job: bool = False) -> dict[str, Any]:
    out = {k: item[k] for k in _ASSET_FIELDS if k in item}
    out.setdefault("scores", {})
    if "aois" in out:
        out["aois"] = finite_aois(out["aois"])  # an item stored before validation cannot poison a page
    if out.get("error"):
        out["error"] = _error_out(out["error"])
    if with_job and item.get("job"):
        job = services.repo.get_job(str(item["job"])) or {}
        out["job"] = {k: job.get(k) for k in ("job", "status", "attempts", "progress", "error") if k in job}
        if out["job"].get("error"):
            out["job"]["error"] = _error_out(out["job"]["error"])
    return out


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


@router.post(
    "/{asset}/upload",
    response_model=AssetOut,
    status_code=202,
    responses={401: {}, 402: {}, 409: {}, 413: {}, 415: {}, 422: {}, **NOT_FOUND},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def upload(asset: str, request: Request, principal: Caller, services: ServicesDep) -> Any:
    """The asset's bytes as multipart/form-data (field `file`); starts the analysis job."""
    item = await run_in_threadpool(own_asset, services, principal, asset)
    limit = get_plan(principal.plan).max_upload_bytes
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data (field 'file')")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise ApiError(413, "upload_too_large", f"the upload exceeds the plan's {limit:,} bytes")
    file_path = scratch_file(services)
    try:
        size, _ = await receive_file(request.stream(), content_type, limit, file_path)
        slots = request.app.state.validations
        updated = await run_in_threadpool(accept, services, principal, item, file_path, size, slots)
    finally:
        if os.path.exists(file_path):
            os.unlink(file_path)
    return asset_out(services, updated)


@router.post("/{asset}/uploaded", response_model=AssetOut, status_code=202, responses={401: {}, 409: {}, **NOT_FOUND})
def uploaded(asset: str, request: Request, principal: Caller, services: ServicesDep) -> Any:
    """After a direct upload to the presigned URL: validates the object and starts the job.

    Calling it again (a retry) answers 409 and changes nothing: the accepted original is a
    copy under a key of its own, which no later request deletes."""
    item = own_asset(services, principal, asset)
    if item["status"] not in UPLOADABLE:
        raise ApiError(409, "already_uploaded", f"the asset is {item['status']}; upload is not possible now")
    key = incoming_key(principal.org, asset)
    if not services.blobs.exists(key):
        raise ApiError(409, "not_uploaded", "nothing was uploaded to the presigned URL")
    path = scratch_file(services)
    try:
        try:
            with open(path, "wb") as f:
                for part in services.blobs.get(key):
                    f.write(part)
        except BlobNotFoundError as exc:  # a concurrent completion consumed it
            raise ApiError(409, "not_uploaded", "nothing was uploaded to the presigned URL") from exc
        size = os.path.getsize(path)
        if size > get_plan(principal.plan).max_upload_bytes:
            services.blobs.delete(key)  # it can never be used
            raise ApiError(413, "upload_too_large", "the uploaded object exceeds the plan's limit")
        try:
            out = accept(services, principal, item, path, size, request.app.state.validations)
        except MediaError:
            services.blobs.delete(key)  # it can never be used
            raise
        services.blobs.delete(key)  # consumed: the asset's source is its own copy now
        return asset_out(services, out)
    finally:
        os.unlink(path)


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


def check_aois_fit(analysis: dict[str, Any], aois: list[Any]) -> None:
    """Refuses, before anything is stored, AOIs that could never count: a box wholly outside
    the frame, a time window starting at or after the end of the video; and tracks that do not
    fit the video: a box not even overlapping the frame, a time past its end, any track on an
    image (an image's AOI is one box)."""
    width, height = float(analysis["width"]), float(analysis["height"])
    duration = analysis.get("duration_s")  # a video's only
    for a in aois:
        if a.x >= width or a.y >= height:
            raise ApiError(422, "invalid_aoi", f"AOI {a.name} lies outside the {width:g}x{height:g} px frame")
        if duration is not None and a.start_s is not None and a.start_s >= float(duration):
            raise ApiError(
                422,
                "invalid_aoi",
                f"AOI {a.name} starts at {a.start_s:g} s, at or after the end of the video ({float(duration):g} s)",
            )
        if a.track and duration is None:
            raise ApiError(
                422, "invalid_aoi", f"AOI {a.name} has a track: tracks are for videos, an image's AOI is one box"
            )
        for i, p in enumerate(a.track or ()):
            if p.x >= width or p.y >= height or p.x + p.w <= 0 or p.y + p.h <= 0:
                raise ApiError(
                    422,
                    "invalid_aoi",
                    f"AOI {a.name}: track point {i} (t={p.t:g} s, box {p.x:g},{p.y:g},{p.w:g},{p.h:g}) "
                    f"does not overlap the {width:g}x{height:g} px frame",
                )
            if duration is not None and p.t > float(duration):
                raise ApiError(
                    422,
                    "invalid_aoi",
                    f"AOI {a.name}: track point {i} is at {p.t:g} s, "
                    f"after the end of the video ({float(duration):g} s)",
                )


@router.put("/{asset}/aois", response_model=AssetOut, responses={401: {}, 409: {}, 422: {}, **NOT_FOUND})
def set_aois(asset: str, body: AoisIn, principal: Caller, services: ServicesDep) -> Any:
    """Stores the AOIs; when results exist, recomputes the shares from the stored saliency.

    Without results the AOIs are stored for the running job to count, but only while the
    result is still absent: a job that finishes between this read and the write has already
    re-checked the AOIs, so then nothing is stored and the shares are recomputed instead."""
    aois = list(body.aois)
    for _ in range(3):
        item = own_asset(services, principal, asset)
        if item.get("result_version"):
            return _recount(services, principal, item, aois)
        dumped = [a.model_dump() for a in aois]
        try:
            stored = services.repo.update_asset_while_absent(
                principal.org, asset, {"aois": dumped}, absent=("result_version",)
            )
        except NotFoundError as exc:
            raise not_found("asset", asset) from exc
        if stored is not None:
            return asset_out(services, stored)
    raise ApiError(409, "conflict", "the asset's results changed meanwhile; send the AOIs again")


def _recount(services: Services, principal: Principal, item: dict[str, Any], aois: list[Any]) -> Any:
    asset = str(item["asset"])
    stored = services.repo.get_result(principal.org, asset, str(item["result_version"]))
    if stored is None:
        raise ApiError(409, "not_ready", f"no results yet: the asset is {item['status']}")
    check_aois_fit(json.loads(stored["analysis"]), aois)
    try:
        recompute_attention(services, principal.org, asset, aois)
    except LookupError as exc:  # deleted (404) or its result gone meanwhile: nothing was stored
        own_asset(services, principal, asset)
        raise ApiError(409, "not_ready", "the asset's results changed meanwhile; send the AOIs again") from exc
    return asset_out(services, own_asset(services, principal, asset))


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
