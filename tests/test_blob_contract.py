"""One contract for every BlobStore backend: the local folder and S3 (moto's server)."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest

from impactlens.storage import BlobNotFoundError, InvalidKeyError, LocalBlobStore, S3BlobStore, ensure_private_bucket
from tests.aws import client
from tests.blob_http import serve_local_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        local = LocalBlobStore(tmp_path / "blobs", signing_key=b"k" * 32)
        with serve_local_store(local) as base_url:
            local.base_url = base_url
            yield local
    else:
        endpoint = request.getfixturevalue("aws_endpoint")
        s3 = client("s3", endpoint)
        bucket = f"impactlens-test-{abs(hash(tmp_path)) % 10**8}"
        ensure_private_bucket(s3, bucket)
        yield S3BlobStore(s3, bucket, prefix="tenant-data")


def _http(method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_put_then_get_round_trips_bytes_and_streams(store):
    info = store.put("org/a/asset.bin", b"hello")
    assert info.size == 5
    assert store.read("org/a/asset.bin") == b"hello"
    big = bytes(range(256)) * 12_000  # ~3 MB, several chunks
    assert store.put("org/a/big.bin", io.BytesIO(big)).size == len(big)
    assert b"".join(store.get("org/a/big.bin")) == big


def test_overwrite_replaces_the_whole_blob(store):
    store.put("k/x", b"first version, longer")
    store.put("k/x", b"second")
    assert store.read("k/x") == b"second"


def test_exists_delete_and_idempotent_delete(store):
    store.put("k/y", b"1")
    assert store.exists("k/y")
    store.delete("k/y")
    assert not store.exists("k/y")
    store.delete("k/y")  # no error
    with pytest.raises(BlobNotFoundError):
        store.read("k/y")


def test_list_by_prefix_is_sorted_and_exact(store):
    for key in ("p/b/2", "p/a/1", "p/a/3", "pq/other", "z"):
        store.put(key, key.encode())
    assert [b.key for b in store.list("p/")] == ["p/a/1", "p/a/3", "p/b/2"]
    assert [b.key for b in store.list("p/a/")] == ["p/a/1", "p/a/3"]
    assert [(b.key, b.size) for b in store.list("pq/")] == [("pq/other", 8)]
    assert list(store.list("nothing/")) == []


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "a//b", "", "a/./b", "a\\b", "x" * 600])
def test_keys_that_could_escape_are_refused(store, key):
    with pytest.raises(InvalidKeyError):
        store.put(key, b"x")


def test_presigned_upload_and_download_work_over_real_http(store):
    up = store.presign_upload("org/up/file.jpg", expires_in=300, content_type="image/jpeg")
    status, _ = _http(up.method, up.url, b"uploaded bytes", up.headers)
    assert status == 200
    assert store.read("org/up/file.jpg") == b"uploaded bytes"
    status, body = _http("GET", store.presign_download("org/up/file.jpg", expires_in=300))
    assert (status, body) == (200, b"uploaded bytes")


def test_a_tampered_presigned_url_is_refused(store):
    store.put("org/secret", b"s")
    url = store.presign_download("org/secret", expires_in=300)
    tampered = url.replace("org/secret", "org/secreT")
    status, _ = _http("GET", tampered)
    assert status in (403, 404)


def test_local_presigned_urls_expire(tmp_path):
    store = LocalBlobStore(tmp_path, signing_key=b"s" * 32)
    url = store.presign_download("a/b", expires_in=60)
    q = dict(part.split("=") for part in url.split("?")[1].split("&"))
    assert store.verify("GET", "a/b", q["expires"], q["signature"])
    assert not store.verify("GET", "a/b", q["expires"], q["signature"], now=int(q["expires"]) + 1)
    assert not store.verify("PUT", "a/b", q["expires"], q["signature"])


def test_local_store_leaves_no_partial_file_when_a_stream_fails(tmp_path):
    store = LocalBlobStore(tmp_path, signing_key=b"s" * 32)

    class Broken(io.RawIOBase):
        def __init__(self):
            self.calls = 0

        def read(self, n=-1):
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            return b"x" * 1000

    with pytest.raises(OSError):
        store.put("a/partial", Broken())
    assert not store.exists("a/partial")
    assert list(tmp_path.rglob("*partial*")) == []


def test_s3_objects_are_encrypted_and_the_bucket_private(aws_endpoint):
    s3 = client("s3", aws_endpoint)
    ensure_private_bucket(s3, "impactlens-private")
    store = S3BlobStore(s3, "impactlens-private")
    store.put("a/b", b"data")
    store.put("a/c", io.BytesIO(b"stream"))
    for key in ("a/b", "a/c"):
        assert s3.head_object(Bucket="impactlens-private", Key=key)["ServerSideEncryption"] == "AES256"
    block = s3.get_public_access_block(Bucket="impactlens-private")["PublicAccessBlockConfiguration"]
    assert all(block.values())
