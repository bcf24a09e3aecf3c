"""Outbound HTTP to tenant-chosen URLs (webhooks) without becoming a way into the network.

A URL is parsed strictly (http/https, a host, a numeric port), its host is resolved once,
and every address it resolves to must be globally routable: loopback, private, link-local,
carrier-grade NAT, multicast, reserved, unspecified and cloud metadata addresses are refused,
also when spelled as one decimal number, in octal or hex, short (``127.1``), or wrapped in
IPv6 (mapped, NAT64, 6to4). The connection goes to the address that was checked, never to
a second lookup (DNS rebinding), and redirects are not followed. ``allow_private`` lifts the
address rule (development and tests only); the URL rules always hold.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2000
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
}
_NOT_PUBLIC = [
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b:1::/48", "2001:db8::/32", "fec0::/10")
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9A-Fa-f]*|[0-9]+)$")


class UnsafeURLError(ValueError):
    """The URL is malformed or points somewhere a webhook may not go."""

    code = "invalid_webhook_url"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (for Host and TLS), lower case, without brackets or final dot
    port: int
    path: str  # path and query
    auth: str | None  # "user:password" from the URL, if any
    addresses: tuple[str, ...]  # checked addresses; the first is connected to


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a resolver's inet_aton would read (``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``), None when the host is not all-numeric, UnsafeURLError when it is
    numeric but not a valid address (which resolvers disagree about)."""
    labels = host.split(".")
    if not 1 <= len(labels) <= 4 or not all(_NUMERIC_LABEL.match(x) for x in labels):
        return None
    try:
        values = [
            int(x, 16) if x[:2].lower() == "0x" else int(x, 8) if len(x) > 1 and x[0] == "0" else int(x) for x in labels
        ]
    except ValueError as exc:
        raise UnsafeURLError(f"malformed numeric host {host!r}") from exc
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise UnsafeURLError(f"malformed numeric host {host!r}")
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(number)


def refused_reason(ip: IPAddress) -> str | None:
    """Why a webhook may not connect to ``ip``; None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None:
            inner = refused_reason(embedded)
            if inner:
                return f"{inner} (inside {ip})"
    checks = [
        (ip in _METADATA, "a cloud metadata address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (any(ip in n for n in _NOT_PUBLIC), "a non-public address"),
        (not ip.is_global, "not a globally routable address"),
    ]
    return next((f"{ip} is {why}" for bad, why in checks if bad), None)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_url(url: str) -> tuple[str, str, int, str, str | None]:
    """(scheme, host, port, path, auth) of a well-formed http(s) URL, or UnsafeURLError."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise UnsafeURLError("the URL must be a string of at most 2000 characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise UnsafeURLError("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"malformed URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURLError("only http and https URLs are allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeURLError("the URL has no host")
    bracketed = "[" in parts.netloc
    if not bracketed and not _HOST_RE.match(host):
        raise UnsafeURLError(f"malformed host {host!r}")
    if port == 0:
        raise UnsafeURLError("port 0 is not a port")
    auth = None
    if parts.username is not None or parts.password is not None:
        auth = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path, auth


def check_url(
    url: str, allow_private: bool = False, resolve: Resolver | None = system_resolver, strict: bool = True
) -> Target:
    """Parse, resolve once and check ``url``. ``resolve=None`` checks only literal addresses
    and names that are local by definition. ``strict=False`` (saving a URL) accepts a name
    that does not resolve yet; at send time it must."""
    scheme, host, port, path, auth = parse_url(url)
    if host == "localhost" or host.endswith(".localhost") or host in ("localhost.localdomain", "ip6-localhost"):
        literal: IPAddress | None = ipaddress.ip_address("127.0.0.1")
    else:
        literal = _inet_aton(host)
        if literal is None and ":" in host:
            try:
                literal = ipaddress.IPv6Address(host.split("%")[0])
            except ValueError as exc:
                raise UnsafeURLError(f"malformed IPv6 address {host!r}") from exc
            if "%" in host:
                raise UnsafeURLError("zone indexes are not allowed in webhook URLs")
    if literal is not None:
        addresses = [str(literal)]
    elif resolve is None:
        addresses = []
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            if strict:
                raise UnsafeURLError(f"the host {host!r} does not resolve: {exc}") from exc
            addresses = []
        if strict and not addresses:
            raise UnsafeURLError(f"the host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refused_reason(ipaddress.ip_address(address.split("%")[0]))
            if reason:
                raise UnsafeURLError(f"webhooks may not target {host!r}: {reason}")
    return Target(scheme, host, port, path, auth, tuple(addresses))


class _ResolveTimeoutError(Exception):
    """The lookup outlasted the delivery's deadline (not an OSError: check_url must not read
    it as a name that does not resolve)."""


def _within(resolve: Resolver, timeout: float) -> Resolver:
    """``resolve`` bounded by ``timeout``: it runs in its own daemon thread (a blocked
    getaddrinfo cannot be interrupted), and the caller stops waiting at the deadline."""

    def bounded(host: str, port: int) -> list[str]:
        box: list[list[str] | BaseException] = []
        done = threading.Event()

        def work() -> None:
            try:
                box.append(resolve(host, port))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                box.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name="impactlens-resolve", daemon=True).start()
        if not done.wait(timeout):
            raise _ResolveTimeoutError(f"resolving {host!r} took over {timeout:g} s")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    return bounded


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.addresses[0]

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(_PinnedHTTP):
    default_port = 443

    def connect(self) -> None:
        super().connect()
        # Certificate and SNI are checked against the name in the URL, not the address.
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
) -> int:
    """POSTs ``body`` to the checked address of ``url``; the response status (3xx included:
    redirects are the caller's failure, never followed). ``timeout`` bounds the whole
    exchange, resolving the host included, so a receiver that trickles bytes or a slow DNS
    server cannot hold the caller longer."""
    deadline = time.monotonic() + timeout
    try:
        target = check_url(url, allow_private, _within(resolve, timeout))
    except _ResolveTimeoutError as exc:
        raise ConnectionError(f"delivery failed: {exc}") from exc
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConnectionError(f"delivery to {target.host} failed: timed out resolving it")
    conn = (_PinnedHTTPS if target.scheme == "https" else _PinnedHTTP)(target, left)
    sent = dict(headers)
    if target.auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(target.auth.encode()).decode()
    timer = threading.Timer(left, _abort, (conn,))
    timer.daemon = True
    timer.start()
    try:
        conn.request("POST", target.path, body=body, headers=sent)
        response = conn.getresponse()
        response.read(64 * 1024)
        return int(response.status)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise ConnectionError(f"delivery to {target.host} failed: {exc}") from exc
    finally:
        timer.cancel()
        conn.close()


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
