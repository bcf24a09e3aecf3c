"""The Lambda edge of the aggregates, driven by a saved DynamoDB Streams event."""

import json
from pathlib import Path

import pytest

from impactlens.db.aggregates import AggregateConsumer, read_stats
from impactlens.db.stream_handler import handle_stream_event, parse_stream_event

EVENT = json.loads((Path(__file__).parent / "events" / "dynamodb_stream_asset_moved.json").read_text())


def test_event_parses_into_typed_records():
    records = parse_stream_event(EVENT)
    assert [r.event for r in records] == ["INSERT", "MODIFY"]
    assert records[0].new["scores"] == {"memorability": 0.712, "attention_logo": 0.18}
    assert records[1].old["brand"] == "fizz" and records[1].new["brand"] == "pop"


def test_handler_applies_the_batch_once_even_when_redelivered(table):
    consumer = AggregateConsumer(table)
    assert handle_stream_event(EVENT, consumer) == {"batchItemFailures": []}
    assert handle_stream_event(EVENT, consumer) == {"batchItemFailures": []}  # redelivery
    assert read_stats(table.get("ORG#acme", "AGG#BRAND#fizz")) == {}
    stats = read_stats(table.get("ORG#acme", "AGG#BRAND#pop#CAMPAIGN#winter"))
    assert stats["memorability"].count == 1 and stats["memorability"].mean == pytest.approx(0.712)
    assert read_stats(table.get("ORG#acme", "AGG#ORG"))["attention_logo"].count == 1


def test_a_failing_record_is_reported_for_redelivery_with_those_after_it(table):
    class Flaky(AggregateConsumer):
        def apply(self, record, before_commit=None):
            if record.event == "MODIFY":
                raise RuntimeError("throttled")
            return super().apply(record, before_commit)

    result = handle_stream_event(EVENT, Flaky(table))
    assert result == {"batchItemFailures": [{"itemIdentifier": "111200000000011204518390"}]}
    assert read_stats(table.get("ORG#acme", "AGG#BRAND#fizz"))["memorability"].count == 1


def test_a_non_stream_event_is_refused():
    with pytest.raises(ValueError):
        parse_stream_event({"Records": [{"eventSource": "aws:s3"}]})
