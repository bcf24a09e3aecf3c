"""A request limit that holds across API containers: counters in the table.

The in-process token buckets (api/throttle.py) are exact for the one embedded server, but on
Lambda each warm container has its own, so N containers admit N times a plan's rate. Here
each key counts its requests per window of ``burst / rate`` seconds in an item that one
conditional ADD raises (atomic, no read first): at most ``burst`` requests per window, the
plan's average rate, whichever container answers. Windows are fixed, so a client can fit two
bursts around a window's edge; the stage throttle of API Gateway bounds the total anyway.

A single item takes about 1,000 writes a second, so a key whose rate is above ``SHARD_RATE``
is spread over several items, each allowing its share of the burst; a request picks one at
random (the limit then holds on average, slightly below it for an uneven draw). Items expire
through the table's TTL attribute.

``SlidingWindowCounter`` counts rarer events (failed sign-ins per account) the same way, on the
same items, with reservations that can be given back.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .aggregates import TTL_ATTRIBUTE
from .table import Condition, ConditionFailedError, Table

SHARD_RATE = 400.0  # requests/s one counter item is asked to absorb (well under DynamoDB's ~1,000 WCU)
MAX_DEBT_WINDOWS = 64  # windows a costly request may be charged into (writes per request stay bounded)


def tokens_needed(cost: int, burst: int) -> int:
    """What a request of ``cost`` tokens must find in a bucket of ``burst``: all of them, but
    never more than half a burst. A full burst could never be found by a request that follows
    its own page's token (the export), nor while the key's other pages keep coming."""
    return min(max(cost, 1), max(1, burst // 2))


class TableRateLimiter:
    """The interface of api.throttle.TokenBuckets: ``take`` returns 0.0 when the request may
    go ahead, else the seconds until it may (Retry-After)."""

    def __init__(
        self,
        table: Table,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        shard_rate: float = SHARD_RATE,
    ) -> None:
        self.table = table
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - load spreading, not security
        self.shard_rate = shard_rate

    def take(self, key: str, rate: float, burst: int, cost: int = 1) -> float:
        """``cost`` above 1 (a CSV export, per rows read): as TokenBuckets.take, it needs room
        for ``tokens_needed(cost, allowed)`` in the window and takes all of it; what goes past the
        window's allowance is added to the following windows (a debt, at most
        ``MAX_DEBT_WINDOWS`` of them), so the key's next requests wait as long as it took."""

        window = max(burst / rate, 1.0)
        shards = max(1, math.ceil(rate / self.shard_rate))
        allowed = max(1, burst // shards)
        cost = max(cost, 1)
        need = tokens_needed(cost, allowed)
        now = self.clock()
        start = math.floor(now / window) * window
        pk = f"RATE#{key}#{self.rng.randrange(shards)}"
        try:
            item = self.table.update(
                pk,
                f"W#{int(start * 1000)}",
                add={"n": cost},
                set={TTL_ATTRIBUTE: int(start + window) + 60},
                condition=Condition(less_than={"n": allowed - need + 1}),
            )
        except ConditionFailedError:
            return max(0.001, start + window - now)
        debt = min(int(item["n"]) - allowed, cost)
        for k in range(1, MAX_DEBT_WINDOWS + 1):
            if debt <= 0:
                break
            later = start + k * window
            ttl = {TTL_ATTRIBUTE: int(later + window) + 60}
            self.table.update(pk, f"W#{int(later * 1000)}", add={"n": min(debt, allowed)}, set=ttl)
            debt -= allowed
        return 0.0


@dataclass(frozen=True)
class Reservation:
    """One counted event, so that it can be given back (``SlidingWindowCounter.release``)."""

    pk: str
    sk: str


class SlidingWindowCounter:
    """Events per key over a sliding window, counted in the table (sign-in failures per account).

    Two fixed windows, the previous one weighted by how much of it still overlaps the sliding
    window (the usual estimate), so there is no window edge to fit two budgets around. An event
    is *reserved* before the work it counts (a password check) by one conditional ADD on the
    current window's item, so concurrent requests on any number of containers cannot overshoot
    the limit; work that turns out not to count (a right password, a busy refusal) releases it.
    """

    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock

    def _items(self, key: str, window: float, now: float) -> tuple[str, float, int, int]:
        start = math.floor(now / window) * window
        pk = f"RATE#{key}"
        prev = self.table.get(pk, f"W#{int((start - window) * 1000)}")
        cur = self.table.get(pk, f"W#{int(start * 1000)}")
        return pk, start, int(prev["n"]) if prev else 0, int(cur["n"]) if cur else 0

    def reserve(self, key: str, limit: int, window: float) -> tuple[Reservation | None, float]:
        """(the reservation, 0.0) when the event fits under ``limit``, else (None, seconds to wait)."""
        now = self.clock()
        pk, start, prev, cur = self._items(key, window, now)
        bound = limit - prev * (1.0 - (now - start) / window)  # room left in the current window
        sk = f"W#{int(start * 1000)}"
        if cur < bound:
            try:
                self.table.update(
                    pk,
                    sk,
                    add={"n": 1},
                    set={TTL_ATTRIBUTE: int(start + 2 * window) + 60},
                    condition=Condition(less_than={"n": bound}),
                )
                return Reservation(pk, sk), 0.0
            except ConditionFailedError:  # others got there first: count what they left
                cur = max(cur + 1, math.ceil(bound))
        return None, _wait(limit, window, start, now, prev, cur)

    def release(self, reservation: Reservation) -> None:
        # Only while the window's item exists: a release after the expiry sweep (or DynamoDB's
        # TTL) removed it would otherwise recreate it with n = -1 and no ttl, kept forever.
        try:
            self.table.update(reservation.pk, reservation.sk, add={"n": -1}, condition=Condition(exists=True))
        except ConditionFailedError:
            pass

    def count(self, key: str, window: float) -> float:
        """The sliding estimate now (for tests and operators)."""
        now = self.clock()
        _, start, prev, cur = self._items(key, window, now)
        return cur + prev * (1.0 - (now - start) / window)


def _wait(limit: int, window: float, start: float, now: float, prev: int, cur: int) -> float:
    """Seconds until ``cur < limit - prev * (1 - elapsed/window)`` holds again, no events meanwhile."""
    if cur < limit and prev > 0:  # later in this window, as the previous one weighs less
        at = start + window * (1.0 - (limit - cur) / prev)
    else:  # the next window, once this one (then the previous) weighs little enough
        at = start + window + window * max(0.0, 1.0 - limit / max(cur, 1))
    return max(0.001, at - now + 0.001)
