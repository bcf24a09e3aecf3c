"""The upload page (the browser then talks to /v1 directly) and the cards' thumbnails."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..accounts import get_plan
from ..api.deps import ServicesDep
from ..jobs.analysis import asset_prefix, source_key
from ..media.thumbnail import THUMB_SIDE, image_thumbnail, video_thumbnail
from ..services import Services
from .deps import FragmentUser, PageUser
from .library import catalog
from .templating import render

router = APIRouter()
PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 240"><rect width="320" height="240" fill="#e5e7eb"/>'
    '<text x="160" y="128" font-family="sans-serif" font-size="20" fill="#4b5563" text-anchor="middle">{}</text></svg>'
)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(
    request: Request,
    principal: PageUser,
    services: ServicesDep,
    target: Annotated[str | None, Query(max_length=127)] = None,
) -> HTMLResponse:
    """``target=brand/campaign`` preselects the campaign (the campaign page links here)."""
    brands = catalog(services, principal.org)
    plan = get_plan(principal.plan)
    ctx = {"title": "Upload", "active": "upload", "brands": brands, "target": target, "plan": plan}
    return render(request, "upload.html", ctx)


def _make_thumb(services: Services, item: dict[str, Any], source: str) -> bytes | None:
    """The thumbnail, or None when the source cannot be decoded. A storage error propagates:
    only a source that was read and still would not decode is remembered as failed."""
    if item["kind"] == "image":
        raw = services.blobs.read(source)
        try:
            return image_thumbnail(raw, max_pixels=services.settings.max_image_pixels)
        except Exception:  # noqa: BLE001 - any decoder failure: the card shows a placeholder
            return None
    fd, path = tempfile.mkstemp(suffix=".video")
    try:
        with os.fdopen(fd, "wb") as f:
            for part in services.blobs.get(source):
                f.write(part)
        try:
            return video_thumbnail(path)
        except Exception:  # noqa: BLE001 - as above
            return None
    finally:
        os.unlink(path)


@router.get("/thumbs/{asset}")
def thumbnail(asset: str, principal: FragmentUser, services: ServicesDep) -> Response:
    """A small JPEG derived from the source once, then kept next to it (deleted with the asset)."""
    item = services.repo.get_asset(principal.org, asset)
    if item is None:
        return Response(PLACEHOLDER.format("not found"), 404, media_type="image/svg+xml")
    key = f"{asset_prefix(principal.org, asset)}/thumb-{THUMB_SIDE}.jpg"
    # A source that would not decode is remembered (by its key: a new upload has a new one), so
    # a library page does not decode it again on every view, up to max_image_pixels each time.
    failed = f"{asset_prefix(principal.org, asset)}/thumb-{THUMB_SIDE}.failed"
    cache = {"Cache-Control": "private, max-age=86400"}
    placeholder = Response(PLACEHOLDER.format(item.get("kind", "asset")), media_type="image/svg+xml")
    if services.blobs.exists(key):
        return Response(b"".join(services.blobs.get(key)), media_type="image/jpeg", headers=cache)
    if item.get("status") in ("created", "awaiting_upload") or item.get("kind") not in ("image", "video"):
        return placeholder
    # Each upload has its own key (recorded on the asset); older assets used the fixed one.
    source = str(item.get("source") or source_key(item["org"], item["asset"]))
    if services.blobs.exists(failed) and services.blobs.read(failed).decode() == source:
        return placeholder
    try:
        data = _make_thumb(services, item, source)
    except Exception:  # noqa: BLE001 - an unreadable source shows the placeholder, never an error page
        return placeholder
    if data is None:
        key, data = failed, source.encode()
    services.blobs.put(key, data, "image/jpeg" if key != failed else "text/plain")
    if services.repo.get_asset(principal.org, asset) is None:
        # Deleted while the thumbnail was made: the delete listed the prefix before this put,
        # so nothing else would ever remove it.
        services.blobs.delete(key)
    if key == failed:
        return placeholder
    return Response(data, media_type="image/jpeg", headers=cache)
