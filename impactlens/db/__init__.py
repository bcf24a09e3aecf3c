"""The single-table data layer: one interface, SQLite and DynamoDB backends, and the
repository (the data model on it)."""

from .dynamo import DynamoTable, create_single_table, stream_record
from .errors import ConflictError, LastAdminError, NotFoundError, QuotaExceededError
from .ids import check_id, new_ulid
from .repository import Repository
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
    "ConflictError",
    "Delete",
    "DynamoTable",
    "InvalidCursorError",
    "Item",
    "KeyRange",
    "LastAdminError",
    "NotFoundError",
    "Page",
    "Put",
    "QuotaExceededError",
    "Repository",
    "SqliteTable",
    "StreamRecord",
    "Table",
    "TableError",
    "TransactionCanceledError",
    "Update",
    "check_id",
    "create_single_table",
    "iterate",
    "new_ulid",
    "stream_record",
]
