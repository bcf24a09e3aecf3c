"""Expiry for the SQLite table: DynamoDB's TTL, which this backend otherwise lacks."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .sqlite_rows import EXACT
from .table import TableError

EXPIRY_BATCH = 500  # rows per write transaction: a few ms of write lock (tests/test_sqlite_expiry.py)
EXPIRY_PAUSE_S = 0.02  # between batches, so writers waiting on the lock get it first


@dataclass(frozen=True)
class Expiry:
    """What one ``expire_items`` call did: rows deleted, write transactions it took."""

    deleted: int
    batches: int


class ExpiringTable:
    """The expiry sweep, mixed into ``SqliteTable`` (which provides the connection and the
    write transaction)."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def expire_items(
        self,
        now: float,
        *,
        batch: int = EXPIRY_BATCH,
        pause_s: float = EXPIRY_PAUSE_S,
        keep_pk: tuple[str, str] | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> Expiry:
        """Delete every item whose numeric ``ttl`` is below ``now`` (epoch seconds), as
        DynamoDB's TTL does; items without one stay. Each deletion is a REMOVE change record
        with the old image, as TTL deletions are in DynamoDB Streams, so stream consumers see
        the table as it is. ``batch`` rows per write transaction, ``pause_s`` between them:
        the write lock is never held for the whole sweep. Items whose PK lies strictly
        between the two strings of ``keep_pk`` stay whatever their ttl (the caller's guard).
        ``on_batch(number, deleted)`` runs after each commit, outside the lock (tests)."""
        if batch < 1:
            raise TableError("batch must be >= 1")
        sql = "SELECT pk, sk, data FROM items WHERE ttl < ?"
        args: list[Any] = [now]
        if keep_pk is not None:
            sql += " AND NOT (pk > ? AND pk < ?)"
            args += list(keep_pk)
        sql += " ORDER BY ttl LIMIT ?"
        deleted = batches = 0
        while True:
            # A look without the write lock first: most sweeps find nothing to do.
            if self._conn().execute(sql, [*args, 1]).fetchone() is None:
                return Expiry(deleted, batches)
            with self._tx() as conn:
                rows = conn.execute(sql, [*args, batch]).fetchall()
                if rows:
                    conn.executemany("DELETE FROM items WHERE pk=? AND sk=?", [(pk, sk) for pk, sk, _ in rows])
                    conn.executemany(
                        "INSERT INTO outbox (event, old, new) VALUES ('REMOVE', ?, NULL)",
                        [(data.lstrip(EXACT),) for _, _, data in rows],
                    )
            if not rows:
                return Expiry(deleted, batches)
            deleted += len(rows)
            batches += 1
            if on_batch is not None:
                on_batch(batches, len(rows))
            if len(rows) < batch:
                return Expiry(deleted, batches)
            time.sleep(pause_s)
