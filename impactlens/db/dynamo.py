"""The single table in Amazon DynamoDB: plain boto3, GSI1, Streams with NEW_AND_OLD_IMAGES.

Clients are passed in. Numbers travel as Decimal inside DynamoDB and come back as int or
float, so both backends return the same items.

Items and stream records are encoded in dynamo_items.py (with the table's schema,
create_single_table), expressions built in dynamo_expr.py; create_single_table and
stream_record are imported from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from .dynamo_expr import _Expr, _update_expression
from .dynamo_items import create_single_table, deserialise, serialise, stream_record
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

# db/__init__.py and stream_handler.py import the schema and stream decoding from here.
__all__ = ["DynamoTable", "create_single_table", "stream_record"]


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
