"""Warnings about refused requests, limited so that a flood of refusals is not a flood of lines.

A guesser spraying sign-ins is refused thousands of times a second; a warning line for each
would fill the logs (and their bill) and bury everything else. Per window (a minute) this
writes the first refusal of each key (an account's keyed hash, a client address), at most
``max_lines`` of them, and counts the rest; the count is written as one summary line with the
first refusal after the window ends (there is no timer thread: a quiet service owes no line).

Only what the caller passes as the key is logged: never an email or a password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

WINDOW_S = 60.0
MAX_LINES = 20  # individual lines per window, all keys together


class RefusalLog:
    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        window_s: float = WINDOW_S,
        max_lines: int = MAX_LINES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.what = logger, what
        self.window_s, self.max_lines, self.clock = window_s, max_lines, clock
        self._lock = threading.Lock()
        self._start: float | None = None
        self._logged: set[str] = set()  # at most max_lines keys: memory stays bounded
        self._unlogged = 0

    def refused(self, key: str, detail: str = "") -> None:
        """Counts one refusal of ``key``; writes it when it is the key's first this window."""
        now = self.clock()
        summary: tuple[int, float] | None = None
        with self._lock:
            if self._start is None or now - self._start >= self.window_s:
                if self._unlogged and self._start is not None:
                    summary = (self._unlogged, self._start)
                self._start, self._logged, self._unlogged = now, set(), 0
            first = key not in self._logged and len(self._logged) < self.max_lines
            if first:
                self._logged.add(key)
            else:
                self._unlogged += 1
        if summary is not None:
            self.logger.warning(
                "%s: %d more refusals not logged one by one in the %.0f s from %.0f s before this line",
                self.what, summary[0], self.window_s, now - summary[1],
            )  # fmt: skip
        if first:
            self.logger.warning(
                "%s: %s%s (more of its refusals in this %.0f s window are counted, then summarised)",
                self.what, key, f" ({detail})" if detail else "", self.window_s,
            )  # fmt: skip
