"""Wiring: the table, blob store and account services for one shape of the system.

Everything outside the process (SQLite file, folder, DynamoDB, S3) is created here, once,
and passed into constructors; nothing deeper creates its own clients.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .accounts import AccountService
from .db.repository import Repository
from .db.table import Table
from .settings import Settings
from .storage.base import BlobStore


@dataclass
class Services:
    settings: Settings
    table: Table
    blobs: BlobStore
    clock: Callable[[], float] = time.time
    repo: Repository = field(init=False)
    accounts: AccountService = field(init=False)

    def __post_init__(self) -> None:
        self.repo = Repository(self.table, self.clock)
        self.accounts = AccountService(self.repo, self.settings.session_ttl_s, self.clock)

    def close(self) -> None:
        close = getattr(self.table, "close", None)
        if close:
            close()


def _signing_key(path: Path) -> bytes:
    """The secret that signs local upload/download URLs, created once with mode 0600."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def embedded_services(settings: Settings) -> Services:
    from .db.sqlite import SqliteTable
    from .storage.local import LocalBlobStore

    data = Path(settings.data_dir)
    # Private when created: it holds every organisation's unpublished creatives, results and
    # the table (webhook secrets). An existing folder keeps the mode its operator gave it.
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    blobs = LocalBlobStore(
        data / "blobs", _signing_key(data / "signing.key"), base_url=settings.public_url.rstrip("/") + "/v1/blobs"
    )
    return Services(settings, SqliteTable(data / "impactlens.db"), blobs)


def aws_services(settings: Settings, session: Any = None) -> Services:
    import boto3

    from .db.dynamo import DynamoTable
    from .storage.s3 import S3BlobStore

    s = session or boto3.session.Session()
    kw = {"endpoint_url": settings.aws_endpoint_url} if settings.aws_endpoint_url else {}
    table = DynamoTable(s.client("dynamodb", **kw), settings.table_name, s.client("dynamodbstreams", **kw))
    return Services(settings, table, S3BlobStore(s.client("s3", **kw), settings.bucket))


def build_services(settings: Settings) -> Services:
    return aws_services(settings) if settings.backend == "aws" else embedded_services(settings)
