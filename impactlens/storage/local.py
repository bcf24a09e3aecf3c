"""Blob storage in a local folder (the embedded default).

Writes go to a temporary file in the same folder and are renamed into place, so a reader
never sees half a blob and a crash leaves no partial file under a real key. Presigned URLs
point at the HTTP server that fronts this folder (the API, ``base_url``) and carry an
HMAC-SHA256 signature over method, key and expiry, checked by :meth:`verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from . import owners
from .base import CHUNK, BlobInfo, BlobNotFoundError, PresignedUpload, check_key, check_prefix

TMP_SUFFIX = ".partial"


class LocalBlobStore:
    def __init__(self, root: str | Path, signing_key: bytes, base_url: str = "http://127.0.0.1:8000/v1/blobs") -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._signing_key = signing_key
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise BlobNotFoundError(key)  # a symlink or oddity pointing outside the root
        return path

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> BlobInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{owners.tag()}", suffix=TMP_SUFFIX)
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, bytes | bytearray | memoryview):
                    fh.write(data)
                    size = len(data)
                else:
                    while chunk := data.read(CHUNK):
                        fh.write(chunk)
                        size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return BlobInfo(key, size, content_type)

    def get(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fh = path.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFoundError(key) from exc

        def chunks() -> Iterator[bytes]:
            with fh:
                while chunk := fh.read(CHUNK):
                    yield chunk

        return chunks()

    def read(self, key: str) -> bytes:
        return b"".join(self.get(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Prune empty parent folders so listing stays cheap; stop at the root.
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        prefix = check_prefix(prefix)
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.endswith(TMP_SUFFIX)):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                yield BlobInfo(key, path.stat().st_size)

    # Presigned URLs -----------------------------------------------------------------------
    def _signature(self, method: str, key: str, expires: int) -> str:
        msg = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._signing_key, msg, hashlib.sha256).hexdigest()

    def _url(self, method: str, key: str, expires_in: int) -> str:
        expires = int(time.time()) + int(expires_in)
        query = urlencode({"expires": expires, "signature": self._signature(method, check_key(key), expires)})
        return f"{self.base_url}/{quote(key)}?{query}"

    def presign_upload(self, key: str, expires_in: int = 900, content_type: str | None = None) -> PresignedUpload:
        headers = {"Content-Type": content_type} if content_type else {}
        return PresignedUpload(self._url("PUT", key, expires_in), "PUT", headers, expires_in)

    def presign_download(self, key: str, expires_in: int = 900) -> str:
        return self._url("GET", key, expires_in)

    def verify(self, method: str, key: str, expires: str | int, signature: str, now: float | None = None) -> bool:
        """True if a presigned request is authentic and not expired (constant-time compare)."""
        try:
            exp = int(expires)
            check_key(key)
        except (TypeError, ValueError):
            return False
        if exp < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self._signature(method.upper(), key, exp), signature)
