"""Admin in the browser, and what must not happen: a Member in admin, a stored <script> name
running, a cross-origin form post changing anything."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import LiveServer, serious_violations, shot

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def test_create_an_api_key_shown_once_that_works_then_revoke_it(admin_page: Any, live_server: LiveServer) -> None:
    admin_page.goto("/admin")
    admin_page.get_by_label("Label").fill("ci robot")
    admin_page.get_by_role("button", name="Create API key").click()
    secret = admin_page.locator("#new-key .secret").inner_text().strip()
    assert secret.startswith("il_")
    shot(admin_page, "admin_new_key")
    api = admin_page.context.request
    assert api.get(f"{live_server.url}/v1/assets", headers={"Authorization": f"Bearer {secret}"}).status == 200
    admin_page.goto("/admin")
    assert secret not in admin_page.content()  # shown once
    admin_page.once("dialog", lambda d: d.accept())
    admin_page.get_by_role("button", name="Revoke key ci robot").click()
    admin_page.wait_for_load_state()
    assert "ci robot" not in admin_page.locator("section[aria-labelledby=h-keys]").inner_text()
    assert api.get(f"{live_server.url}/v1/assets", headers={"Authorization": f"Bearer {secret}"}).status == 401
    shot(admin_page, "admin")


def test_admin_invites_a_user_who_can_then_sign_in(admin_page: Any, browser: Any, live_server: LiveServer) -> None:
    admin_page.goto("/admin")
    admin_page.get_by_label("Name", exact=True).fill("Nina New")
    admin_page.get_by_label("Email").fill("nina@acme.test")
    admin_page.get_by_label("Initial password (10+ characters)").fill("a long enough password")
    admin_page.get_by_role("button", name="Invite user").click()
    assert "nina@acme.test" in admin_page.get_by_role("status").inner_text()
    context = browser.new_context(base_url=live_server.url)
    r = context.request.post("/v1/auth/login", data={"email": "nina@acme.test", "password": "a long enough password"})
    assert r.status == 200 and r.json()["role"] == "Member"
    context.close()


def test_a_member_cannot_reach_admin(member_page: Any, live_server: LiveServer) -> None:
    member_page.goto("/library")
    assert member_page.get_by_role("link", name="Admin").count() == 0
    response = member_page.goto("/admin")
    assert response is not None and response.status == 403
    assert "Admin role" in member_page.locator("main").inner_text()
    shot(member_page, "member_admin_refused")
    # Not through the forms either, even with a valid token of their own session.
    token = member_page.evaluate("document.querySelector('meta[name=csrf-token]').content")
    r = member_page.context.request.post(
        f"{live_server.url}/admin/keys", form={"csrf_token": token, "label": "sneaky"},
        headers={"Origin": live_server.url},
    )
    assert r.status == 403
    assert all(k["label"] != "sneaky" for k in live_server.services.repo.list_api_keys(live_server.org).items)


def test_a_stored_script_name_is_shown_as_text_and_never_runs(admin_page: Any, live_server: LiveServer) -> None:
    repo = live_server.services.repo
    repo.create_brand(live_server.org, "xss", XSS)
    repo.create_campaign(live_server.org, "xss", "c1", XSS)
    asset = repo.create_asset(live_server.org, "xss", "c1", "image", name=XSS, status="awaiting_upload")
    user = live_server.services.accounts.create_user(live_server.org, "x@acme.test", XSS, "Member", "long password 123")
    for path in ["/library", "/brands", "/brands/xss", "/brands/xss/campaigns/c1",
                 "/brands/xss/campaigns/c1/report", "/admin", "/upload", "/compare"]:
        admin_page.goto(path)
        assert admin_page.evaluate("window.__pwned") is None, path
        assert admin_page.locator("main img[src=x]").count() == 0, path
    admin_page.goto("/library?brand=xss")
    assert XSS in admin_page.locator(f"#card-{asset['asset']} .name").inner_text()
    shot(admin_page, "xss_library")
    assert user["name"] == XSS


@pytest.fixture
def attacker_site(live_server: LiveServer) -> Iterator[str]:
    """A page on another origin of the same site (another port on 127.0.0.1): SameSite=strict
    still sends the session cookie there, so only the Origin check and the form token stop it."""
    page = f"""<!doctype html><html><body>
      <form id="f" method="post" action="{live_server.url}/admin/keys">
        <input name="label" value="planted by attacker"><input name="role" value="Admin"></form>
      <form id="g" method="post" action="{live_server.url}/admin/webhook">
        <input name="url" value="http://attacker.example/hook"></form>
      <script>document.getElementById(location.hash === '#g' ? 'g' : 'f').submit()</script>
    </body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_cross_origin_form_post_is_refused_and_stores_nothing(
    admin_page: Any, live_server: LiveServer, attacker_site: str
) -> None:
    admin_page.goto("/library")  # signed in, with a live session cookie
    for target in ("", "#g"):
        with admin_page.expect_navigation():
            admin_page.goto(attacker_site + target)
        admin_page.wait_for_load_state()
        assert admin_page.url.startswith(live_server.url)
        assert "cross-origin request refused" in admin_page.content()
    keys = live_server.services.repo.list_api_keys(live_server.org).items
    assert all(k["label"] != "planted by attacker" for k in keys)
    assert (live_server.services.repo.get_org(live_server.org) or {}).get("webhook_url") is None


def test_login_page_has_no_serious_accessibility_violations(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login")
    assert serious_violations(page) == []
    context.close()


def test_v1_state_changes_with_the_cookie_need_this_origin_but_api_keys_do_not(
    admin_page: Any, live_server: LiveServer
) -> None:
    api = admin_page.context.request  # holds the admin's session cookie
    evil = {"Origin": "http://127.0.0.1:1"}
    r = api.post(f"{live_server.url}/v1/brands", data={"brand": "planted", "name": "x"}, headers=evil)
    assert r.status == 403 and r.json()["error"]["code"] == "csrf_refused"
    assert live_server.services.repo.get_brand(live_server.org, "planted") is None
    ok = api.post(f"{live_server.url}/v1/brands", data={"brand": "mine", "name": "Mine"},
                  headers={"Origin": live_server.url})
    assert ok.status == 201
    _, key = live_server.services.accounts.create_api_key(live_server.org, "robot", "Admin")
    by_key = api.post(f"{live_server.url}/v1/brands", data={"brand": "robots", "name": "R"},
                      headers={**evil, "Authorization": f"Bearer {key}"})
    assert by_key.status == 201
