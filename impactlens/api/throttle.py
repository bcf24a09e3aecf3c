"""Token buckets per organisation (and per client address for logins), in process memory.

Each API process (a uvicorn worker, a Lambda container) limits on its own; the embedded
server runs one process, so the plan's rate holds exactly there.

The table is bounded: past ``max_keys`` the least recently used buckets go first. Those are
the ones idle longest, usually refilled already (a full bucket is the same as none), and a
client that keeps trying keeps its bucket however many new keys a flood brings.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..db.ratelimit import MAX_DEBT_WINDOWS, tokens_needed


class TokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._state)

    def take(self, key: str, rate: float, burst: int, cost: int = 1) -> float:
        """Takes ``cost`` tokens: 0.0 when allowed, otherwise the seconds to wait (Retry-After).

        A request costing more than one token (a CSV export, per rows read) needs
        ``need(cost, burst)`` of them and takes all ``cost``: the bucket goes below zero, and the
        key's next requests wait until it has refilled (a debt), so work of any size is paid
        for at the plan's rate, yet is never refused for good for being larger than the burst."""
        now = self.clock()
        # As the table limiter (db/ratelimit.py): a cost below 1 is 1 (never a gift of tokens),
        # and the debt stops at MAX_DEBT_WINDOWS bursts, so one export of a huge campaign cannot
        # hold every member of the organisation off the dashboard for hours.
        cost = max(cost, 1)
        floor = -float(MAX_DEBT_WINDOWS * burst)
        need = float(tokens_needed(cost, burst))
        with self._lock:
            tokens, last = self._state.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            allowed = tokens >= need
            self._state[key] = (max(floor, tokens - cost) if allowed else tokens, now)
            self._state.move_to_end(key)
            while len(self._state) > self.max_keys:
                self._state.popitem(last=False)
            return 0.0 if allowed else (need - tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def client_key(request: Any) -> str:
    """The client a per-address bucket counts: an IPv4 address, or an IPv6 address's /64.
    One IPv6 host is routed a whole /64, so counted per address an attacker could make
    every login or key guess come from a fresh one."""
    host = request.client.host if request.client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
