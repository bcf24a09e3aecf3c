"""How the SQLite table stores items: its schema and the row encoding of the data column."""

from __future__ import annotations

import json
import re

import orjson

from .table import Item, TableError

# The item's top-level ``ttl`` when it is a number, as DynamoDB's TTL reads it (a string or a
# boolean ttl is ignored there: json_type tells true from 1). Rows that are not strict JSON (NaN
# written before such numbers were refused) have none: json_type would raise on them. No
# declared type, so no affinity turns a string into a number. Virtual: computed on write for
# the index only, so the data column stays the single source.
TTL_COLUMN = """ttl GENERATED ALWAYS AS (CASE
    WHEN NOT json_valid(data) THEN NULL
    WHEN json_type(data, '$.ttl') IN ('integer', 'real') THEN json_extract(data, '$.ttl')
  END) VIRTUAL"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS items (
  pk TEXT NOT NULL, sk TEXT NOT NULL, gsi1pk TEXT, gsi1sk TEXT, data TEXT NOT NULL,
  {TTL_COLUMN},
  PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, old TEXT, new TEXT
);
"""
# Partial: only items that carry a ttl are in it, so it costs nothing for the rest.
TTL_INDEX = "CREATE INDEX IF NOT EXISTS items_ttl ON items (ttl) WHERE ttl IS NOT NULL"


_LONG_DIGITS = re.compile(r"\d{19}")
EXACT = " "  # leading marker of rows the standard parser must read (json never starts so)


def dumps(item: Item) -> str:
    """JSON for the data column. orjson reads rows ~5x faster than json, but it turns integers
    beyond 64 bits (the aggregates' sums of squares can be) into floats: rows holding any
    19-digit run are marked here, once, so that reads know which parser keeps them exact.
    NaN and Infinity are refused, as DynamoDB refuses them: JSON has no such numbers."""
    try:
        text = json.dumps(item, sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise TableError("numbers must be finite (no NaN or Infinity)") from exc
    return EXACT + text if _LONG_DIGITS.search(text) else text


def loads(text: str) -> Item:
    if text[:1] == EXACT:
        item: Item = json.loads(text)
        return item
    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        # A row written before non-finite numbers were refused: still readable (and deletable).
        item = json.loads(text)
    return item
