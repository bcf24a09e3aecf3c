"""DynamoDB's TTL for the embedded table: a thread that deletes expired items periodically.

Sessions, idempotency markers, request counters and stream markers carry a ``ttl`` (epoch
seconds). On AWS DynamoDB deletes them; SQLite has nothing that does, so without this the
file grows with every sign-in attempt (one counter item per address per window) and keeps
every ended session. Readers never rely on the deletion (DynamoDB's is up to days late):
each checks its own expiry, so an item swept late or early by a second changes no answer.

The sweep writes REMOVE change records as DynamoDB's TTL does, so the aggregates stay equal
to the assets present. One guard more than DynamoDB needs: an aggregates marker for a change
record the consumer has not checkpointed yet is kept whatever its ttl. The outbox holds such
a record until the consumer moves past it (DynamoDB Streams drop records after 24 h, long
before a marker's 7 days), so after a crash between applying a record and checkpointing it,
and a week before the next start, the marker is what stops the record counting twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..db.aggregates import CONSUMER, marker_key
from ..services import Services

log = logging.getLogger("impactlens.jobs")


def unsettled_markers(table: Any) -> tuple[str, str]:
    """The PK range (exclusive) of the aggregates markers past the consumer's checkpoint.
    SQLite positions are zero-padded, so the text order of marker keys is the stream's order."""
    checkpoint = table.get(f"STREAM#{CONSUMER}", "CHECKPOINT")
    low = marker_key(checkpoint["position"])[0] if checkpoint else f"STREAM#{CONSUMER}#"
    return low, f"STREAM#{CONSUMER}$"  # '$' follows '#': the end of the markers' key range


class ExpirySweeper:
    """Runs ``expire_items`` at start and every ``interval_s`` (0: never) on a table that has
    it (SQLite); on DynamoDB, whose TTL does this, it does nothing."""

    def __init__(self, services: Services, interval_s: float) -> None:
        self.services = services
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0 and hasattr(self.services.table, "expire_items")

    def sweep_once(self) -> int:
        """Items deleted (0 on a table without its own expiry)."""
        table: Any = self.services.table
        if not hasattr(table, "expire_items"):
            return 0
        done = table.expire_items(self.services.clock(), keep_pk=unsettled_markers(table))
        if done.deleted:
            log.info("expired items deleted: %d in %d batches", done.deleted, done.batches)
        return int(done.deleted)

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="impactlens-expiry", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.sweep_once()
                except Exception:  # noqa: BLE001 - a busy database now is no reason to stop sweeping
                    log.exception("expiry sweep failed; trying again at the next interval")
                self._stop.wait(self.interval_s)
        finally:
            close = getattr(self.services.table, "close", None)
            if close is not None:
                close()  # this thread's own connection (SqliteTable keeps one per thread)
