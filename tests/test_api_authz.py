"""Authorisation matrix: every route x (no credentials, another organisation's user, another
organisation's key, a member where an admin is needed) -> the precise status, and nothing of
the other organisation is ever returned or changed (BOLA)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.api.deps import SESSION_COOKIE
from tests.api_support import PASSWORD, World, make_world
from tests.media_cases import jpeg

# (method, path, body, admin only, names an object of the victim organisation)
ROUTES: list[tuple[str, str, Any, bool, bool]] = [
    ("GET", "/v1/me", None, False, False),
    ("GET", "/v1/org", None, False, False),
    ("PUT", "/v1/org/webhook", {"url": "https://example.invalid/hook"}, True, False),
    ("GET", "/v1/users", None, True, False),
    ("POST", "/v1/users", {"email": "x-{uid}@y.test", "name": "X", "password": "long enough pw"}, True, False),
    ("DELETE", "/v1/users/{user}", None, True, True),
    ("PATCH", "/v1/users/{user}", {"role": "Admin"}, True, True),
    ("GET", "/v1/api-keys", None, True, False),
    ("POST", "/v1/api-keys", {"label": "k"}, True, False),
    ("DELETE", "/v1/api-keys/{key}", None, True, True),
    ("GET", "/v1/brands", None, False, False),
    ("POST", "/v1/brands", {"brand": "nb-{uid}", "name": "N"}, True, False),
    ("GET", "/v1/brands/vb/campaigns", None, False, True),
    ("POST", "/v1/brands/vb/campaigns", {"campaign": "nc", "name": "N"}, True, True),
    ("POST", "/v1/assets", {"brand": "vb", "campaign": "vc", "name": "x"}, False, True),
    ("GET", "/v1/assets", None, False, False),
    ("GET", "/v1/assets/{asset}", None, False, True),
    ("POST", "/v1/assets/{asset}/upload", "FILE", False, True),
    ("POST", "/v1/assets/{asset}/uploaded", None, False, True),
    ("GET", "/v1/assets/{asset}/results", None, False, True),
    ("PUT", "/v1/assets/{asset}/aois", {"aois": [{"name": "z", "x": 0, "y": 0, "w": 5, "h": 5}]}, False, True),
    ("POST", "/v1/assets/{asset}/move", {"brand": "vb", "campaign": "vc2"}, False, True),
    ("DELETE", "/v1/assets/{asset}", None, False, True),
    ("GET", "/v1/aggregates?brand=vb", None, False, True),
    ("GET", "/v1/compare?ids={asset}&ids={asset2}", None, False, True),
    ("POST", "/v1/auth/logout", None, False, False),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(Path(tmp_path_factory.mktemp("authz")))
    victim, other = w.add_org("victim"), w.add_org("other")
    w.campaign(victim, "vb", "vc")
    w.campaign(victim, "vb", "vc2")
    w.campaign(other, "ob", "oc")
    w.ids["user"] = w.services.accounts.create_user("victim", "member@victim.test", "M", "Member", PASSWORD)["user"]
    for name in ("asset", "asset2"):
        a = w.asset(victim, f"secret-{name}-name", brand="vb", campaign="vc")["asset"]
        assert w.upload(victim, a, jpeg()).status_code == 202
        w.ids[name] = a
    w.run_jobs()
    return w


def _snapshot(w: World) -> str:
    v = w.orgs["victim"]
    c = w.client
    parts = [c.get(f"/v1/assets/{w.ids['asset']}", headers=v.headers).json()]
    parts.append(c.get(f"/v1/assets/{w.ids['asset']}/results", headers=v.headers).json()["analysis"]["attention"])
    parts.append(c.get("/v1/api-keys", headers=v.headers).json())
    parts.append(c.get("/v1/brands/vb/campaigns", headers=v.headers).json())
    parts.append(c.get("/v1/users", headers=v.headers).json())
    parts.append(c.get("/v1/org", headers=v.headers).json())
    for p in parts[0:1]:
        p.pop("job", None)
    return json.dumps(parts, sort_keys=True)


def _call(client: TestClient, w: World, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    v = w.orgs["victim"]
    key_id = v.member_key.split("_")[1]
    url = path.format(asset=w.ids["asset"], asset2=w.ids["asset2"], key=key_id, user=w.ids["user"])
    if body == "FILE":
        return client.request(method, url, files={"file": ("a.jpg", jpeg(), "image/jpeg")}, headers=headers)
    if isinstance(body, dict):
        body = json.loads(json.dumps(body).replace("{uid}", uuid.uuid4().hex[:8]))
    return client.request(method, url, json=body, headers=headers)


def _session_client(w: World, email: str) -> TestClient:
    """A browser of that user (sessions made directly: the login route's own limiter would
    otherwise throttle a hundred logins in a few seconds)."""
    token, _ = w.services.accounts.login(email, PASSWORD)
    c = TestClient(w.client.app)
    c.cookies.set(SESSION_COOKIE, token)
    return c


CALLERS = ["anonymous", "other org user", "other org key", "member"]
# A member is checked where an admin is needed; elsewhere members may act, on their own org.
CASES = [(c, *r) for r in ROUTES for c in CALLERS if c != "member" or r[3]]


@pytest.mark.parametrize(
    ("caller", "method", "path", "body", "admin", "victim_object"), CASES, ids=[f"{c[0]}: {c[1]} {c[2]}" for c in CASES]
)
def test_route_refuses_callers_without_rights(
    world: World, caller: str, method, path, body, admin, victim_object
) -> None:
    before = _snapshot(world)
    other = world.orgs["other"]
    client, headers = world.client, {}
    if caller == "other org key":
        headers = other.headers
    elif caller == "other org user":
        client = _session_client(world, other.admin_email)
    elif caller == "member":
        headers = world.orgs["victim"].member
    r = _call(client, world, method, path, body, headers)
    text = r.text
    if caller == "anonymous":
        assert r.status_code == 401, text
    elif caller == "member":
        assert r.status_code == 403, text
    elif victim_object:
        assert r.status_code == 404, text  # never 403: that would confirm the object exists
    else:
        assert r.status_code in (200, 201, 204), text
    assert r.headers["content-type"].startswith("application/json") or r.status_code == 204
    # Ids the caller sent may be echoed in a 404 message; the victim's data never appears.
    for secret in ("victim", "VICTIM", "secret-asset", "memorability"):
        assert caller == "member" or secret not in text
    assert _snapshot(world) == before
