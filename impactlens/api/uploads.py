"""Receiving an asset's bytes: capped streaming, validation before anything is stored, and
an all-or-nothing hand-over to the job queue."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

from python_multipart import parse_form
from python_multipart.multipart import File

from ..accounts import Principal, get_plan
from ..db.table import Condition, ConditionFailedError
from ..errors import MediaError
from ..jobs.analysis import source_key
from ..media.image_io import decode_image
from ..media.sniff import detect_kind
from ..media.video_io import probe
from ..services import Services
from .errors import ApiError

UPLOADABLE = ("awaiting_upload", "failed")
MULTIPART_OVERHEAD = 64 * 1024


async def receive_capped(stream: AsyncIterator[bytes], limit: int, dest: str) -> int:
    """Writes the request body to ``dest``; 413 as soon as it passes ``limit`` bytes."""
    total = 0
    with open(dest, "wb") as f:
        async for chunk in stream:
            total += len(chunk)
            if total > limit:
                raise ApiError(413, "upload_too_large", f"the upload exceeds the plan's {limit:,} bytes")
            f.write(chunk)
    return total


def extract_file(body_path: str, content_type: str, length: int, dest: str, field: str = "file") -> tuple[int, str]:
    """Pulls the one file field out of a multipart body into ``dest``: (size, file name)."""
    found: dict[str, Any] = {}

    def on_file(f: File) -> None:
        if f.field_name is not None and f.field_name.decode() == field and "name" not in found:
            f.file_object.seek(0)
            with open(dest, "wb") as out:
                shutil.copyfileobj(f.file_object, out)
            found["name"] = (f.file_name or b"").decode(errors="replace")
            found["size"] = f.size
        f.close()

    headers = {"Content-Type": content_type.encode(), "Content-Length": str(length).encode()}
    try:
        with open(body_path, "rb") as body:
            parse_form(headers, body, lambda _f: None, on_file)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's malformed body
        raise ApiError(422, "malformed_multipart", f"the multipart body cannot be parsed: {exc}") from exc
    if "name" not in found:
        raise ApiError(422, "missing_file", f"the multipart body has no file field named {field!r}")
    return int(found["size"]), str(found["name"])


def inspect_media(services: Services, principal: Principal, path: str) -> tuple[str, dict[str, Any]]:
    """(kind, facts) or a MediaError: nothing is stored before this passes."""
    if os.path.getsize(path) == 0:
        raise MediaError("the file is empty (0 bytes)", "empty_file")
    s = services.settings
    kind, notes = detect_kind(path)
    if kind == "image":
        decoded = decode_image(path, s.max_image_pixels)
        return "image", {"format": decoded.format, "width": decoded.width, "height": decoded.height, "notes": notes}
    limit = min(s.max_video_seconds, get_plan(principal.plan).max_video_seconds)
    info = probe(path, limit, s.max_video_pixels)
    facts = {"format": info.codec, "width": info.width, "height": info.height, "duration_s": info.duration_s}
    return "video", facts


def check_quota(services: Services, principal: Principal) -> str:
    month = time.strftime("%Y-%m", time.gmtime(services.clock()))
    limit = get_plan(principal.plan).analyses_per_month
    if limit is not None:
        used = services.table.get(f"ORG#{principal.org}", f"USAGE#{month}") or {}
        if int(used.get("analyses", 0)) >= limit:
            raise ApiError(402, "quota_exceeded", f"the {principal.plan} plan's {limit} analyses this month are used")
    return month


def accept(services: Services, principal: Principal, asset: dict[str, Any], path: str, size: int) -> dict[str, Any]:
    """Validates, stores the source and queues the job; on any failure nothing stays behind."""
    if asset["status"] not in UPLOADABLE:
        raise ApiError(409, "already_uploaded", f"the asset is {asset['status']}; upload is not possible now")
    month = check_quota(services, principal)
    kind, facts = inspect_media(services, principal, path)
    key = source_key(principal.org, asset["asset"])
    with open(path, "rb") as f:
        services.blobs.put(key, f, "application/octet-stream")
    try:
        updated = services.table.update(
            f"ASSET#{asset['asset']}",
            "METADATA",
            set={"kind": kind, "status": "queued", "size": size, "media": facts},
            remove=["error", "scores", "result_version"],
            condition=Condition(exists=True, equals={"org": principal.org, "status": asset["status"]}),
        )
    except ConditionFailedError as exc:
        services.blobs.delete(key)
        raise ApiError(409, "already_uploaded", "the asset changed during the upload; try again") from exc
    try:
        services.repo.create_job(principal.org, asset["asset"], "analyse")
        services.repo.add_usage(principal.org, month)
    except Exception:
        services.table.update(
            f"ASSET#{asset['asset']}",
            "METADATA",
            set={"status": asset["status"], "kind": asset["kind"]},
            remove=["size", "media"],
        )
        services.blobs.delete(key)
        raise
    return updated


def scratch_file(services: Services) -> str:
    base = os.path.join(str(services.settings.data_dir), "tmp") if services.settings.backend == "embedded" else None
    if base:
        os.makedirs(base, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="upload-", dir=base)
    os.close(fd)
    return path
