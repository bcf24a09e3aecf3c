"""DynamoDB's side of an item: the table's schema, and items and stream records converted
between our plain values and DynamoDB's typed attribute values (numbers as Decimal)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from .table import Item, StreamRecord, TableError

_ser, _de = TypeSerializer(), TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TableError("numbers must be finite (no NaN or Infinity)")
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def serialise(item: Item) -> dict[str, Any]:
    return {k: _ser.serialize(_to_dynamo(v)) for k, v in item.items()}


def deserialise(raw: dict[str, Any]) -> Item:
    return {k: _from_dynamo(_de.deserialize(v)) for k, v in raw.items()}


def create_single_table(client: Any, name: str) -> str:
    """Create the table (on-demand, GSI1, stream of new and old images); returns the stream ARN."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.get_waiter("table_exists").wait(TableName=name)
    arn: str = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    return arn


def stream_record(raw: dict[str, Any], prefix: str = "") -> StreamRecord:
    """A DynamoDB Streams record (from get_records or a Lambda event) as a StreamRecord."""
    body = raw["dynamodb"]
    old = deserialise(body["OldImage"]) if "OldImage" in body else None
    new = deserialise(body["NewImage"]) if "NewImage" in body else None
    return StreamRecord(raw["eventName"], old, new, prefix + body["SequenceNumber"])
