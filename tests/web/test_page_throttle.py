"""Dashboard pages count against request limits (web/deps.py): per organisation by plan when
signed in, per client address when not; a person over the limit reads a 429 page (not JSON),
a thumbnail or htmx poll gets a line of text, and /static is never limited.

The buckets' clock stands still, so every count is exact however slow the machine is. No
browser here: the real app through its ASGI interface."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.accounts import PLANS
from impactlens.api import create_app
from impactlens.api.deps import SESSION_COOKIE
from impactlens.db.ratelimit import TableRateLimiter
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import PASSWORD, World, api_settings, make_world

FREE = PLANS["free"]


def freeze(app: Any) -> None:
    buckets = app.state.buckets
    now = buckets.clock()
    buckets.clock = lambda: now


def signed_in(app: Any, services: Services, email: str) -> TestClient:
    token, _ = services.accounts.login(email, PASSWORD)  # straight to a session: no login limits
    return TestClient(app, cookies={SESSION_COOKIE: token}, follow_redirects=False)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    o = w.add_org("acme")
    w.campaign(o)
    for n in range(24):  # one full library page of cards
        w.asset(o, f"ad {n}")
    w.add_org("other", plan="free")
    w.services.accounts.create_user("acme", "max@acme.test", "Max", "Member", PASSWORD)
    w.services.table.update("ORG#acme", "ORG#acme", set={"plan": "free"})  # the smallest plan from here
    freeze(w.client.app)
    return w


def test_a_library_page_loads_whole_on_the_smallest_plan(world: World) -> None:
    ada = signed_in(world.client.app, world.services, "admin@acme.test")
    for _ in range(2):  # and once more straight after
        page = ada.get("/library")
        assert page.status_code == 200
        thumbs = re.findall(r'src="(/thumbs/[^"]+)"', page.text)
        statics = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
        assert len(thumbs) == 24 and statics
        assert [ada.get(u).status_code for u in thumbs + statics] == [200] * (len(thumbs) + len(statics))


def test_signed_in_pages_are_limited_per_organisation_with_a_readable_page(world: World) -> None:
    ada = signed_in(world.client.app, world.services, "admin@acme.test")
    codes = [ada.get("/brands").status_code for _ in range(FREE.burst + 3)]
    assert codes == [200] * FREE.burst + [429] * 3
    r = ada.get("/library", headers={"Accept": "text/html"})
    assert r.status_code == 429 and r.headers["content-type"].startswith("text/html")
    assert "Too many requests" in r.text and "free plan allows 10 dashboard requests a second" in r.text
    assert not r.text.lstrip().startswith("{") and int(r.headers["Retry-After"]) >= 1
    # Another user of the same organisation shares its limit; another organisation does not.
    assert signed_in(world.client.app, world.services, "max@acme.test").get("/library").status_code == 429
    assert signed_in(world.client.app, world.services, "admin@other.test").get("/library").status_code == 200
    # Nor does the organisation's API, nor the styles and scripts of the 429 page itself.
    assert world.client.get("/v1/me", headers=world.orgs["acme"].headers).status_code == 200
    statics = re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text)
    assert statics and all(ada.get(u).status_code == 200 for u in statics)


def test_form_posts_count_like_pages(world: World) -> None:
    ada = signed_in(world.client.app, world.services, "admin@acme.test")
    for _ in range(FREE.burst):
        ada.get("/brands")
    from impactlens.web.csrf import csrf_token

    form = {"brand": "b9", "name": "B9", "csrf_token": csrf_token(ada.cookies[SESSION_COOKIE])}
    r = ada.post("/brands", data=form, headers={"Origin": "http://testserver"})
    assert r.status_code == 429 and world.services.repo.get_brand("acme", "b9") is None


def test_thumbnails_and_polls_have_a_larger_budget_and_get_text_when_over_it(world: World) -> None:
    ada = signed_in(world.client.app, world.services, "admin@acme.test")
    asset = world.client.get("/v1/assets", headers=world.orgs["acme"].headers).json()["items"][0]["asset"]
    budget = FREE.burst * 5
    codes = [ada.get(f"/thumbs/{asset}").status_code for _ in range(budget + 2)]
    assert codes == [200] * budget + [429] * 2
    r = ada.get(f"/library/cards/{asset}", headers={"HX-Request": "true"})
    assert r.status_code == 429 and r.headers["content-type"].startswith("text/plain")
    assert "Wait" in r.text and int(r.headers["Retry-After"]) >= 1
    assert ada.get("/library").status_code == 200  # pages have their own budget


def test_anonymous_pages_are_limited_per_client_address(world: World) -> None:
    app, burst = world.client.app, world.services.settings.page_anon_burst
    me = TestClient(app, client=("203.0.113.7", 5000), follow_redirects=False)
    # The sign-in page and signed-out redirects share the address's budget.
    codes = [me.get("/login" if n % 2 else "/library").status_code for n in range(burst + 2)]
    assert codes == [200 if n % 2 else 303 for n in range(burst)] + [429, 429]
    r = me.get("/login")
    assert r.status_code == 429 and "Too many requests from your network address" in r.text
    assert r.headers["content-type"].startswith("text/html") and int(r.headers["Retry-After"]) >= 1
    r = me.post("/login", data={"email": "admin@acme.test", "password": PASSWORD}, headers={"Origin": "http://testserver"})
    assert r.status_code == 429 and "set-cookie" not in r.headers
    assert me.get("/static/css/app.css").status_code == 200
    other = TestClient(app, client=("203.0.113.8", 5000))
    assert other.get("/login").status_code == 200


def test_pages_on_aws_count_in_the_table(table: Any, tmp_path: Path) -> None:
    """On AWS every container counts in the table: two apps share one organisation's limit."""
    settings = api_settings(tmp_path, backend="aws")
    apps = []
    for n in range(2):
        services = Services(settings, table, LocalBlobStore(tmp_path / f"b{n}", b"k" * 32))
        app = create_app(services)
        assert isinstance(app.state.buckets, TableRateLimiter)
        app.state.buckets.clock = lambda: 4_000.0
        apps.append((app, services))
    services = apps[0][1]
    services.accounts.create_org("acme", "ACME", "free")
    services.accounts.create_user("acme", "ada@acme.test", "Ada", "Admin", PASSWORD)
    clients = [signed_in(app, s, "ada@acme.test") for app, s in apps]
    codes = [clients[n % 2].get("/brands").status_code for n in range(FREE.burst + 2)]
    assert codes == [200] * FREE.burst + [429] * 2
    assert table.get("RATE#web:page:acme#0", "W#4000000")["n"] == FREE.burst
