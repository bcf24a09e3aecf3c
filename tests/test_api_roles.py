"""Changing a user's role: PATCH /v1/users/{id} and the admin page's form. Admin only, own
organisation only, never the last Admin; a demoted user's open sessions lose Admin at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from impactlens.api.deps import SESSION_COOKIE
from impactlens.db.repository import ConflictError
from impactlens.web.csrf import csrf_token
from tests.api_support import PASSWORD, World, make_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.add_org("acme")
    w.add_org("other")
    w.ids["bob"] = w.services.accounts.create_user("acme", "bob@acme.test", "Bob", "Member", PASSWORD)["user"]
    w.ids["admin"] = w.services.repo.user_by_email("admin@acme.test")["user"]  # type: ignore[index]
    return w


def signed_in(w: World, email: str) -> TestClient:
    c = TestClient(w.client.app, follow_redirects=False)
    r = c.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


def role_of(w: World, org: str, user: str) -> str:
    return str(w.services.repo.get_user(org, user)["role"])  # type: ignore[index]


def test_an_admin_promotes_a_member_whose_open_session_gains_admin_at_once(world: World) -> None:
    bob = signed_in(world, "bob@acme.test")
    assert bob.get("/v1/users").status_code == 403
    r = world.client.patch(f"/v1/users/{world.ids['bob']}", json={"role": "Admin"}, headers=world.orgs["acme"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "Admin" and "password_hash" not in r.json()
    assert bob.get("/v1/users").status_code == 200  # the same session, no new sign-in


def test_a_demoted_admin_session_loses_admin_rights_on_the_next_request(world: World) -> None:
    h = world.orgs["acme"].headers
    world.client.patch(f"/v1/users/{world.ids['bob']}", json={"role": "Admin"}, headers=h)
    bob = signed_in(world, "bob@acme.test")
    assert bob.get("/v1/api-keys").status_code == 200
    assert bob.get("/admin").status_code == 200
    r = world.client.patch(f"/v1/users/{world.ids['bob']}", json={"role": "Member"}, headers=h)
    assert r.status_code == 200 and r.json()["role"] == "Member"
    assert bob.get("/v1/api-keys").status_code == 403
    assert bob.get("/admin").status_code == 403
    assert bob.post("/v1/api-keys", json={"label": "late"}).status_code == 403


def test_the_last_admin_cannot_be_demoted_and_stays_admin(world: World) -> None:
    r = world.client.patch(f"/v1/users/{world.ids['admin']}", json={"role": "Member"},
                           headers=world.orgs["acme"].headers)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict" and "last Admin" in r.json()["error"]["message"]
    assert role_of(world, "acme", world.ids["admin"]) == "Admin"


def test_an_admin_may_step_down_while_another_admin_remains(world: World) -> None:
    h = world.orgs["acme"].headers
    assert world.client.patch(f"/v1/users/{world.ids['bob']}", json={"role": "Admin"}, headers=h).status_code == 200
    admin = signed_in(world, "admin@acme.test")
    r = admin.patch(f"/v1/users/{world.ids['admin']}", json={"role": "Member"})
    assert r.status_code == 200
    assert admin.get("/v1/users").status_code == 403
    # Bob is now the last Admin.
    bob = signed_in(world, "bob@acme.test")
    assert bob.patch(f"/v1/users/{world.ids['bob']}", json={"role": "Member"}).status_code == 409


def test_two_admins_demoting_each_other_at_once_leave_one_admin(world: World) -> None:
    repo = world.services.repo
    repo.set_user_role("acme", world.ids["bob"], "Admin")
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def demote(user: str) -> None:
        barrier.wait(5)
        try:
            repo.set_user_role("acme", user, "Member")
        except ConflictError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=demote, args=(u,)) for u in (world.ids["bob"], world.ids["admin"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    roles = [role_of(world, "acme", u) for u in (world.ids["bob"], world.ids["admin"])]
    assert roles.count("Admin") == 1 and len(errors) == 1


def test_the_last_admin_check_holds_even_when_the_other_admin_is_demoted_first_in_the_same_commit(
    world: World,
) -> None:
    """The transaction re-checks the other Admin: demoting them between our read and our write
    (as a concurrent request would) makes our demotion fail rather than leave no Admin."""
    repo = world.services.repo
    repo.set_user_role("acme", world.ids["bob"], "Admin")
    real = repo.list_users

    def list_then_race(org: str, limit: int = 100, cursor: str | None = None):  # type: ignore[no-untyped-def]
        page = real(org, limit=limit, cursor=cursor)
        world.services.table.update(f"ORG#{org}", f"USER#{world.ids['bob']}", set={"role": "Member"})
        return page

    repo.list_users = list_then_race  # type: ignore[method-assign]
    try:
        with pytest.raises(ConflictError):
            repo.set_user_role("acme", world.ids["admin"], "Member")
    finally:
        repo.list_users = real  # type: ignore[method-assign]
    assert role_of(world, "acme", world.ids["admin"]) == "Admin"


@pytest.mark.parametrize(
    ("caller", "status"), [("member key", 403), ("other org admin", 404), ("anonymous", 401)]
)
def test_only_an_admin_of_the_same_organisation_changes_roles(world: World, caller: str, status: int) -> None:
    headers = {"member key": world.orgs["acme"].member, "other org admin": world.orgs["other"].headers,
               "anonymous": {}}[caller]
    r = world.client.patch(f"/v1/users/{world.ids['bob']}", json={"role": "Admin"}, headers=headers)
    assert r.status_code == status, r.text
    assert "Bob" not in r.text and "bob@acme.test" not in r.text
    assert role_of(world, "acme", world.ids["bob"]) == "Member"


@pytest.mark.parametrize("body", [{"role": "Owner"}, {"role": "admin"}, {}, {"role": "Admin", "email": "x@y.z"}])
def test_a_bad_role_body_is_a_422_and_changes_nothing(world: World, body: dict[str, str]) -> None:
    r = world.client.patch(f"/v1/users/{world.ids['bob']}", json=body, headers=world.orgs["acme"].headers)
    assert r.status_code == 422 and "error" in r.json()
    assert role_of(world, "acme", world.ids["bob"]) == "Member"


def test_the_admin_page_changes_a_role_and_refuses_to_demote_the_last_admin(world: World) -> None:
    token, _ = world.services.accounts.login("admin@acme.test", PASSWORD)
    page = TestClient(world.client.app, follow_redirects=False)
    page.cookies.set(SESSION_COOKIE, token)
    form = {"csrf_token": csrf_token(token)}
    origin = {"Origin": "http://testserver"}
    html = page.get("/admin").text
    assert f'action="/admin/users/{world.ids["bob"]}/role"' in html
    assert 'aria-label="Change role of bob@acme.test"' in html
    r = page.post(f"/admin/users/{world.ids['bob']}/role", data={**form, "role": "Admin"}, headers=origin)
    assert r.status_code == 303 and role_of(world, "acme", world.ids["bob"]) == "Admin"
    world.services.repo.set_user_role("acme", world.ids["bob"], "Member")
    r = page.post(f"/admin/users/{world.ids['admin']}/role", data={**form, "role": "Member"}, headers=origin)
    assert r.status_code == 409 and "last Admin" in r.text
    assert role_of(world, "acme", world.ids["admin"]) == "Admin"
    # Without the form token (a forged cross-site form) nothing changes.
    r = page.post(f"/admin/users/{world.ids['bob']}/role", data={"role": "Admin"}, headers=origin)
    assert r.status_code == 403 and role_of(world, "acme", world.ids["bob"]) == "Member"


def test_an_admin_key_cannot_delete_the_last_admin_user(world: World) -> None:
    h = world.orgs["acme"].headers  # an Admin API key: it has no user of its own to protect
    r = world.client.delete(f"/v1/users/{world.ids['admin']}", headers=h)
    assert r.status_code == 409 and "last Admin" in r.json()["error"]["message"]
    assert role_of(world, "acme", world.ids["admin"]) == "Admin"
    # With a second Admin the first may go; the survivor is then the last one again.
    world.services.repo.set_user_role("acme", world.ids["bob"], "Admin")
    assert world.client.delete(f"/v1/users/{world.ids['admin']}", headers=h).status_code == 204
    assert world.client.delete(f"/v1/users/{world.ids['bob']}", headers=h).status_code == 409
    assert world.client.delete("/v1/users/unosuchuser", headers=h).status_code == 404


def test_an_admin_stepping_down_on_the_page_leaves_admin_and_loses_it_at_once(world: World) -> None:
    world.services.repo.set_user_role("acme", world.ids["bob"], "Admin")
    token, _ = world.services.accounts.login("admin@acme.test", PASSWORD)
    page = TestClient(world.client.app, follow_redirects=False)
    page.cookies.set(SESSION_COOKIE, token)
    r = page.post(f"/admin/users/{world.ids['admin']}/role", data={"csrf_token": csrf_token(token), "role": "Member"},
                  headers={"Origin": "http://testserver"})
    assert r.status_code == 303 and r.headers["location"] == "/library"
    assert page.get("/admin").status_code == 403
    assert 'href="/admin"' not in page.get("/library").text  # the menu follows too
