"""An asset's bytes: a multipart upload to the server, or completing a direct upload to the
presigned URL. Either validates the file and starts the analysis job."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from ...accounts import get_plan
from ...errors import MediaError
from ...storage.base import BlobNotFoundError
from ..deps import Caller, ServicesDep
from ..errors import ApiError
from ..schemas import AssetOut
from ..uploads import MULTIPART_OVERHEAD, UPLOADABLE, accept, incoming_key, receive_file, scratch_file
from .asset_views import NOT_FOUND, asset_out, own_asset

# No prefix or tags of its own: assets.router includes it under /v1/assets, tag "assets".
router = APIRouter()


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
