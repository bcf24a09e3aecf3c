"""The single table in SQLite (the embedded default).

One ``items`` table keyed by (pk, sk) with a covering index for GSI1, WAL mode, and every
write wrapped in ``BEGIN IMMEDIATE`` so concurrent threads and processes serialise their
writes (readers never block). Each write appends its change record to ``outbox`` in the same
transaction: that outbox is this backend's DynamoDB Stream.

Items whose numeric ``ttl`` has passed are deleted by ``expire_items`` (DynamoDB's TTL, which
this backend otherwise lacks; a worker runs it periodically), found through a partial index
on a generated ``ttl`` column.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from .sqlite_expiry import ExpiringTable
from .sqlite_rows import SCHEMA, TTL_COLUMN, TTL_INDEX, dumps, loads
from .table import (
    Check,
    Condition,
    ConditionFailedError,
    Delete,
    InvalidCursorError,
    Item,
    KeyRange,
    Page,
    Put,
    StreamRecord,
    TableError,
    TransactionCanceledError,
    Update,
    WriteOp,
    decode_cursor,
    encode_cursor,
    validate_item,
)


def _upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


def _position(seq: int) -> str:
    return f"{seq:020d}"


class SqliteTable(ExpiringTable):
    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self._timeout = busy_timeout_s
        self._local = threading.local()
        self._conn().executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """A database made before items had a ttl column gets it (and its index). Under the
        write lock, so two processes opening the same old file do not both add it."""

        def has_ttl(conn: sqlite3.Connection) -> bool:
            return any(row[1] == "ttl" for row in conn.execute("PRAGMA table_xinfo(items)"))  # lists generated ones

        if has_ttl(self._conn()):
            self._conn().execute(TTL_INDEX)
            return
        with self._tx() as conn:
            if not has_ttl(conn):
                conn.execute(f"ALTER TABLE items ADD COLUMN {TTL_COLUMN}")
            conn.execute(TTL_INDEX)  # reads every row once: the one slow step of an upgrade

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._timeout * 1000)}")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # Reads ------------------------------------------------------------------------------
    @staticmethod
    def _load(conn: sqlite3.Connection, pk: str, sk: str) -> Item | None:
        row = conn.execute("SELECT data FROM items WHERE pk=? AND sk=?", (pk, sk)).fetchone()
        return loads(row[0]) if row else None

    def get(self, pk: str, sk: str) -> Item | None:
        return self._load(self._conn(), pk, sk)

    def query(
        self,
        pk: str,
        sk: KeyRange | None = None,
        *,
        index: Literal["GSI1"] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page:
        if limit < 1:
            raise TableError("limit must be >= 1")
        pcol, scol = ("gsi1pk", "gsi1sk") if index == "GSI1" else ("pk", "sk")
        order_cols = [scol, "pk", "sk"] if index == "GSI1" else ["sk"]
        where, args = [f"{pcol} = ?"], [pk]
        if sk is not None:
            if sk.eq is not None:
                where.append(f"{scol} = ?")
                args.append(sk.eq)
            if sk.begins_with is not None:
                where.append(f"{scol} >= ? AND {scol} < ?")
                args += [sk.begins_with, _upper_bound(sk.begins_with)]
            if sk.between is not None:
                where.append(f"{scol} BETWEEN ? AND ?")
                args += list(sk.between)
        if cursor is not None:
            last = decode_cursor(cursor)
            names = {"gsi1sk": "GSI1SK", "pk": "PK", "sk": "SK"}
            # Only this backend's own cursors for this query: every key field it wrote.
            required = {"PK", "SK", "GSI1SK"} if index == "GSI1" else {"PK", "SK"}
            if not required <= set(last) or (index is None and last["PK"] != pk):
                raise InvalidCursorError("cursor does not belong to this query")
            values = [last[names[c]] for c in order_cols]
            op = "<" if newest_first else ">"
            where.append(f"({', '.join(order_cols)}) {op} ({', '.join('?' * len(values))})")
            args += values
        direction = "DESC" if newest_first else "ASC"
        order = ", ".join(f"{c} {direction}" for c in order_cols)
        sql = f"SELECT data FROM items WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"  # noqa: S608 - fixed names
        rows = self._conn().execute(sql, [*args, limit + 1]).fetchall()
        items = [loads(r[0]) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            tail = items[-1]
            key = {"PK": tail["PK"], "SK": tail["SK"]}
            if index == "GSI1":
                key["GSI1SK"] = tail["GSI1SK"]
            next_cursor = encode_cursor(key)
        return Page(items, next_cursor)

    # Writes -----------------------------------------------------------------------------
    @staticmethod
    def _check(condition: Condition | None, current: Item | None, transactional: bool) -> None:
        if condition is not None and not condition.holds(current):
            err = TransactionCanceledError if transactional else ConditionFailedError
            raise err("the condition of the write does not hold")

    @staticmethod
    def _write(conn: sqlite3.Connection, old: Item | None, new: Item | None) -> None:
        if new is None:
            assert old is not None
            conn.execute("DELETE FROM items WHERE pk=? AND sk=?", (old["PK"], old["SK"]))
            event = "REMOVE"
        else:
            conn.execute(
                "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, data) VALUES (?, ?, ?, ?, ?)",
                (new["PK"], new["SK"], new.get("GSI1PK"), new.get("GSI1SK"), dumps(new)),
            )
            event = "INSERT" if old is None else "MODIFY"
        conn.execute(
            "INSERT INTO outbox (event, old, new) VALUES (?, ?, ?)",
            (event, json.dumps(old) if old is not None else None, json.dumps(new) if new is not None else None),
        )

    def _apply(self, conn: sqlite3.Connection, op: WriteOp, transactional: bool) -> Item | None:
        if isinstance(op, Put):
            item = validate_item(dict(op.item))
            old = self._load(conn, item["PK"], item["SK"])
            self._check(op.condition, old, transactional)
            self._write(conn, old, item)
            return item
        old = self._load(conn, op.pk, op.sk)
        self._check(op.condition, old, transactional)
        if isinstance(op, Check):
            return old
        if isinstance(op, Delete):
            if old is not None:
                self._write(conn, old, None)
            return old
        new: Item = dict(old) if old is not None else {"PK": op.pk, "SK": op.sk}
        for k in {"PK", "SK"} & (set(op.set) | set(op.add) | set(op.remove)):
            raise TableError(f"cannot change key attribute {k}")
        new.update(op.set)
        for k, v in op.add.items():
            cur = new.get(k, 0)
            if not isinstance(cur, int | float) or isinstance(cur, bool):
                raise TableError(f"ADD needs a number in {k}")
            new[k] = cur + v
        for k in op.remove:
            new.pop(k, None)
        validate_item(new)
        self._write(conn, old, new)
        return new

    def put(self, item: Item, condition: Condition | None = None) -> None:
        with self._tx() as conn:
            self._apply(conn, Put(item, condition), False)

    def update(
        self,
        pk: str,
        sk: str,
        set: dict[str, Any] | None = None,  # noqa: A002 - DynamoDB's word
        add: dict[str, int | float] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Item:
        with self._tx() as conn:
            new = self._apply(conn, Update(pk, sk, set or {}, add or {}, tuple(remove), condition), False)
        assert new is not None
        return new

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> Item | None:
        with self._tx() as conn:
            return self._apply(conn, Delete(pk, sk, condition), False)

    def put_many(self, items: Sequence[Item], batch: int = 10_000) -> None:
        """Bulk import (unconditional puts, change records included), batch transactions."""
        for start in range(0, len(items), batch):
            with self._tx() as conn:
                for item in items[start : start + batch]:
                    self._write(conn, self._load(conn, item["PK"], item["SK"]), validate_item(dict(item)))

    def transact(self, ops: Sequence[WriteOp]) -> None:
        keys = [(o.item["PK"], o.item["SK"]) if isinstance(o, Put) else (o.pk, o.sk) for o in ops]
        if len(set(keys)) != len(keys):
            raise TableError("a transaction may touch each item once")
        with self._tx() as conn:
            for op in ops:
                self._apply(conn, op, True)

    # Stream -----------------------------------------------------------------------------
    def read_stream(self, after: str | None = None, limit: int = 100) -> list[StreamRecord]:
        start = int(after) if after else 0
        rows = (
            self._conn()
            .execute("SELECT seq, event, old, new FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (start, limit))
            .fetchall()
        )
        return [
            StreamRecord(ev, json.loads(old) if old else None, json.loads(new) if new else None, _position(seq))
            for seq, ev, old, new in rows
        ]

    def trim_stream(self, upto: str) -> int:
        """Delete change records at or before ``upto`` once every consumer has processed them."""
        with self._tx() as conn:
            return conn.execute("DELETE FROM outbox WHERE seq <= ?", (int(upto),)).rowcount
