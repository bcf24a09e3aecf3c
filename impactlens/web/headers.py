"""Security headers on every response (pages, fragments, media, /v1).

Pages get a Content-Security-Policy that allows scripts from this origin only: no inline
script, no inline handlers, no eval, so a name that slipped past escaping still cannot run.
Styles come from our stylesheets only: no style="" attribute or <style> element (an injected
one could read attribute values out through selectors and background URLs, or redress the UI);
values computed at run time are set from our modules through the CSSOM, which the policy allows,
and htmx is told not to add its indicator <style>. Anything that is not a
page (media, thumbnails, JSON) gets a sandboxing policy: opened on its own in a tab, an
uploaded file that a browser took for HTML or SVG could not run script on our origin. Nobody
may frame us (clickjacking the AOI editor or the admin forms).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def page_policy(extra_origins: Iterable[str] = ()) -> str:
    extra = "".join(f" {o}" for o in sorted(set(extra_origins)))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:{extra}; media-src 'self' blob:{extra}; connect-src 'self'{extra}; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


# style-src 'unsafe-inline' stays here, and only here: Chromium builds the document that shows an
# image opened on its own (centred, dark background) with inline styles, and refuses them without
# it (console: "Applying inline style violates ... default-src 'none'", the image sticks to the
# top left). Such a document holds no markup of ours and runs no script (sandbox).
# "allow-same-origin" (and nothing else): a sandbox without it gives the document the opaque
# origin "null", and Chromium then refuses the document's own video request as cross-origin, so
# a video result opened in its own tab never played. With no allow-scripts, allow-forms or
# allow-popups, the real origin gives such a document nothing to act with.
FILE_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; sandbox allow-same-origin"
)


def store_origin(presigned_url: str) -> str | None:
    """The object store's origin when media and uploads go to it directly (presigned URLs)."""
    parts = urlsplit(presigned_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


# /v1 paths whose answers are the same for everyone (the model registry) or carry their own
# caching (signed, immutable result files).
PUBLIC_API = ("/v1/models", "/v1/blobs/")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, extra_origins: list[str]) -> None:
        self.app = app
        self.page_csp = page_policy(extra_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = str(scope.get("path", ""))
        private_api = path.startswith("/v1/") and not path.startswith(PUBLIC_API)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                if "content-security-policy" not in headers:  # /docs sets its own (hashed script)
                    headers["Content-Security-Policy"] = self.page_csp if html else FILE_POLICY
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if html or private_api:
                    # Pages and /v1 answers hold one organisation's data (and new keys, the
                    # webhook secret, presigned links): never kept by a shared or disk cache.
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
