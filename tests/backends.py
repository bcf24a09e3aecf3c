"""Table backends for contract tests: SQLite in a temp folder, DynamoDB on moto's server."""

from __future__ import annotations

import itertools
from typing import Any

from impactlens.db import DynamoTable, SqliteTable, create_single_table
from tests.aws import client

_names = itertools.count()


def make_table(kind: str, tmp_path: Any, endpoint: str | None = None) -> Any:
    if kind == "sqlite":
        return SqliteTable(tmp_path / f"table{next(_names)}.db")
    assert endpoint is not None
    ddb = client("dynamodb", endpoint)
    name = f"impactlens-{next(_names)}"
    arn = create_single_table(ddb, name)
    return DynamoTable(ddb, name, client("dynamodbstreams", endpoint), arn)
