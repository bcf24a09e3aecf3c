"""Issue 10.5: the webhook must not become a way to reach internal hosts (blind SSRF).

Nothing here sends traffic beyond 127.0.0.1: refused targets are refused before connecting,
and the only receivers run on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from tests.abuse.hooks import deliver_all, receiver, set_webhook_unchecked
from tests.api_support import make_world
from tests.media_cases import jpeg

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.0.0.2:8080/",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f.1/",  # hex, short form
    "http://0177.0.0.1/",  # octal
    "http://017700000001/",
    "http://127.1/",
    "http://0/",
    "http://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.0.10/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://example.com/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_webhook_to_an_internal_or_non_http_target_is_refused_when_saved(tmp_path: Path, url: str) -> None:
    world = make_world(tmp_path)
    o = world.add_org("acme")
    r = world.client.put("/v1/org/webhook", json={"url": url}, headers=o.headers)
    assert r.status_code == 422, r.text
    assert set(r.json()["error"]) >= {"code", "message"}
    assert "webhook_url" not in (world.services.repo.get_org("acme") or {})


def test_saved_loopback_webhook_is_never_called_when_private_targets_are_off(tmp_path: Path) -> None:
    with receiver() as rec:
        world = make_world(tmp_path)
        o = world.add_org("acme")
        world.campaign(o)
        set_webhook_unchecked(world, "acme", rec.url)
        spellings = [rec.url.replace("127.0.0.1", host) for host in ("127.0.0.1", "2130706433", "localhost")]
        for spelling in spellings:
            set_webhook_unchecked(world, "acme", spelling)
            asset = world.asset(o)["asset"]
            assert world.upload(o, asset, jpeg()).status_code == 202
            world.run_jobs()
            deliver_all(world)
            assert world.services.repo.get_asset("acme", asset)["status"] == "done"
    assert rec.calls == []


def test_loopback_webhook_is_delivered_signed_when_private_targets_are_allowed(tmp_path: Path) -> None:
    with receiver() as rec:
        world = make_world(tmp_path, webhook_allow_private=True)
        o = world.add_org("acme")
        world.campaign(o)
        r = world.client.put("/v1/org/webhook", json={"url": rec.url}, headers=o.headers)
        assert r.status_code == 200, r.text
        asset = world.asset(o)["asset"]
        world.upload(o, asset, jpeg())
        world.run_jobs()
        deliver_all(world)
    assert len(rec.calls) == 1
    path, body, headers = rec.calls[0]
    expected = "sha256=" + hmac.new(r.json()["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert path == "/hook" and headers["X-Impactlens-Signature"] == expected
    assert json.loads(body)["asset"] == asset


@pytest.mark.parametrize("location", ["/internal", "ftp://127.0.0.1/x"])
def test_webhook_redirects_are_not_followed(tmp_path: Path, location: str) -> None:
    with receiver() as rec:
        rec.script = [302] * 20
        rec.location = location if "://" in location else rec.url.replace("/hook", location)
        world = make_world(tmp_path, webhook_allow_private=True)
        o = world.add_org("acme")
        world.campaign(o)
        assert world.client.put("/v1/org/webhook", json={"url": rec.url}, headers=o.headers).status_code == 200
        asset = world.asset(o)["asset"]
        world.upload(o, asset, jpeg())
        world.run_jobs()
        deliver_all(world)
        assert world.services.repo.get_asset("acme", asset)["status"] == "done"
    assert rec.paths() and set(rec.paths()) == {"/hook"}
