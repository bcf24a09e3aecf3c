"""The cross-container rate limit: counters in the table, shared by every API container."""

from __future__ import annotations

import random
from pathlib import Path

from impactlens.db.ratelimit import TableRateLimiter


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_two_containers_share_one_limit(table) -> None:
    clock = Clock(1_000.0)
    a, b = TableRateLimiter(table, clock), TableRateLimiter(table, clock)  # two API containers
    waits = [(a if i % 2 else b).take("org:o", rate=5, burst=10) for i in range(14)]
    assert waits[:10] == [0.0] * 10
    assert all(0 < w <= 2.0 for w in waits[10:])  # refused, with the time left in the window
    clock.t += 2.0  # the next window
    assert a.take("org:o", rate=5, burst=10) == 0.0
    assert b.take("org:other", rate=5, burst=10) == 0.0  # keys are independent


def test_a_fast_key_is_spread_over_shards_and_still_limited(table) -> None:
    clock = Clock(50.0)
    limiter = TableRateLimiter(table, clock, random.Random(7), shard_rate=5)
    admitted = sum(limiter.take("org:big", rate=20, burst=40) == 0.0 for _ in range(60))
    assert 36 <= admitted <= 40  # 4 shards of 10; a random draw may refuse a little early
    counters = [table.get(f"RATE#org:big#{s}", "W#50000") for s in range(4)]
    assert [c["n"] for c in counters if c] == [10, 10, 10, 10]


def test_the_api_on_aws_counts_in_the_table(table, tmp_path: Path) -> None:
    from impactlens.api.app import create_app
    from impactlens.services import Services
    from impactlens.settings import Settings
    from impactlens.storage.local import LocalBlobStore

    blobs = LocalBlobStore(tmp_path / "b", b"k" * 32)
    assert isinstance(create_app(Services(Settings(backend="aws"), table, blobs)).state.buckets, TableRateLimiter)


def test_a_release_after_its_window_expired_recreates_nothing(table) -> None:
    from impactlens.db.ratelimit import SlidingWindowCounter

    clock = Clock(2_000.0)
    counter = SlidingWindowCounter(table, clock)
    reservation, wait = counter.reserve("login:account:x", 10, 900.0)
    assert reservation is not None and wait == 0.0
    table.delete(reservation.pk, reservation.sk)  # the expiry sweep (or DynamoDB's TTL) got there first
    counter.release(reservation)
    assert table.get(reservation.pk, reservation.sk) is None  # not n = -1 with no ttl, kept forever


def test_a_release_gives_its_event_back(table) -> None:
    from impactlens.db.ratelimit import SlidingWindowCounter

    clock = Clock(2_000.0)
    counter = SlidingWindowCounter(table, clock)
    first, _ = counter.reserve("k", 2, 900.0)
    second, _ = counter.reserve("k", 2, 900.0)
    assert first is not None and second is not None
    assert counter.reserve("k", 2, 900.0)[0] is None
    counter.release(second)
    assert counter.reserve("k", 2, 900.0)[0] is not None
