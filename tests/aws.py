"""A real local AWS emulator (moto's server) on 127.0.0.1, for the boto3 backends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_serialised = False


def _serialise_emulator_writes() -> None:
    """DynamoDB applies each write, and each transaction, atomically. moto's threaded server
    does not: a failing transaction restores a deep copy of the whole table taken when it
    started, erasing whatever a concurrent transaction committed meanwhile (a winner's usage
    charge vanished that way in a race test). One lock around moto's write paths gives the
    emulator the atomicity the real service has; our code under test is unchanged."""
    global _serialised
    if _serialised:
        return
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))
    _serialised = True


@contextmanager
def moto_server() -> Iterator[str]:
    _serialise_emulator_writes()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - emulator credentials
    )


def use_aws_backend(monkeypatch: Any, endpoint: str, name: str) -> None:
    """Points impactlens' settings at the emulator (table and bucket ``name``), creating them
    once, the way a deployed function is configured: by environment variables."""
    from impactlens.db import create_single_table
    from impactlens.settings import get_settings
    from impactlens.storage import ensure_private_bucket

    env = {
        "IMPACTLENS_BACKEND": "aws",
        "IMPACTLENS_AWS_ENDPOINT_URL": endpoint,
        "IMPACTLENS_TABLE_NAME": name,
        "IMPACTLENS_BUCKET": name,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ddb = client("dynamodb", endpoint)
    if name not in ddb.list_tables()["TableNames"]:
        create_single_table(ddb, name)
        s3 = client("s3", endpoint)
        s3.create_bucket(Bucket=name)
        ensure_private_bucket(s3, name)
    get_settings.cache_clear()
