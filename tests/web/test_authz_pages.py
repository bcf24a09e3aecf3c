"""Authorisation matrix over every dashboard route (no browser: the app through TestClient).

Each route x (anonymous, another organisation's Admin, another organisation's Member, a Member
of the victim organisation where Admin is needed) -> the precise answer, nothing of the victim
organisation in it (names, scores, thumbnail or media bytes), and the victim's state unchanged.
A route added to the app without a row here fails `test_every_page_route_is_in_the_matrix`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from impactlens.api.deps import SESSION_COOKIE
from impactlens.web.csrf import csrf_token
from tests.api_support import PASSWORD, World, make_world
from tests.media_cases import jpeg

HOST = "http://testserver"
SECRETS = ("Victim Brand Secret", "Victim Campaign Secret", "secret-asset-name", "Victim User Secret",
           "victim-key-secret", "VICTIM")
# Routes anyone may call (the sign-in form, the API docs); everything else needs a session.
PUBLIC = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("GET", "/docs")}

# (method, path template, form, kind): kind "page" redirects anonymous callers to /login,
# "fragment" (htmx, media, thumbnails) answers them 401; admin rows refuse a Member with 403;
# "object" rows name a victim object, so another organisation gets 404.
ROUTES: list[tuple[str, str, dict[str, str] | None, str, bool, bool]] = [
    ("GET", "/library", None, "page", False, False),
    ("GET", "/library/cards/{asset}", None, "fragment", False, True),
    ("GET", "/upload", None, "page", False, False),
    ("GET", "/thumbs/{asset}", None, "fragment", False, True),
    ("GET", "/brands", None, "page", False, False),
    ("GET", "/brands/{brand}", None, "page", False, True),
    ("GET", "/brands/{brand}/campaigns/{campaign}", None, "page", False, True),
    ("GET", "/brands/{brand}/campaigns/{campaign}/report", None, "page", False, True),
    ("GET", "/brands/{brand}/campaigns/{campaign}/export.csv", None, "page", False, True),
    ("POST", "/brands", {"name": "Sneaky brand"}, "page", True, False),
    ("POST", "/campaigns", {"brand": "vb", "name": "Sneaky campaign"}, "page", True, True),
    ("POST", "/assets/{asset}/move", {"target": "vb/vc2"}, "page", False, True),
    ("POST", "/assets/{asset}/delete", {}, "page", False, True),
    ("GET", "/compare", None, "page", False, False),
    ("GET", "/compare?ids={asset}&ids={asset2}", None, "page", False, True),
    ("GET", "/admin", None, "page", True, False),
    ("POST", "/admin/users", {"email": "sneaky@x.test", "name": "S", "password": "long enough pw"}, "page", True,
     False),
    ("POST", "/admin/users/{user}/delete", {}, "page", True, True),
    ("POST", "/admin/users/{user}/role", {"role": "Admin"}, "page", True, True),
    ("POST", "/admin/keys", {"label": "sneaky"}, "page", True, False),
    ("POST", "/admin/keys/{key}/revoke", {}, "page", True, True),
    ("POST", "/admin/webhook", {"url": "https://example.invalid/hook"}, "page", True, False),
    ("GET", "/assets/{asset}", None, "page", False, True),
    ("GET", "/assets/{asset}/status", None, "fragment", False, True),
    ("GET", "/assets/{asset}/report", None, "page", False, True),
    ("GET", "/assets/{asset}/media/display", None, "fragment", False, True),
    ("GET", "/assets/{asset}/media/heatmap", None, "fragment", False, True),
    ("POST", "/logout", {}, "page", False, False),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(Path(tmp_path_factory.mktemp("web-authz")))
    victim, other = w.add_org("victim"), w.add_org("other")
    repo, acc = w.services.repo, w.services.accounts
    repo.create_brand("victim", "vb", "Victim Brand Secret")
    repo.create_campaign("victim", "vb", "vc", "Victim Campaign Secret")
    repo.create_campaign("victim", "vb", "vc2", "Victim Campaign Secret 2")
    w.ids["user"] = acc.create_user("victim", "member@victim.test", "Victim User Secret", "Member", PASSWORD)["user"]
    w.ids["key"] = acc.create_api_key("victim", "victim-key-secret", "Member")[0]["key_id"]
    acc.create_user("other", "member@other.test", "Other Member", "Member", PASSWORD)
    for name in ("asset", "asset2"):
        a = w.asset(victim, f"secret-{name}-name", brand="vb", campaign="vc")["asset"]
        assert w.upload(victim, a, jpeg()).status_code == 202
        w.ids[name] = a
    w.campaign(other, "ob", "oc")
    w.run_jobs()
    assert repo.get_asset("victim", w.ids["asset"])["status"] == "done"  # type: ignore[index]
    return w


def browser_of(w: World, email: str) -> tuple[TestClient, str]:
    """A client holding that user's session cookie, and the form token of that session."""
    token, _ = w.services.accounts.login(email, PASSWORD)
    c = TestClient(w.client.app, follow_redirects=False)
    c.cookies.set(SESSION_COOKIE, token)
    return c, csrf_token(token)


def victim_state(w: World) -> str:
    repo = w.services.repo
    parts: list[Any] = [
        repo.get_org("victim"),
        repo.list_users("victim", limit=1000).items,
        repo.list_api_keys("victim", limit=1000).items,
        repo.list_brands("victim", limit=1000).items,
        repo.list_campaigns("victim", "vb", limit=1000).items,
        [repo.get_asset("victim", w.ids[a]) for a in ("asset", "asset2")],
    ]
    return json.dumps(parts, sort_keys=True, default=str)


def call(client: TestClient, w: World, method: str, path: str, form: dict[str, str] | None, token: str) -> Any:
    url = path.format(asset=w.ids["asset"], asset2=w.ids["asset2"], user=w.ids["user"], key=w.ids["key"],
                      brand="vb", campaign="vc")
    if method == "GET":
        return client.get(url)
    return client.post(url, data={**(form or {}), "csrf_token": token}, headers={"Origin": HOST})


def app_page_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app serves outside /v1, walking included routers."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for r in routes:
            if hasattr(r, "original_router"):  # an included router: its routes under the include's prefix
                walk(r.original_router.routes, prefix + getattr(getattr(r, "include_context", None), "prefix", ""))
            elif isinstance(r, APIRoute) and not (path := prefix + r.path).startswith("/v1/"):
                found.update((m, path) for m in r.methods if m != "HEAD")

    walk(app.routes, "")
    return found - {("GET", p) for p in ("/healthz", "/metrics", "/openapi.json")}


def test_every_page_route_is_in_the_matrix(world: World) -> None:
    listed = {(m, p.split("?")[0].replace("/display", "/{role}").replace("/heatmap", "/{role}"))
              for m, p, *_ in ROUTES}
    listed = {(m, p.replace("{key}", "{key_id}")) for m, p in listed}
    assert app_page_routes(world.client.app) - PUBLIC == listed


CALLERS = ["anonymous", "other org admin", "other org member", "member"]
CASES = [(c, *r) for r in ROUTES for c in CALLERS if c != "member" or r[4]]


@pytest.mark.parametrize(
    ("caller", "method", "path", "form", "kind", "admin", "victim_object"), CASES,
    ids=[f"{c[0]}: {c[1]} {c[2]}" for c in CASES],
)
def test_page_route_refuses_callers_without_rights(
    world: World, caller: str, method: str, path: str, form: dict[str, str] | None, kind: str, admin: bool,
    victim_object: bool,
) -> None:
    before = victim_state(world)
    if caller == "anonymous":
        client, token = TestClient(world.client.app, follow_redirects=False), ""
    else:
        email = {"other org admin": "admin@other.test", "other org member": "member@other.test",
                 "member": "member@victim.test"}[caller]
        client, token = browser_of(world, email)
    r = call(client, world, method, path, form, token)
    if caller == "anonymous":
        if kind == "fragment":
            assert r.status_code == 401, r.text
        elif path == "/logout":
            assert r.status_code in (303, 403)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), r.text
    elif caller == "member" or (admin and caller == "other org member"):
        assert r.status_code == 403, r.text
    elif victim_object:
        assert r.status_code == 404, r.text  # never 403: that would confirm the object exists
    else:
        assert r.status_code in (200, 201, 303), r.text
    if caller != "member":
        for secret in SECRETS:
            assert secret not in r.text, secret
        assert b"\xff\xd8\xff" not in r.content and b"\x89PNG" not in r.content  # no victim image bytes
    assert victim_state(world) == before


def test_the_member_matrix_leaves_no_sneaky_objects_anywhere(world: World) -> None:
    """What the refused Member posts above never lands in the victim organisation (the other
    organisation's Admin may create in their own, which is checked to stay there)."""
    repo = world.services.repo
    assert all(k["label"] != "sneaky" for k in repo.list_api_keys("victim", limit=1000).items)
    assert repo.user_by_email("sneaky@x.test") is None or repo.user_by_email("sneaky@x.test")["org"] == "other"  # type: ignore[index]
    assert all(b["name"] != "Sneaky brand" for b in repo.list_brands("victim", limit=1000).items)
