"""What every part of the repository shares: the table, the clock, and the public view of an item."""

from __future__ import annotations

import time
from collections.abc import Callable

from .table import Item, Table


def public(item: Item | None) -> Item | None:
    """The item without its key attributes (callers see data, never the table layout)."""
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK")}


class RepositoryBase:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock
