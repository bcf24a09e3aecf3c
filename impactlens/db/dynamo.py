"""The single table in Amazon DynamoDB: plain boto3, GSI1, Streams with NEW_AND_OLD_IMAGES.

Clients are passed in. Numbers travel as Decimal inside DynamoDB and come back as int or
float, so both backends return the same items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from .table import (
    Check,
    Condition,
    ConditionFailedError,
    Delete,
    InvalidCursorError,
    Item,
    KeyRange,
    Page,
    Put,
    StreamRecord,
    TableError,
    TransactionCanceledError,
    Update,
    WriteOp,
    decode_cursor,
    encode_cursor,
    validate_item,
)

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


class DynamoTable:
    def __init__(self, client: Any, name: str, streams_client: Any = None, stream_arn: str | None = None) -> None:
        self.client = client
        self.name = name
        self.streams = streams_client
        self.stream_arn = stream_arn

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"PK": {"S": pk}, "SK": {"S": sk}}

    def get(self, pk: str, sk: str) -> Item | None:
        raw = self.client.get_item(TableName=self.name, Key=self._key(pk, sk), ConsistentRead=True).get("Item")
        return deserialise(raw) if raw else None

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise ConditionFailedError("the condition of the write does not hold") from exc
        except self.client.exceptions.TransactionCanceledException as exc:
            raise TransactionCanceledError("a condition in the transaction does not hold") from exc

    def put(self, item: Item, condition: Condition | None = None) -> None:
        validate_item(item)
        e = _Expr()
        self._call(
            self.client.put_item,
            **e.kwargs(TableName=self.name, Item=serialise(item), ConditionExpression=e.condition(condition)),
        )

    def update(
        self,
        pk: str,
        sk: str,
        set: dict[str, Any] | None = None,  # noqa: A002 - DynamoDB's word
        add: dict[str, int | float] | None = None,
        remove: Sequence[str] = (),
        condition: Condition | None = None,
    ) -> Item:
        op = Update(pk, sk, set or {}, add or {}, tuple(remove), condition)
        e = _Expr()
        expr = _update_expression(op, e)
        resp = self._call(
            self.client.update_item,
            **e.kwargs(
                TableName=self.name,
                Key=self._key(pk, sk),
                UpdateExpression=expr,
                ConditionExpression=e.condition(condition),
                ReturnValues="ALL_NEW",
            ),
        )
        return deserialise(resp["Attributes"])

    def delete(self, pk: str, sk: str, condition: Condition | None = None) -> Item | None:
        e = _Expr()
        resp = self._call(
            self.client.delete_item,
            **e.kwargs(
                TableName=self.name,
                Key=self._key(pk, sk),
                ConditionExpression=e.condition(condition),
                ReturnValues="ALL_OLD",
            ),
        )
        raw = resp.get("Attributes")
        return deserialise(raw) if raw else None

    def query(
        self,
        pk: str,
        sk: KeyRange | None = None,
        *,
        index: Literal["GSI1"] | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page:
        if limit < 1:
            raise TableError("limit must be >= 1")
        e = _Expr()
        pname, sname = ("GSI1PK", "GSI1SK") if index == "GSI1" else ("PK", "SK")
        cond = f"{e.name(pname)} = {e.value(pk)}"
        if sk is not None:
            if sk.eq is not None:
                cond += f" AND {e.name(sname)} = {e.value(sk.eq)}"
            elif sk.begins_with is not None:
                cond += f" AND begins_with({e.name(sname)}, {e.value(sk.begins_with)})"
            elif sk.between is not None:
                cond += f" AND {e.name(sname)} BETWEEN {e.value(sk.between[0])} AND {e.value(sk.between[1])}"
        kwargs = e.kwargs(
            TableName=self.name,
            KeyConditionExpression=cond,
            Limit=limit,
            ScanIndexForward=not newest_first,
            IndexName=index,
        )
        if cursor is not None:
            start = decode_cursor(cursor)
            if set(start) != {"PK", "SK", *((pname, sname) if index else ())}:
                raise InvalidCursorError("cursor does not belong to this query")
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        try:
            resp = self.client.query(**kwargs)
        except self.client.exceptions.ClientError as exc:
            if cursor is not None and exc.response.get("Error", {}).get("Code") == "ValidationException":
                raise InvalidCursorError("cursor does not belong to this query") from exc
            raise
        last = resp.get("LastEvaluatedKey")
        next_cursor = encode_cursor({k: v["S"] for k, v in last.items()}) if last else None
        return Page([deserialise(i) for i in resp.get("Items", [])], next_cursor)

    def transact(self, ops: Sequence[WriteOp]) -> None:
        items = []
        for op in ops:
            e = _Expr()
            if isinstance(op, Put):
                validate_item(op.item)
                body = e.kwargs(
                    TableName=self.name, Item=serialise(op.item), ConditionExpression=e.condition(op.condition)
                )
                items.append({"Put": body})
            elif isinstance(op, Update):
                expr = _update_expression(op, e)
                body = e.kwargs(
                    TableName=self.name,
                    Key=self._key(op.pk, op.sk),
                    UpdateExpression=expr,
                    ConditionExpression=e.condition(op.condition),
                )
                items.append({"Update": body})
            elif isinstance(op, Delete):
                body = e.kwargs(
                    TableName=self.name, Key=self._key(op.pk, op.sk), ConditionExpression=e.condition(op.condition)
                )
                items.append({"Delete": body})
            elif isinstance(op, Check):
                body = e.kwargs(
                    TableName=self.name, Key=self._key(op.pk, op.sk), ConditionExpression=e.condition(op.condition)
                )
                items.append({"ConditionCheck": body})
        try:
            self._call(self.client.transact_write_items, TransactItems=items)
        except ConditionFailedError as exc:
            raise TransactionCanceledError(str(exc)) from exc
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                raise TableError(exc.response["Error"].get("Message", "invalid transaction")) from exc
            raise

    def read_stream(self, after: str | None = None, limit: int = 100) -> list[StreamRecord]:
        """Local reading of the stream (the cloud delivers the same records to a Lambda).

        Positions are "<shard index>:<sequence number>"; shards are read in creation order.
        """
        if self.streams is None or self.stream_arn is None:
            raise TableError("this table was opened without its stream")
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        start_shard, start_seq = (int(after.split(":", 1)[0]), after.split(":", 1)[1]) if after else (0, None)
        out: list[StreamRecord] = []
        for idx in range(start_shard, len(shards)):
            shard_id = shards[idx]["ShardId"]
            if idx == start_shard and start_seq is not None:
                it = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=start_seq,
                )["ShardIterator"]
            else:
                it = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            while it and len(out) < limit:
                resp = self.streams.get_records(ShardIterator=it, Limit=limit - len(out))
                for r in resp["Records"]:
                    out.append(stream_record(r, prefix=f"{idx}:"))
                if not resp["Records"]:
                    break
                it = resp.get("NextShardIterator")
            if len(out) >= limit:
                break
        return out


def stream_record(raw: dict[str, Any], prefix: str = "") -> StreamRecord:
    """A DynamoDB Streams record (from get_records or a Lambda event) as a StreamRecord."""
    body = raw["dynamodb"]
    old = deserialise(body["OldImage"]) if "OldImage" in body else None
    new = deserialise(body["NewImage"]) if "NewImage" in body else None
    return StreamRecord(raw["eventName"], old, new, prefix + body["SequenceNumber"])
