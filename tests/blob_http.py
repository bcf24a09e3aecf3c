"""A minimal HTTP front for LocalBlobStore presigned URLs, as the API server will provide."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from impactlens.storage import BlobNotFoundError, LocalBlobStore


@contextmanager
def serve_local_store(store: LocalBlobStore) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _auth(self) -> str | None:
            parts = urlsplit(self.path)
            key = unquote(parts.path.removeprefix("/v1/blobs/"))
            q = parse_qs(parts.query)
            ok = store.verify(self.command, key, q.get("expires", [""])[0], q.get("signature", [""])[0])
            if not ok:
                self.send_response(403)
                self.end_headers()
                return None
            return key

        def do_GET(self) -> None:  # noqa: N802
            key = self._auth()
            if key is None:
                return
            try:
                data = store.read(key)
            except BlobNotFoundError:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:  # noqa: N802
            key = self._auth()
            if key is None:
                return
            length = int(self.headers.get("Content-Length", "0"))
            store.put(key, self.rfile.read(length))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/blobs"
    finally:
        server.shutdown()
        server.server_close()
