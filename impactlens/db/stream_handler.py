"""The cloud edge of the aggregates: a Lambda handler for DynamoDB Streams batches.

Parses the event into typed StreamRecords at the edge and reports partial failures
(``ReportBatchItemFailures``): the first record that could not be applied is returned, and
Lambda redelivers from it, in order. Records already applied are skipped by their markers.
"""

from __future__ import annotations

from functools import lru_cache
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


@lru_cache(maxsize=1)
def _consumer() -> AggregateConsumer:
    from ..services import build_services
    from ..settings import get_settings

    return AggregateConsumer(build_services(get_settings()).table)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (deploy/template.yaml: AggregatesFunction)."""
    return handle_stream_event(event, _consumer())
