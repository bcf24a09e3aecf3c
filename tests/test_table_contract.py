"""One contract for every Table backend: SQLite and DynamoDB (moto's server)."""

from __future__ import annotations

import pytest

from impactlens.db import (
    EXISTS,
    NOT_EXISTS,
    Check,
    Condition,
    ConditionFailedError,
    Delete,
    InvalidCursorError,
    KeyRange,
    Put,
    TableError,
    TransactionCanceledError,
    Update,
    iterate,
)


def test_put_get_delete_round_trip_keeps_types(table):
    item = {
        "PK": "ORG#1",
        "SK": "BRAND#a",
        "name": "Acme",
        "n": 3,
        "x": 0.25,
        "ok": True,
        "tags": ["a", "b"],
        "meta": {"k": 1},
        "none": None,
    }
    table.put(item)
    assert table.get("ORG#1", "BRAND#a") == item
    assert table.delete("ORG#1", "BRAND#a") == item
    assert table.get("ORG#1", "BRAND#a") is None
    assert table.delete("ORG#1", "BRAND#a") is None


def test_conditional_put_refuses_to_overwrite(table):
    table.put({"PK": "P", "SK": "S", "v": 1}, NOT_EXISTS)
    with pytest.raises(ConditionFailedError):
        table.put({"PK": "P", "SK": "S", "v": 2}, NOT_EXISTS)
    assert table.get("P", "S")["v"] == 1
    table.put({"PK": "P", "SK": "S", "v": 2}, Condition(equals={"v": 1}))
    with pytest.raises(ConditionFailedError):
        table.put({"PK": "P", "SK": "S", "v": 3}, Condition(equals={"v": 1}))


def test_update_sets_adds_atomically_and_removes(table):
    table.put({"PK": "P", "SK": "S", "a": 1, "gone": "x"})
    new = table.update("P", "S", set={"b": "two"}, add={"a": 2, "fresh": 1.5}, remove=["gone"])
    assert new == {"PK": "P", "SK": "S", "a": 3, "b": "two", "fresh": 1.5}
    assert table.get("P", "S") == new


def test_update_creates_a_missing_item_unless_the_condition_requires_it(table):
    assert table.update("P", "new", add={"count": 1}) == {"PK": "P", "SK": "new", "count": 1}
    with pytest.raises(ConditionFailedError):
        table.update("P", "absent", set={"a": 1}, condition=EXISTS)
    assert table.get("P", "absent") is None


def test_update_cannot_change_keys(table):
    table.put({"PK": "P", "SK": "S"})
    with pytest.raises(TableError):
        table.update("P", "S", set={"SK": "other"})


def test_query_by_equality_prefix_and_range_in_order(table):
    for sk in ("BRAND#a", "BRAND#a#CAMPAIGN#1", "BRAND#a#CAMPAIGN#2", "BRAND#b", "USER#1"):
        table.put({"PK": "ORG#1", "SK": sk})
    table.put({"PK": "ORG#2", "SK": "BRAND#a"})
    sks = lambda page: [i["SK"] for i in page.items]  # noqa: E731
    assert sks(table.query("ORG#1", KeyRange(eq="BRAND#b"))) == ["BRAND#b"]
    assert sks(table.query("ORG#1", KeyRange(begins_with="BRAND#a#"))) == ["BRAND#a#CAMPAIGN#1", "BRAND#a#CAMPAIGN#2"]
    assert sks(table.query("ORG#1", KeyRange(between=("BRAND#a#", "BRAND#b")))) == [
        "BRAND#a#CAMPAIGN#1",
        "BRAND#a#CAMPAIGN#2",
        "BRAND#b",
    ]
    assert sks(table.query("ORG#1", newest_first=True))[0] == "USER#1"


def test_pagination_visits_every_item_once_in_order(table):
    for i in range(23):
        table.put({"PK": "P", "SK": f"ITEM#{i:03d}"})
    pages, cursor = [], None
    while True:
        page = table.query("P", KeyRange(begins_with="ITEM#"), limit=5, cursor=cursor, newest_first=True)
        assert len(page.items) <= 5
        pages.append([i["SK"] for i in page.items])
        if page.cursor is None:
            break
        cursor = page.cursor
    flat = [sk for p in pages for sk in p]
    assert flat == [f"ITEM#{i:03d}" for i in reversed(range(23))]


def test_gsi1_query_pages_newest_first(table):
    for i in range(7):
        table.put({"PK": f"ASSET#{i}", "SK": "METADATA", "GSI1PK": "ORG#1", "GSI1SK": f"BRAND#a#ASSET#{i:02d}"})
    table.put({"PK": "ASSET#x", "SK": "METADATA", "GSI1PK": "ORG#1", "GSI1SK": "BRAND#b#ASSET#99"})
    table.put({"PK": "ASSET#y", "SK": "METADATA"})  # not in the index
    got = [
        i["PK"]
        for i in iterate(table, "ORG#1", KeyRange(begins_with="BRAND#a#"), index="GSI1", limit=3, newest_first=True)
    ]
    assert got == [f"ASSET#{i}" for i in reversed(range(7))]


def test_a_malformed_cursor_is_a_clear_error(table):
    with pytest.raises(InvalidCursorError):
        table.query("P", cursor="not-a-cursor!!")


def test_transactions_are_all_or_nothing(table):
    table.put({"PK": "A", "SK": "1", "v": 1})
    table.put({"PK": "B", "SK": "1", "v": 1})
    with pytest.raises(TransactionCanceledError):
        table.transact(
            [
                Update("A", "1", add={"v": 1}),
                Put({"PK": "C", "SK": "1"}),
                Check("B", "1", Condition(equals={"v": 2})),
            ]
        )
    assert table.get("A", "1")["v"] == 1 and table.get("C", "1") is None
    table.transact([Update("A", "1", add={"v": 1}), Put({"PK": "C", "SK": "1"}, NOT_EXISTS), Delete("B", "1")])
    assert table.get("A", "1")["v"] == 2 and table.get("C", "1") is not None and table.get("B", "1") is None


def test_stream_records_every_change_with_old_and_new_images(table):
    table.put({"PK": "P", "SK": "S", "v": 1})
    table.update("P", "S", add={"v": 1})
    table.delete("P", "S")
    records = table.read_stream()
    assert [r.event for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[0].old is None and records[0].new["v"] == 1
    assert records[1].old["v"] == 1 and records[1].new["v"] == 2
    assert records[2].old["v"] == 2 and records[2].new is None
    assert table.read_stream(after=records[0].position) == records[1:]
    assert table.read_stream(after=records[-1].position) == []


def test_a_failed_write_leaves_no_stream_record(table):
    table.put({"PK": "P", "SK": "S"})
    before = len(table.read_stream())
    with pytest.raises(ConditionFailedError):
        table.put({"PK": "P", "SK": "S"}, NOT_EXISTS)
    assert len(table.read_stream()) == before


def test_integers_beyond_64_bits_round_trip_exactly(table) -> None:
    big = 10**25 + 7  # an aggregate's sum of squares can get this large
    table.put({"PK": "P", "SK": "big", "n": big, "x": 0.7048836946487427, "name": "1234567890123456789"})
    table.put({"PK": "P", "SK": "small", "n": 2**62, "x": 0.1})
    got = table.get("P", "big")
    assert got["n"] == big and isinstance(got["n"], int) and got["x"] == 0.7048836946487427
    assert table.get("P", "small")["n"] == 2**62
    assert [i["n"] for i in table.query("P").items] == [big, 2**62]


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused_and_nothing_is_written(table, bad):
    table.put({"PK": "P", "SK": "S", "v": 1})
    with pytest.raises(TableError):
        table.put({"PK": "P", "SK": "T", "v": bad})
    with pytest.raises(TableError):
        table.put({"PK": "P", "SK": "T", "nested": {"aois": [{"x": bad}]}})
    with pytest.raises(TableError):
        table.update("P", "S", set={"v": bad})
    with pytest.raises(TableError):
        table.update("P", "S", add={"v": bad})
    with pytest.raises(TableError):
        table.transact([Put({"PK": "P", "SK": "U", "v": [bad]})])
    assert table.get("P", "T") is None and table.get("P", "U") is None
    assert table.get("P", "S") == {"PK": "P", "SK": "S", "v": 1}


def test_a_cursor_missing_a_key_field_is_invalid(table):
    from impactlens.db.table import encode_cursor

    for i in range(3):
        table.put({"PK": "P", "SK": f"S{i}", "GSI1PK": "G", "GSI1SK": f"g{i}"})
    for cursor in ({"PK": "P"}, {"SK": "S0"}):
        with pytest.raises(InvalidCursorError):
            table.query("P", limit=1, cursor=encode_cursor(cursor))
    with pytest.raises(InvalidCursorError):
        table.query("G", index="GSI1", limit=1, cursor=encode_cursor({"PK": "P", "SK": "S0"}))


def test_a_condition_can_require_a_number_below_a_limit(table):
    below = Condition(less_than={"n": 2})
    assert table.update("P", "S", add={"n": 1}, condition=below)["n"] == 1  # missing counts as allowed
    assert table.update("P", "S", add={"n": 1}, condition=below)["n"] == 2
    with pytest.raises(ConditionFailedError):
        table.update("P", "S", add={"n": 1}, condition=below)
    with pytest.raises(TransactionCanceledError):
        table.transact([Update("P", "S", add={"n": 1}, condition=below), Put({"PK": "P", "SK": "T"})])
    assert table.get("P", "S")["n"] == 2 and table.get("P", "T") is None
