"""DynamoDB expressions: conditions and update expressions with placeholder names and values."""

from __future__ import annotations

from typing import Any

from .dynamo_items import _ser, _to_dynamo
from .table import Condition, TableError, Update


class _Expr:
    """Builds expressions with placeholder names/values so attribute names never clash."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attr: str) -> str:
        key = f"#n{len(self.names)}"
        self.names[key] = attr
        return key

    def value(self, v: Any) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = _ser.serialize(_to_dynamo(v))
        return key

    def condition(self, cond: Condition | None) -> str | None:
        if cond is None:
            return None
        parts = []
        if cond.exists is True:
            parts.append(f"attribute_exists({self.name('PK')})")
        elif cond.exists is False:
            parts.append(f"attribute_not_exists({self.name('PK')})")
        parts += [f"{self.name(k)} = {self.value(v)}" for k, v in cond.equals.items()]
        parts += [f"attribute_not_exists({self.name(k)})" for k in cond.absent]
        for k, v in cond.less_than.items():
            n = self.name(k)
            parts.append(f"(attribute_not_exists({n}) OR {n} < {self.value(v)})")
        return " AND ".join(parts) or None

    def kwargs(self, **extra: Any) -> dict[str, Any]:
        out = {k: v for k, v in extra.items() if v is not None}
        if self.names:
            out["ExpressionAttributeNames"] = self.names
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        return out


def _update_expression(op: Update, e: _Expr) -> str:
    if {"PK", "SK"} & (set(op.set) | set(op.add) | set(op.remove)):
        raise TableError("cannot change key attributes")
    clauses = []
    if op.set:
        clauses.append("SET " + ", ".join(f"{e.name(k)} = {e.value(v)}" for k, v in op.set.items()))
    if op.add:
        clauses.append("ADD " + ", ".join(f"{e.name(k)} {e.value(v)}" for k, v in op.add.items()))
    if op.remove:
        clauses.append("REMOVE " + ", ".join(e.name(k) for k in op.remove))
    # An update with nothing to change still has to create the item, as SQLite does.
    return " ".join(clauses) or f"SET {e.name('PK')} = {e.value(op.pk)}"
