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
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from .aggregates import TTL_ATTRIBUTE
from .table import Condition, ConditionFailedError, Table

SHARD_RATE = 400.0  # requests/s one counter item is asked to absorb (well under DynamoDB's ~1,000 WCU)


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

    def take(self, key: str, rate: float, burst: int) -> float:
        window = max(burst / rate, 1.0)
        shards = max(1, math.ceil(rate / self.shard_rate))
        allowed = max(1, burst // shards)
        now = self.clock()
        start = math.floor(now / window) * window
        shard = self.rng.randrange(shards)
        try:
            self.table.update(
                f"RATE#{key}#{shard}",
                f"W#{int(start * 1000)}",
                add={"n": 1},
                set={TTL_ATTRIBUTE: int(start + window) + 60},
                condition=Condition(less_than={"n": allowed}),
            )
        except ConditionFailedError:
            return max(0.001, start + window - now)
        return 0.0
