"""Token buckets per organisation (and per client address for logins), in process memory.

Each API process (a uvicorn worker, a Lambda container) limits on its own; the embedded
server runs one process, so the plan's rate holds exactly there.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> float:
        """Takes a token: 0.0 when allowed, otherwise the seconds to wait (Retry-After)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._state.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            if len(self._state) > self.max_keys:
                self._state.clear()  # bounded memory under a flood of distinct keys
            return (1.0 - tokens) / rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
