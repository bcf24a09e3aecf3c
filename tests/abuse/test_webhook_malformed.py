"""Issue 10.9: a malformed webhook URL is refused when saved, and one that is stored anyway
never changes an analysis outcome (the asset used to stay ``queued``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.abuse.hooks import deliver_all, set_webhook_unchecked
from tests.api_support import make_world
from tests.media_cases import jpeg

MALFORMED = [
    "http://127.0.0.1:abc/",
    "http://[::1/",
    "http://example.com:99999/",
    "http://exa mple.com/",
    "http:///nohost",
    "http://user@/",
    "https://example.com:-1/",
    "http://example.com/\r\nX-Injected: 1",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_malformed_webhook_url_is_refused_when_saved(tmp_path: Path, url: str) -> None:
    world = make_world(tmp_path, webhook_allow_private=True)
    o = world.add_org("acme")
    r = world.client.put("/v1/org/webhook", json={"url": url}, headers=o.headers)
    assert r.status_code == 422, r.text
    assert "webhook_url" not in (world.services.repo.get_org("acme") or {})


@pytest.mark.parametrize("url", MALFORMED[:2])
def test_stored_malformed_webhook_url_leaves_the_analysis_done(tmp_path: Path, url: str) -> None:
    world = make_world(tmp_path, webhook_allow_private=True)
    o = world.add_org("acme")
    world.campaign(o)
    set_webhook_unchecked(world, "acme", url)
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, jpeg()).status_code == 202
    world.run_jobs()
    deliver_all(world)
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "done" and got["job"]["status"] == "done", got
    assert got["scores"]["memorability"] > 0
