"""Smaller hardening cases: bad cursors, leaky error messages, the webhook URL in front of
Members, the throttle table under a flood of keys, and where uploads are spooled."""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

import pytest

from impactlens.api.throttle import TokenBuckets
from tests.api_support import World, make_world
from tests.media_cases import jpeg, photo


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


@pytest.mark.parametrize("fields", [{"PK": "ASSET#x"}, {"PK": "ASSET#x", "SK": "METADATA"}, {"GSI1SK": "BRAND#"}])
def test_a_cursor_missing_a_field_is_a_422_not_a_500(world: World, fields: dict[str, str]) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()
    r = world.client.get("/v1/assets", params={"cursor": cursor}, headers=world.orgs["acme"].headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor", r.text


def test_a_failed_analysis_reports_no_server_paths_or_blob_keys(world: World, tmp_path: Path) -> None:
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, jpeg()).status_code == 202
    for blob in list(world.services.blobs.list("orgs/")):  # the storage lost the original
        world.services.blobs.delete(blob.key)
    world.run_jobs()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "failed"
    text = json.dumps(got)
    for secret in ("orgs/", str(tmp_path), "/source", "Errno"):
        assert secret not in text, text


def test_members_never_see_the_credentials_in_the_webhook_url(world: World) -> None:
    o = world.orgs["acme"]
    url = "https://hook-user:hook-pass@hooks.example.com/in/tok3n?signature=s3cret"
    world.services.table.update("ORG#acme", "ORG#acme", set={"webhook_url": url, "webhook_secret": "x"})
    member = world.client.get("/v1/org", headers=o.member).json()
    text = json.dumps(member)
    for secret in ("hook-pass", "hook-user", "tok3n", "s3cret"):
        assert secret not in text, text
    assert "hooks.example.com" in text  # they can still see that one is set, and where it goes
    assert world.client.get("/v1/org", headers=o.headers).json()["webhook_url"] == url


def test_a_flood_of_new_keys_does_not_reset_a_throttled_client() -> None:
    now = [1000.0]
    buckets = TokenBuckets(clock=lambda: now[0], max_keys=100)
    while buckets.take("authfail:203.0.113.9", 5.0, 10) == 0.0:
        pass
    for n in range(1000):  # an attacker cycling through addresses, while the victim keeps trying
        buckets.take(f"authfail:198.51.{n // 256}.{n % 256}", 5.0, 10)
        assert buckets.take("authfail:203.0.113.9", 5.0, 10) > 0.0, n
    assert len(buckets) <= 100
    now[0] += 60.0  # refilled: the throttled client is let through again
    assert buckets.take("authfail:203.0.113.9", 5.0, 10) == 0.0


def test_multipart_uploads_are_spooled_under_the_data_dir_and_cleaned(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    o = world.orgs["acme"]
    # No usable system temp folder: an upload may only use the data dir.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-system-tmp"))
    big = jpeg(photo(2400, 1800))
    assert len(big) > 2**20  # past the size multipart parsers keep in memory
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, big)
    assert r.status_code == 202, r.text
    scratch = tmp_path / "data" / "tmp"
    assert not scratch.exists() or list(scratch.iterdir()) == []
    other = world.asset(o, "other")["asset"]
    r = world.client.post(
        f"/v1/assets/{other}/upload",
        content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n" + big[:100000],
        headers={**o.headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert r.status_code == 422
    assert not scratch.exists() or list(scratch.iterdir()) == []
