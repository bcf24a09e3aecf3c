"""Writes of a run whose asset may be deleted while it runs.

The delete route removes the asset's metadata, then its blobs. A run that writes a blob and
only then checks that the asset still exists cannot leave one behind: either the check sees
the asset gone (and the run removes what it wrote), or the write came before the route's
listing of the blobs (which removes it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..storage.base import BlobInfo, BlobStore, PresignedUpload


class AssetGoneError(LookupError):
    """The asset was deleted (or moved away) while a run wrote its outputs."""


class GuardedBlobs:
    """A BlobStore whose writes under ``prefix`` are checked with ``alive`` after each one."""

    def __init__(self, inner: BlobStore, prefix: str, alive: Callable[[], bool]) -> None:
        self.inner = inner
        self.prefix = prefix.rstrip("/") + "/"
        self.alive = alive

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> BlobInfo:
        info = self.inner.put(key, data, content_type)
        if key.startswith(self.prefix) and not self.alive():
            self.inner.delete(key)
            raise AssetGoneError(f"the asset was deleted while {key} was written")
        return info

    def get(self, key: str) -> Iterator[bytes]:
        return self.inner.get(key)

    def read(self, key: str) -> bytes:
        return self.inner.read(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        return self.inner.list(prefix)

    def presign_upload(self, key: str, expires_in: int = 900, content_type: str | None = None) -> PresignedUpload:
        return self.inner.presign_upload(key, expires_in, content_type)

    def presign_download(self, key: str, expires_in: int = 900) -> str:
        return self.inner.presign_download(key, expires_in)
