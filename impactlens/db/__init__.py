"""The single-table data layer: one interface, SQLite and DynamoDB backends."""

from .dynamo import DynamoTable, create_single_table, stream_record
from .sqlite import SqliteTable
from .table import (
    EXISTS,
    NOT_EXISTS,
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
    Table,
    TableError,
    TransactionCanceledError,
    Update,
    iterate,
)

__all__ = [
    "EXISTS",
    "NOT_EXISTS",
    "Check",
    "Condition",
    "ConditionFailedError",
    "Delete",
    "DynamoTable",
    "InvalidCursorError",
    "Item",
    "KeyRange",
    "Page",
    "Put",
    "SqliteTable",
    "StreamRecord",
    "Table",
    "TableError",
    "TransactionCanceledError",
    "Update",
    "create_single_table",
    "iterate",
    "stream_record",
]
