"""The blob-storage interface: keys are '/'-separated relative paths, values are bytes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")
MAX_KEY_LENGTH = 512


class BlobError(Exception):
    code = "blob_error"


class InvalidKeyError(BlobError, ValueError):
    code = "invalid_key"


class BlobNotFoundError(BlobError, KeyError):
    code = "not_found"


def check_key(key: str) -> str:
    """Keys are relative, '/'-separated, with no empty, '.' or '..' segments (no traversal)."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        raise InvalidKeyError(f"invalid blob key {key!r}")
    if any(part in (".", "..") for part in key.split("/")):
        raise InvalidKeyError(f"invalid blob key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    if prefix == "":
        return prefix
    return check_key(prefix.rstrip("/")) + ("/" if prefix.endswith("/") else "")


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    content_type: str | None = None


@dataclass(frozen=True)
class PresignedUpload:
    """Send the file with ``method`` to ``url``, adding ``headers`` (S3: a PUT with SSE header)."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)
    expires_in: int = 900


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> BlobInfo:
        """Store ``data`` under ``key`` atomically: readers see the old blob or the new one."""

    def get(self, key: str) -> Iterator[bytes]:
        """Stream the blob in chunks; BlobNotFoundError if absent."""

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Delete; deleting a missing key is not an error (idempotent)."""

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Blobs whose key starts with ``prefix``, in key order."""

    def presign_upload(self, key: str, expires_in: int = 900, content_type: str | None = None) -> PresignedUpload: ...

    def presign_download(self, key: str, expires_in: int = 900) -> str: ...
