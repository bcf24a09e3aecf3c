"""Blob storage in Amazon S3: a private bucket, server-side encryption on every write.

The boto3 client is passed in (never created here), so the same class runs against AWS,
against a local emulator in tests, or with any credentials the caller chooses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from .base import BlobInfo, BlobNotFoundError, PresignedUpload, check_key, check_prefix

SSE = "AES256"


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = check_prefix(prefix.rstrip("/") + "/") if prefix else ""

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> BlobInfo:
        extra = {"ServerSideEncryption": SSE}
        if content_type:
            extra["ContentType"] = content_type
        full = self._key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            self.client.put_object(Bucket=self.bucket, Key=full, Body=bytes(data), **extra)
        else:
            # Multipart for large streams; S3 makes the object visible only once complete.
            self.client.upload_fileobj(data, self.bucket, full, ExtraArgs=extra)
        head = self.client.head_object(Bucket=self.bucket, Key=full)
        return BlobInfo(key, int(head["ContentLength"]), head.get("ContentType"))

    def get(self, key: str) -> Iterator[bytes]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey as exc:
            raise BlobNotFoundError(key) from exc
        body = obj["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(1 << 20)
            finally:
                body.close()

        return chunks()

    def read(self, key: str) -> bytes:
        return b"".join(self.get(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        full_prefix = self.prefix + check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for obj in page.get("Contents", []):
                yield BlobInfo(obj["Key"][len(self.prefix) :], int(obj["Size"]))

    def presign_upload(self, key: str, expires_in: int = 900, content_type: str | None = None) -> PresignedUpload:
        params = {"Bucket": self.bucket, "Key": self._key(key), "ServerSideEncryption": SSE}
        headers = {"x-amz-server-side-encryption": SSE}
        if content_type:
            params["ContentType"] = content_type
            headers["Content-Type"] = content_type
        url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        return PresignedUpload(url, "PUT", headers, expires_in)

    def presign_download(self, key: str, expires_in: int = 900) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in
        )
        return url


def ensure_private_bucket(client: Any, bucket: str) -> None:
    """Create the bucket if missing, block all public access and default to SSE."""
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    client.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": SSE}}]},
    )
