"""Blob storage: one interface, a local-folder backend and an S3 backend."""

from .base import BlobError, BlobInfo, BlobNotFoundError, BlobStore, InvalidKeyError, PresignedUpload, check_key
from .local import LocalBlobStore
from .s3 import S3BlobStore, ensure_private_bucket

__all__ = [
    "BlobError",
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "InvalidKeyError",
    "LocalBlobStore",
    "PresignedUpload",
    "S3BlobStore",
    "check_key",
    "ensure_private_bucket",
]
