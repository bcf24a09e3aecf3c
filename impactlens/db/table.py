"""The single-table interface (DynamoDB's model) shared by the SQLite and DynamoDB backends.

An item is a dict with string keys ``PK`` and ``SK`` (and optionally ``GSI1PK``/``GSI1SK``)
plus JSON-compatible attributes (str, int, float, bool, None, lists, dicts). Every read is a
key lookup or a key-range query on the table or on GSI1; there is no scan.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Item = dict[str, Any]
KEY_ATTRS = ("PK", "SK")
GSI1_ATTRS = ("GSI1PK", "GSI1SK")


class TableError(Exception):
    code = "table_error"


class ConditionFailedError(TableError):
    """A write's condition did not hold; nothing was written."""

    code = "condition_failed"


class TransactionCanceledError(ConditionFailedError):
    code = "transaction_canceled"


class InvalidCursorError(TableError, ValueError):
    code = "invalid_cursor"


@dataclass(frozen=True)
class Condition:
    """A write precondition: the item must (not) exist, attributes must equal values,
    numbers in ``less_than`` must be below their bound (a missing one counts as below), and
    attributes in ``absent`` must be missing (DynamoDB's attribute_not_exists)."""

    exists: bool | None = None
    equals: dict[str, Any] = field(default_factory=dict)
    less_than: dict[str, int | float] = field(default_factory=dict)
    absent: tuple[str, ...] = ()

    def holds(self, current: Item | None) -> bool:
        if self.exists is True and current is None:
            return False
        if self.exists is False and current is not None:
            return False
        if current is not None and any(k in current for k in self.absent):
            return False
        if not all(current is not None and current.get(k) == v for k, v in self.equals.items()):
            return False
        return all(current is None or k not in current or current[k] < v for k, v in self.less_than.items())


NOT_EXISTS = Condition(exists=False)
EXISTS = Condition(exists=True)


@dataclass(frozen=True)
class KeyRange:
    """Sort-key constraint of a query: equality, prefix or inclusive range."""

    eq: str | None = None
    begins_with: str | None = None
    between: tuple[str, str] | None = None


@dataclass(frozen=True)
class Put:
    item: Item
    condition: Condition | None = None


@dataclass(frozen=True)
class Update:
    pk: str
    sk: str
    set: dict[str, Any] = field(default_factory=dict)
    add: dict[str, int | float] = field(default_factory=dict)
    remove: Sequence[str] = ()
    condition: Condition | None = None


@dataclass(frozen=True)
class Delete:
    pk: str
    sk: str
    condition: Condition | None = None


@dataclass(frozen=True)
class Check:
    pk: str
    sk: str
    condition: Condition


WriteOp = Put | Update | Delete | Check


@dataclass
class Page:
    items: list[Item]
    # Pass back to continue; None when there is nothing more. DynamoDB may return a cursor
    # whose next page is empty, so callers loop until the cursor is None (see iterate()).
    cursor: str | None


@dataclass(frozen=True)
class StreamRecord:
    """One change: what DynamoDB Streams calls eventName, OldImage and NewImage."""

    event: Literal["INSERT", "MODIFY", "REMOVE"]
    old: Item | None
    new: Item | None
    position: str  # opaque, increasing within the stream; used as an idempotency marker

    @property
    def keys(self) -> tuple[str, str]:
        item = self.new or self.old or {}
        return item["PK"], item["SK"]


class Table(Protocol):
    def get(self, pk: str, sk: str) -> Item | None: ...

    def put(self, item: Item, condition: Condition | None = None) -> None: ...

    def update(
        self,
        pk: str,
        sk: str,
        set: dict[str, Any] | None = None,
        add: dict[str, int | float] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Item:
        """Apply the changes (ADD is atomic and creates missing numbers at 0) and return the new item."""

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> Item | None: ...

    def query(
        self,
        pk: str,
        sk: KeyRange | None = None,
        *,
        index: Literal["GSI1"] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page: ...

    def transact(self, ops: Sequence[WriteOp]) -> None:
        """All or nothing; TransactionCanceledError if any condition fails."""

    def read_stream(self, after: str | None = None, limit: int = 100) -> list[StreamRecord]:
        """Change records after position ``after`` (from the start when None), oldest first."""


def validate_item(item: Item) -> Item:
    for k in KEY_ATTRS:
        if not isinstance(item.get(k), str) or not item[k]:
            raise TableError(f"item needs a non-empty string {k}")
    if ("GSI1PK" in item) != ("GSI1SK" in item):
        raise TableError("GSI1PK and GSI1SK go together")
    return item


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("malformed cursor") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidCursorError("malformed cursor")
    return value


def iterate(table: Table, pk: str, sk: KeyRange | None = None, **kw: Any) -> Iterator[Item]:
    """Every item of a query, following cursors."""
    cursor = None
    while True:
        page = table.query(pk, sk, cursor=cursor, **kw)
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor
