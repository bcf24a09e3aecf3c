"""Ids on the single table: ULIDs for created objects, slugs for client-chosen ids."""

from __future__ import annotations

import re
import threading

from ulid import ULID

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


_ulid_lock = threading.Lock()
_last_ulid = 0


def new_ulid() -> str:
    """A ULID that is strictly greater than the previous one from this process, so assets
    created within the same millisecond still list in creation order."""
    global _last_ulid
    with _ulid_lock:
        value = max(int(ULID()), _last_ulid + 1)
        _last_ulid = value
        return str(ULID.from_int(value))


def check_id(value: str, what: str) -> str:
    """Ids are slugs: they appear inside keys, so '#' and friends are never allowed."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(f"invalid {what} id {value!r}: lowercase letters, digits, '-' and '_' only")
    return value
