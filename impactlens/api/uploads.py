"""Receiving an asset's bytes: streamed and capped straight into a scratch file under the
data dir, validated before anything is stored (a bounded number at once), then stored under
a key of its own and made the asset's source by one conditional transaction that also
queues the job and charges the month's usage.

Every upload has its own key, so two overlapping uploads (or a retried completion) never
write over, or delete, the original that won: the loser deletes only what it wrote itself.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..accounts import Principal, get_plan
from ..db.repository import ConflictError, QuotaExceededError, new_ulid
from ..errors import MediaError
from ..jobs.analysis import asset_prefix, source_key
from ..media.image_io import IMAGE_FORMATS, decode_image
from ..media.sniff import detect_kind
from ..media.video_io import probe, scan_extent
from ..services import Services
from ..storage import owners
from .errors import ApiError

UPLOADABLE = ("awaiting_upload", "failed")
MULTIPART_OVERHEAD = 64 * 1024
VALIDATION_WAIT_S = 30.0
MAX_PART_HEADER = 16 * 1024


def new_source_key(org: str, asset: str) -> str:
    return f"{asset_prefix(org, asset)}/uploads/{new_ulid()}/source"


def incoming_key(org: str, asset: str) -> str:
    """Where a presigned (direct-to-store) upload lands before /uploaded checks it."""
    return f"{asset_prefix(org, asset)}/incoming"


class ValidationSlots:
    """Bounds how many uploads are decoded or probed at once in this process: a burst of
    uploads waits its turn instead of decoding everything together (memory)."""

    def __init__(self, slots: int, wait_s: float = VALIDATION_WAIT_S) -> None:
        self._sem = threading.BoundedSemaphore(slots)
        self.wait_s = wait_s

    @contextmanager
    def hold(self) -> Iterator[None]:
        if not self._sem.acquire(timeout=self.wait_s):
            raise ApiError(503, "busy", "too many uploads are being checked; retry shortly", {"Retry-After": "5"})
        try:
            yield
        finally:
            self._sem.release()


async def receive_file(
    stream: AsyncIterator[bytes], content_type: str, limit: int, dest: str, field: str = "file"
) -> tuple[int, str]:
    """Parses a multipart body as it arrives and writes the ``field`` part to ``dest``, and
    nothing anywhere else: (size, file name). 413 past ``limit`` bytes, 422 when malformed."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(422, "malformed_multipart", "the multipart body has no boundary")
    st: dict[str, Any] = {"hname": b"", "hvalue": b"", "headers": {}, "target": False, "found": False, "size": 0}
    st.update(complete=False, name="")

    def on_part_begin() -> None:
        st.update(headers={}, target=False)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        st["hname"] += data[start:end]
        header_room()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        st["hvalue"] += data[start:end]
        header_room()

    def header_room() -> None:
        # Part headers are held in memory: a few KB are plenty, a body's worth is an attack.
        if len(st["hname"]) + len(st["hvalue"]) > MAX_PART_HEADER:
            raise ApiError(422, "malformed_multipart", "a multipart header is too long")

    def on_header_end() -> None:
        st["headers"][st["hname"].lower()] = st["hvalue"]
        st.update(hname=b"", hvalue=b"")

    def on_headers_finished() -> None:
        _, opts = parse_options_header(st["headers"].get(b"content-disposition", b""))
        if opts.get(b"name") == field.encode() and not st["found"]:
            st.update(target=True, found=True, name=opts.get(b"filename", b"").decode(errors="replace"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if st["target"]:
            st["size"] += end - start
            if st["size"] > limit:
                raise ApiError(413, "upload_too_large", f"the file exceeds the plan's {limit:,} bytes")
            out.write(data[start:end])

    def on_part_end() -> None:
        if st["target"]:
            st.update(target=False, complete=True)

    callbacks: Any = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    total = 0
    with open(dest, "wb") as out:
        async for chunk in stream:
            total += len(chunk)
            if total > limit + MULTIPART_OVERHEAD:
                raise ApiError(413, "upload_too_large", f"the upload exceeds the plan's {limit:,} bytes")
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise ApiError(422, "malformed_multipart", "the multipart body cannot be parsed") from exc
    if not st["found"]:
        raise ApiError(422, "missing_file", f"the multipart body has no file field named {field!r}")
    if not st["complete"]:
        raise ApiError(422, "malformed_multipart", "the multipart body ends inside the file (incomplete upload)")
    return int(st["size"]), str(st["name"])


def video_limit_s(services: Services, principal: Principal) -> float:
    return min(services.settings.max_video_seconds, get_plan(principal.plan).max_video_seconds)


def inspect_media(services: Services, principal: Principal, path: str) -> tuple[str, dict[str, Any]]:
    """(kind, facts) or a MediaError: nothing is stored before this passes."""
    if os.path.getsize(path) == 0:
        raise MediaError("the file is empty (0 bytes)", "empty_file")
    s = services.settings
    kind, notes = detect_kind(path)
    if kind == "image":
        decoded = decode_image(path, s.max_image_pixels)
        return "image", {"format": decoded.format, "width": decoded.width, "height": decoded.height, "notes": notes}
    limit = video_limit_s(services, principal)
    try:
        info = probe(path, limit, s.max_video_pixels)
    except MediaError as exc:
        if exc.code != "not_a_video":
            raise
        # A still image in a format not decoded here (Pillow would, but see IMAGE_FORMATS).
        formats = ", ".join(IMAGE_FORMATS)
        raise MediaError(f"{exc.message}; images are accepted as {formats}", "unsupported_media") from exc
    # The header alone can lie about the length or lack it, and a cut file keeps its header:
    # the packets' timestamps say what the file holds.
    extent = scan_extent(path, limit)
    if info.duration_s > 1.0 and extent < 0.9 * info.duration_s - 1.0:
        raise MediaError(
            f"the video stops at {extent:.2f} s but its header says {info.duration_s:.2f} s (truncated)",
            "truncated_media",
        )
    duration = info.duration_s if abs(info.duration_s - extent) <= max(1.0, 0.1 * extent) else extent
    facts = {"format": info.codec, "width": info.width, "height": info.height, "duration_s": duration}
    return "video", facts


def check_quota(services: Services, principal: Principal) -> str:
    """An early refusal before the expensive checks; the acceptance transaction is what holds."""
    month = time.strftime("%Y-%m", time.gmtime(services.clock()))
    limit = get_plan(principal.plan).analyses_per_month
    if limit is not None:
        used = services.table.get(f"ORG#{principal.org}", f"USAGE#{month}") or {}
        if int(used.get("analyses", 0)) >= limit:
            raise quota_error(principal, limit)
    return month


def quota_error(principal: Principal, limit: int) -> ApiError:
    return ApiError(402, "quota_exceeded", f"the {principal.plan} plan's {limit} analyses this month are used")


def accept(
    services: Services,
    principal: Principal,
    asset: dict[str, Any],
    path: str,
    size: int,
    slots: ValidationSlots | None = None,
) -> dict[str, Any]:
    """Validates, stores the source under its own key and, in one transaction, makes it the
    asset's source, queues the job and charges the month; on any failure nothing stays."""
    if asset["status"] not in UPLOADABLE:
        raise ApiError(409, "already_uploaded", f"the asset is {asset['status']}; upload is not possible now")
    month = check_quota(services, principal)
    with slots.hold() if slots is not None else nullcontext():
        kind, facts = inspect_media(services, principal, path)
    org, asset_id = principal.org, asset["asset"]
    key = new_source_key(org, asset_id)
    with open(path, "rb") as f:
        services.blobs.put(key, f, "application/octet-stream")
    attrs: dict[str, Any] = {"kind": kind, "status": "queued", "size": size, "media": facts, "source": key}
    if kind == "video":
        attrs["max_video_s"] = video_limit_s(services, principal)  # the plan's limit, for the decode
    limit = get_plan(principal.plan).analyses_per_month
    try:
        services.repo.accept_upload(org, asset_id, asset["status"], attrs, month, limit)
    except QuotaExceededError as exc:
        services.blobs.delete(key)
        raise quota_error(principal, limit or 0) from exc
    except ConflictError as exc:
        services.blobs.delete(key)
        raise ApiError(409, "already_uploaded", "the asset changed during the upload; try again") from exc
    except Exception:
        _forget_unless_source(services, org, asset_id, key)
        raise
    # The previous original of a failed asset is superseded now (only the winner gets here).
    previous = asset.get("source") or (source_key(org, asset_id) if asset["status"] == "failed" else None)
    if previous and previous != key:
        services.blobs.delete(previous)
    out = {k: v for k, v in asset.items() if k not in ("error", "scores", "result_version")}
    return {**out, **attrs}


def _forget_unless_source(services: Services, org: str, asset: str, key: str) -> None:
    """After an unexpected failure the transaction may still have happened (a lost reply):
    the blob is deleted only when the asset does not point at it."""
    try:
        current = services.repo.get_asset(org, asset)
    except Exception:  # noqa: BLE001 - when in doubt, keep the blob (an orphan, never a loss)
        return
    if current is None or current.get("source") != key:
        services.blobs.delete(key)


def scratch_file(services: Services) -> str:
    """A scratch file under the data dir (embedded); Lambda's only writable place is /tmp."""
    base = os.path.join(str(services.settings.data_dir), "tmp") if services.settings.backend == "embedded" else None
    if base:
        os.makedirs(base, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=f"upload-{owners.tag()}", dir=base)
    os.close(fd)
    return path
