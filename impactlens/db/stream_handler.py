"""The cloud edge of the aggregates: a Lambda handler for DynamoDB Streams batches.

Parses the event into typed StreamRecords at the edge and reports partial failures
(``ReportBatchItemFailures``): the first record that could not be applied is returned, and
Lambda redelivers from it, in order. Records already applied are skipped by their markers.
"""

from __future__ import annotations

from typing import Any

from .aggregates import AggregateConsumer
from .dynamo import stream_record
from .table import StreamRecord


def parse_stream_event(event: dict[str, Any]) -> list[StreamRecord]:
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not a DynamoDB Streams event: no Records list")
    out = []
    for raw in records:
        if raw.get("eventSource") != "aws:dynamodb":
            raise ValueError(f"unexpected event source {raw.get('eventSource')!r}")
        out.append(stream_record(raw))
    return out


def handle_stream_event(event: dict[str, Any], consumer: AggregateConsumer) -> dict[str, Any]:
    failed = consumer.apply_batch(parse_stream_event(event))
    return {"batchItemFailures": [{"itemIdentifier": failed[0]}] if failed else []}
