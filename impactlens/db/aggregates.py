"""Running aggregates (count, sum, sum of squares of each score) maintained from the stream.

An asset item (``PK=ASSET#<id>, SK=METADATA``) contributes its numeric ``scores`` to three
aggregates under its organisation: ``AGG#ORG``, ``AGG#BRAND#<b>`` and
``AGG#BRAND#<b>#CAMPAIGN#<c>``. For each change record the consumer removes the old image's
contribution and adds the new image's: creation, rescoring, moving to another brand,
campaign or organisation, and deletion all come out right, and nothing is ever recomputed by
reading all assets.

Delivery is at least once. Each record's aggregate updates are written in one transaction
with a marker item for that record, conditioned on the marker not existing: a repeated
delivery finds its marker and changes nothing; a crash before the commit leaves no trace.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .table import NOT_EXISTS, Item, Put, StreamRecord, Table, TransactionCanceledError, Update, iterate

CONSUMER = "aggregates"
# Scores are accumulated as integers in millionths (squares in 1e-12): integer ADD is exact in
# both backends, so an asset added and removed a million times leaves exactly zero behind
# (float sums drift, and DynamoDB emulators mishandle the '0E-17' that exact cancellation of
# decimals produces). Python ints and DynamoDB numbers (38 digits) do not overflow here.
SCALE = 1_000_000
MARKER_TTL_S = 7 * 24 * 3600  # DynamoDB TTL removes old markers; redelivery windows are 24 h
# The attribute the table's TimeToLiveSpecification names (deploy/template.yaml): DynamoDB
# deletes an item once this epoch second has passed; any other name is kept forever.
TTL_ATTRIBUTE = "ttl"


def marker_key(position: str) -> tuple[str, str]:
    """One partition per record: markers spread over the key space instead of piling up in one
    hot ``STREAM#aggregates`` partition (which also grew without bound)."""
    return f"STREAM#{CONSUMER}#{position}", "MARKER"


def agg_keys(org: str, brand: str, campaign: str) -> list[tuple[str, str]]:
    pk = f"ORG#{org}"
    return [(pk, "AGG#ORG"), (pk, f"AGG#BRAND#{brand}"), (pk, f"AGG#BRAND#{brand}#CAMPAIGN#{campaign}")]


def is_asset(item: Item | None) -> bool:
    return bool(item) and str(item["PK"]).startswith("ASSET#") and item["SK"] == "METADATA"  # type: ignore[index]


def contribution(item: Item | None) -> dict[tuple[str, str], dict[str, int]]:
    """What one asset adds to each of its aggregates (empty when it has no scores yet)."""
    if not is_asset(item):
        return {}
    assert item is not None
    scores = {k: float(v) for k, v in (item.get("scores") or {}).items() if isinstance(v, int | float)}
    if not scores:
        return {}
    delta: dict[str, int] = {"count": 1}
    for name, value in scores.items():
        fixed = round(value * SCALE)
        delta[f"n__{name}"] = 1
        delta[f"sum__{name}"] = fixed
        delta[f"sumsq__{name}"] = fixed * fixed
    return {key: dict(delta) for key in agg_keys(item["org"], item["brand"], item["campaign"])}


def record_delta(record: StreamRecord) -> dict[tuple[str, str], dict[str, int]]:
    net: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for key, delta in contribution(record.old).items():
        for attr, v in delta.items():
            net[key][attr] -= v
    for key, delta in contribution(record.new).items():
        for attr, v in delta.items():
            net[key][attr] += v
    return {k: {a: v for a, v in d.items() if v != 0} for k, d in net.items() if any(v != 0 for v in d.values())}


class AggregateConsumer:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock

    def apply(self, record: StreamRecord, before_commit: Callable[[], None] | None = None) -> bool:
        """Apply one record exactly once; False if it was already applied (or is not an asset)."""
        delta = record_delta(record)
        if not delta:
            return False
        marker_pk, marker_sk = marker_key(record.position)
        marker = {"PK": marker_pk, "SK": marker_sk, TTL_ATTRIBUTE: int(self.clock()) + MARKER_TTL_S}
        ops: list[Put | Update] = [Put(marker, NOT_EXISTS)]
        ops += [Update(pk, sk, add=dict(d)) for (pk, sk), d in sorted(delta.items())]
        if before_commit is not None:
            before_commit()  # tests inject crashes here
        try:
            self.table.transact(ops)
        except TransactionCanceledError:
            if self.table.get(marker_pk, marker_sk) is not None:
                return False  # a repeated delivery
            raise
        return True

    def apply_batch(self, records: Iterable[StreamRecord]) -> list[str]:
        """Apply in order; on the first failure stop and return the positions not applied
        (the Lambda partial-batch response: the stream redelivers from there)."""
        pending = list(records)
        for i, record in enumerate(pending):
            try:
                self.apply(record)
            except Exception:  # noqa: BLE001 - reported back to the stream for redelivery
                return [r.position for r in pending[i:]]
        return []


def drain(table: Table, consumer: AggregateConsumer, batch: int = 100) -> int:
    """Embedded shape: process the outbox from the stored checkpoint; returns records read.

    The consumer's own writes (aggregates, markers, this checkpoint) are in the stream too;
    a short batch holding nothing but those ends the call, so draining always terminates. A worker
    calls this in a loop.
    """
    cp_key = (f"STREAM#{CONSUMER}", "CHECKPOINT")
    checkpoint = table.get(*cp_key)
    after = checkpoint["position"] if checkpoint else None
    total = 0
    while True:
        records = table.read_stream(after=after, limit=batch)
        if not records:
            return total
        relevant = any(is_asset(r.old) or is_asset(r.new) for r in records)
        failed = consumer.apply_batch(records)
        done = records if not failed else records[: len(records) - len(failed)]
        if done:
            after = done[-1].position
            table.put({"PK": cp_key[0], "SK": cp_key[1], "position": after})
            # The checkpoint covers these records now, so their markers (which guard a crash
            # between applying and checkpointing) are spent; SQLite has no TTL to drop them.
            for r in done:
                if is_asset(r.old) or is_asset(r.new):
                    table.delete(*marker_key(r.position))
        total += len(done)
        # A full batch of other items' records (an expiry sweep's REMOVEs, a sign-in spray's
        # counters) goes on at once instead of waiting for the worker's next poll; each such
        # batch adds one record (the checkpoint), so the loop still ends.
        if failed or (not relevant and len(records) < batch):
            return total


@dataclass(frozen=True)
class Stats:
    count: int
    mean: float
    std: float


def read_stats(item: Item | None) -> dict[str, Stats]:
    """count / mean / population std of each score from an aggregate item."""
    if not item:
        return {}
    out = {}
    for attr, n in item.items():
        if attr.startswith("n__") and n > 0:
            name = attr[3:]
            s, ss = int(item.get(f"sum__{name}", 0)), int(item.get(f"sumsq__{name}", 0))
            # Exact integer variance numerator: n * sum(x^2) - (sum x)^2 >= 0.
            var = (n * ss - s * s) / (n * n * SCALE * SCALE)
            out[name] = Stats(int(n), s / n / SCALE, math.sqrt(max(0.0, var)))
    return out


def recompute(assets: Iterable[Item]) -> dict[tuple[str, str], dict[str, int]]:
    """The reference the aggregates must equal: sums over the given assets (tests, repair)."""
    total: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for asset in assets:
        for key, delta in contribution(asset).items():
            for attr, v in delta.items():
                total[key][attr] += v
    return {k: dict(v) for k, v in total.items()}


def read_aggregates(table: Table, org: str) -> dict[tuple[str, str], dict[str, Any]]:
    from .table import KeyRange

    pk = f"ORG#{org}"
    return {
        (pk, item["SK"]): {k: v for k, v in item.items() if k not in ("PK", "SK")}
        for item in iterate(table, pk, KeyRange(begins_with="AGG#"))
    }
