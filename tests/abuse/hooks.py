"""A webhook receiver on 127.0.0.1 for the abuse tests: records what reaches it, and can
answer slowly, fail first, or redirect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.api_support import World


@dataclass
class Receiver:
    url: str
    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    # Status codes to answer, in order (then 204); ("302", location) redirects.
    script: list[int] = field(default_factory=list)
    location: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    hold: bool = False  # answer only once ``release`` is set (a receiver that hangs)

    def paths(self) -> list[str]:
        return [c[0] for c in self.calls]


@contextmanager
def receiver(path: str = "/hook", **kw: Any) -> Iterator[Receiver]:
    rec: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.calls.append((self.path, body, dict(self.headers)))
            if rec.hold:
                rec.release.wait(30)
            status = rec.script.pop(0) if rec.script else 204
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", rec.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815 - a followed redirect may arrive as a GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec = Receiver(f"http://127.0.0.1:{server.server_port}{path}", **kw)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


def set_webhook_unchecked(world: World, org: str, url: str) -> None:
    """Stores a webhook URL without the API's checks: one saved before they existed, or a
    name whose DNS answer changed since it was saved."""
    world.services.table.update(f"ORG#{org}", f"ORG#{org}", set={"webhook_url": url, "webhook_secret": "s3cret"})


def deliver_all(world: World) -> None:
    """Runs due webhook deliveries (the dispatcher's threads do this in the server)."""
    dispatcher = getattr(world.worker, "webhooks", None)
    if dispatcher is not None:
        dispatcher.drain()
