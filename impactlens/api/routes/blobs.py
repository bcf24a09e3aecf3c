"""The local blob store's presigned URLs (the embedded stand-in for S3's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ...storage.base import BlobNotFoundError, InvalidKeyError
from ...storage.local import LocalBlobStore
from ..deps import ServicesDep
from ..errors import ApiError

router = APIRouter(prefix="/v1/blobs", tags=["files"])
TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".mp4": "video/mp4", ".json": "application/json"}


def _store(services: Any) -> LocalBlobStore:
    if not isinstance(services.blobs, LocalBlobStore):
        raise ApiError(404, "not_found", "files are served by the object store in this deployment")
    store: LocalBlobStore = services.blobs
    return store


@router.get("/{key:path}", responses={403: {}, 404: {}})
def download(
    key: str,
    services: ServicesDep,
    expires: Annotated[str, Query(max_length=20)],
    signature: Annotated[str, Query(max_length=128)],
) -> Any:
    """A file behind a signed, expiring link from the results; no other credential needed."""
    store = _store(services)
    if not store.verify("GET", key, expires, signature):
        raise ApiError(403, "invalid_signature", "the link is invalid or has expired")
    try:
        chunks = store.get(key)
    except (BlobNotFoundError, InvalidKeyError) as exc:
        raise ApiError(404, "not_found", "no such file") from exc
    suffix = key[key.rfind(".") :] if "." in key else ""
    return StreamingResponse(chunks, media_type=TYPES.get(suffix, "application/octet-stream"))
