"""A hostile user against the dashboard, without a browser: security headers, CSRF on every
state change, the login's `next=` (no open redirect), stored names in every context, media
content types, byte ranges and key-like parameters."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.api.deps import SESSION_COOKIE
from impactlens.jobs.analysis import results_prefix
from impactlens.web.csrf import csrf_token
from tests.api_support import PASSWORD, World, make_world
from tests.media_cases import jpeg

HOST = "http://testserver"
XSS = '</script><script>alert(1)</script>"\'><img src=x onerror=alert(2)>{{7*7}}'


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = make_world(Path(tmp_path_factory.mktemp("web-headers")))
    acme = w.add_org("acme")
    repo, acc = w.services.repo, w.services.accounts
    repo.create_brand("acme", "xb", XSS)
    repo.create_campaign("acme", "xb", "xc", XSS)
    w.ids["user"] = acc.create_user("acme", "x@acme.test", XSS, "Member", PASSWORD)["user"]
    acc.create_api_key("acme", XSS, "Member")
    a = w.asset(acme, XSS[:190], brand="xb", campaign="xc")["asset"]
    assert w.upload(acme, a, jpeg()).status_code == 202
    w.ids["asset"] = a
    w.run_jobs()
    assert repo.get_asset("acme", a)["status"] == "done"  # type: ignore[index]
    # Text read from a creative is attacker-controlled too: an automatic text AOI whose words
    # are markup (the stored result is edited as if the OCR had read them).
    item = repo.get_asset("acme", a) or {}
    stored = repo.get_result("acme", a, str(item["result_version"])) or {}
    analysis = json.loads(stored["analysis"])
    analysis["auto_aois"] = [{"name": "text_1", "kind": "text", "text": XSS, "role": XSS, "confidence": 0.9,
                              "x": 1, "y": 1, "w": 20, "h": 20, "attention": {"share": 0.1, "lift": 1.2}}]
    # A result file of a kind the page does not know, holding markup (served, never rendered).
    analysis["outputs"]["notes"] = "notes.html"
    w.services.blobs.put(f"{results_prefix('acme', a, str(item['result_version']))}/notes.html",
                         b"<html><script>alert(1)</script></html>", "text/html")
    w.services.table.put({"PK": f"ASSET#{a}", "SK": f"RESULT#{item['result_version']}",
                          **{**stored, "analysis": json.dumps(analysis)}})
    # An error message stored on a failed asset is shown on its pages.
    failed = w.asset(acme, "failed one", brand="xb", campaign="xc")["asset"]
    repo.update_asset("acme", failed, {"status": "failed", "error": {"code": "corrupt_media", "message": XSS}})
    w.ids["failed"] = failed
    return w


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")


def inline_handlers(html: str) -> list[str]:
    """Attributes that would run script (on*=, javascript: URLs): the CSP blocks them, so a page
    that needs one is broken."""
    parser = _Attributes()
    parser.feed(html)
    return parser.found


class _Styles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style" or any(name == "style" for name, _ in attrs):
            self.found.append(self.get_starttag_text() or tag)


def inline_styles(html: str) -> list[str]:
    """style="" attributes and <style> elements: the pages' style-src refuses both."""
    parser = _Styles()
    parser.feed(html)
    return parser.found


_ADDRESSES = iter(range(1, 60_000))


def fresh_browser(w: World) -> TestClient:
    """A signed-out client from its own address: the sign-in limiter (10 a burst per address)
    would otherwise throttle the many sign-ins these tests make in a few seconds."""
    n = next(_ADDRESSES)
    return TestClient(w.client.app, follow_redirects=False, client=(f"10.9.{n // 250}.{n % 250 + 1}", 40000))


def signed_in(w: World, email: str = "admin@acme.test") -> tuple[TestClient, str]:
    token, _ = w.services.accounts.login(email, PASSWORD)
    c = TestClient(w.client.app, follow_redirects=False)
    c.cookies.set(SESSION_COOKIE, token)
    return c, csrf_token(token)


PAGES = ["/library", "/upload", "/brands", "/brands/xb", "/brands/xb/campaigns/xc",
         "/brands/xb/campaigns/xc/report", "/compare", "/admin", "/assets/{asset}", "/assets/{asset}/report",
         "/login"]


def test_pages_send_a_strict_content_security_policy_and_anti_framing_headers(world: World) -> None:
    client, _ = signed_in(world)
    for path in PAGES:
        r = client.get(path.format(asset=world.ids["asset"]))
        assert r.status_code == 200, path
        csp = r.headers.get("content-security-policy", "")
        directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
        assert directives.get("script-src") == "'self'", (path, csp)  # no inline script, no eval
        assert directives.get("style-src") == "'self'", (path, csp)  # no style="" nor <style>
        assert directives.get("default-src") == "'self'"
        assert directives.get("frame-ancestors") == "'none'" and directives.get("object-src") == "'none'"
        assert directives.get("base-uri") == "'none'" and directives.get("form-action") == "'self'"
        assert r.headers.get("x-frame-options") == "DENY"
        assert r.headers.get("x-content-type-options") == "nosniff"
        assert r.headers.get("referrer-policy") == "same-origin"
        # The policy is only worth something if the page has nothing it would block.
        html = r.text
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", html), path
        assert not inline_handlers(html), path
        assert not inline_styles(html), path


def test_api_docs_allow_only_their_own_inline_script_by_hash(world: World) -> None:
    r = world.client.get("/docs")
    csp = r.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert inline, "the docs page boots Swagger UI inline"
    import base64
    import hashlib

    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert csp.split("style-src", 1)[1].split(";", 1)[0].strip() == "'self'"


def test_session_cookie_is_httponly_and_samesite_strict(world: World) -> None:
    c = fresh_browser(world)
    r = c.post("/login", data={"email": "admin@acme.test", "password": PASSWORD, "next": "/brands"},
               headers={"Origin": HOST})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie


# --- login, logout, redirects -----------------------------------------------------------------

OPEN_REDIRECTS = ["//evil.example", "https://evil.example", "https:evil.example", "/\\evil.example",
                  "\\\\evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example", "/\t/evil.example",
                  "/\n/evil.example", " //evil.example", "///evil.example", "http:/evil.example",
                  "javascript:alert(1)", "/%5Cevil.example", "/%09/evil.example", "//%65vil.example",
                  "/．/evil.example", "／/evil.example"]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_login_never_redirects_off_site(world: World, target: str) -> None:
    c = fresh_browser(world)
    page = c.get("/login", params={"next": target})
    assert "evil" not in page.text and "javascript" not in page.text
    r = c.post("/login", data={"email": "admin@acme.test", "password": PASSWORD, "next": target},
               headers={"Origin": HOST})
    assert r.status_code == 303
    location = r.headers["location"]
    assert location == "/library" or (location.startswith("/") and location[1:2] not in ("/", "\\")), location
    assert "evil" not in location.lower()


def test_login_keeps_a_same_site_path_with_its_query(world: World) -> None:
    c = fresh_browser(world)
    r = c.post("/login", data={"email": "admin@acme.test", "password": PASSWORD,
                               "next": "/library?brand=xb&sort=score"}, headers={"Origin": HOST})
    assert r.headers["location"] == "/library?brand=xb&sort=score"


@pytest.mark.parametrize("origin", [{"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}, {}])
def test_login_csrf_a_cross_site_sign_in_form_is_refused(world: World, origin: dict[str, str]) -> None:
    c = fresh_browser(world)
    r = c.post("/login", data={"email": "admin@acme.test", "password": PASSWORD}, headers=origin)
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")


def test_logout_is_not_a_get_and_a_forged_post_keeps_the_session(world: World) -> None:
    client, token = signed_in(world)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={}, headers={"Origin": HOST}).status_code == 403  # no token
    evil = {"Origin": "https://evil.example"}
    assert client.post("/logout", data={"csrf_token": token}, headers=evil).status_code == 403
    assert client.get("/library").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}, headers={"Origin": HOST}).status_code == 303
    assert client.get("/library").status_code == 303


# Every state-changing page route, with a body that would succeed with a valid token.
STATE_CHANGES = [
    ("/brands", {"name": "Forged brand"}),
    ("/campaigns", {"brand": "xb", "name": "Forged campaign"}),
    ("/assets/{asset}/move", {"target": "xb/xc"}),
    ("/admin/users", {"email": "forged@acme.test", "name": "F", "password": "long enough pw"}),
    ("/admin/users/{user}/delete", {}),
    ("/admin/users/{user}/role", {"role": "Admin"}),
    ("/admin/keys", {"label": "forged"}),
    ("/admin/keys/nokey/revoke", {}),
    ("/admin/webhook", {"url": "https://example.com/forged"}),
    ("/logout", {}),
]


def _state(w: World) -> str:
    repo = w.services.repo
    return json.dumps([repo.list_users("acme", limit=1000).items, repo.list_api_keys("acme", limit=1000).items,
                       repo.list_brands("acme", limit=1000).items, repo.get_org("acme"),
                       repo.list_campaigns("acme", "xb", limit=1000).items], sort_keys=True, default=str)


@pytest.mark.parametrize(("path", "form"), STATE_CHANGES, ids=[p for p, _ in STATE_CHANGES])
@pytest.mark.parametrize("attack", ["no token", "wrong token", "cross-origin with token", "no origin with token"])
def test_every_state_changing_page_refuses_a_forged_request(
    world: World, path: str, form: dict[str, str], attack: str
) -> None:
    client, token = signed_in(world)
    before = _state(world)
    headers = {"Origin": HOST}
    body = dict(form)
    if attack == "wrong token":
        body["csrf_token"] = csrf_token("another session")
    elif attack == "cross-origin with token":
        body["csrf_token"], headers = token, {"Origin": "http://testserver.evil.example"}
    elif attack == "no origin with token":
        body["csrf_token"], headers = token, {}
    url = path.format(asset=world.ids["asset"], user=world.ids["user"])
    r = client.post(url, data=body, headers=headers)
    assert r.status_code == 403, (attack, r.status_code, r.text[:200])
    assert _state(world) == before
    assert client.get("/library").status_code == 200  # still signed in


def test_a_signed_out_htmx_poll_gets_401_and_is_sent_to_the_sign_in_page(world: World) -> None:
    c = fresh_browser(world)
    r = c.get(f"/library/cards/{world.ids['asset']}", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login"
    assert "<html" not in r.text  # not a sign-in page swapped into a card


# --- stored names in every context ------------------------------------------------------------


def test_stored_names_are_escaped_in_html_attributes_and_embedded_json(world: World) -> None:
    client, _ = signed_in(world)
    for path in PAGES[:-1]:
        html = client.get(path.format(asset=world.ids["asset"])).text
        assert "<script>alert(1)" not in html, path
        assert "<img src=x" not in html, path
        assert '"\'>' not in html, path
        # Embedded data for scripts is JSON that cannot close its <script> element.
        for blob in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S):
            assert "</" not in blob and "<!--" not in blob, path
            json.loads(blob)
    for path in (f"/assets/{world.ids['failed']}", f"/assets/{world.ids['failed']}/report"):
        html = client.get(path).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html, path
    page = client.get(f"/assets/{world.ids['asset']}").text
    assert "&lt;script&gt;alert(1)" in page  # the detected words are shown, as text


def test_the_htmx_fragments_escape_stored_names(world: World) -> None:
    client, _ = signed_in(world)
    for path in (f"/library/cards/{world.ids['asset']}", f"/assets/{world.ids['failed']}/status",
                 f"/library/cards/{world.ids['failed']}"):
        r = client.get(path, headers={"HX-Request": "true"})
        assert r.status_code == 200
        assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
        assert not inline_styles(r.text), path  # swapped into a page under its style-src


def test_form_errors_echo_input_escaped(world: World) -> None:
    client, token = signed_in(world)
    r = client.post("/admin/users", data={"csrf_token": token, "email": XSS, "name": XSS, "password": "x"},
                    headers={"Origin": HOST})
    assert r.status_code in (409, 422)
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    r = client.post("/brands", data={"csrf_token": token, "name": "<script>alert(1)</script>"},
                    headers={"Origin": HOST})
    assert "<script>alert(1)" not in r.text


# --- media, thumbnails, byte ranges ---------------------------------------------------------


def test_media_and_thumbnails_have_fixed_types_nosniff_and_a_sandboxing_policy(world: World) -> None:
    client, _ = signed_in(world)
    a = world.ids["asset"]
    for path, kind in [(f"/thumbs/{a}", "image/"), (f"/assets/{a}/media/display", "image/jpeg"),
                       (f"/assets/{a}/media/heatmap", "image/"), ("/thumbs/nosuchasset", "image/svg+xml")]:
        r = client.get(path)
        assert r.headers["content-type"].startswith(kind), path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"], path
        assert "text/html" not in r.headers["content-type"]


def test_a_result_file_of_unknown_kind_is_served_as_bytes_never_as_a_page(world: World) -> None:
    client, _ = signed_in(world)
    r = client.get(f"/assets/{world.ids['asset']}/media/notes")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]


RANGES = ["bytes=abc", "bytes=-0", "bytes=99999999999-", "bytes=5-2", "bytes=0-1," * 200 + "0-1",
          "bytes=-99999999999999999999999999", "items=0-1", "bytes=", "bytes=0-0,-1", "bytes=--1",
          "bytes=1-2-3", "bytes=\u00e9-1", "bytes=0-18446744073709551616", "bytes= 0 - 1 "]


@pytest.mark.parametrize("header", RANGES)
def test_malformed_or_huge_byte_ranges_are_refused_never_a_server_error(world: World, header: str) -> None:
    client, _ = signed_in(world)
    r = client.get(f"/assets/{world.ids['asset']}/media/display", headers={"Range": header.encode()})
    assert r.status_code in (200, 206, 400, 416), (header, r.status_code)


def test_a_valid_byte_range_returns_exactly_those_bytes(world: World) -> None:
    client, _ = signed_in(world)
    url = f"/assets/{world.ids['asset']}/media/display"
    whole = client.get(url).content
    r = client.get(url, headers={"Range": "bytes=2-9"})
    assert r.status_code == 206 and r.content == whole[2:10]
    assert r.headers["content-range"] == f"bytes 2-9/{len(whole)}"


TRAVERSALS = ["%2E%2E", "..%2F..%2Fetc%2Fpasswd", "a%00b", "ORG%23acme", "x" * 3000, "%C0%AE%C0%AE",
              "..%5C..%5Cx", "ASSET%23x"]


@pytest.mark.parametrize("bad", TRAVERSALS)
def test_key_like_parameters_cannot_walk_out_of_the_organisation(world: World, bad: str) -> None:
    client, _ = signed_in(world)
    a = world.ids["asset"]
    for path in (f"/thumbs/{bad}", f"/assets/{bad}", f"/assets/{bad}/media/display", f"/assets/{a}/media/{bad}",
                 f"/library/cards/{bad}", f"/assets/{bad}/status", f"/assets/{bad}/report",
                 f"/brands/{bad}", f"/brands/xb/campaigns/{bad}", f"/compare?ids={bad}&ids={a}"):
        r = client.get(path)
        assert r.status_code in (404, 422), (path, r.status_code)
        assert b"root:" not in r.content




# --- one browser check: the policy breaks nothing on the main pages ---------------------------

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""


def test_the_content_security_policy_blocks_nothing_the_pages_need(admin_page: Any, live_server: Any) -> None:
    import httpx

    from tests.web.conftest import SAMPLES

    _, key = live_server.services.accounts.create_api_key(live_server.org, "csp", "Admin")
    with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        http.post("/v1/brands", json={"brand": "cspb", "name": "CSP brand"})
        http.post("/v1/brands/cspb/campaigns", json={"campaign": "cspc", "name": "CSP campaign"})
        asset = http.post("/v1/assets", json={"brand": "cspb", "campaign": "cspc", "name": "csp"}).json()["asset"]
        sample = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
        assert http.post(f"/v1/assets/{asset}/upload", files={"file": ("a.jpg", sample)}).status_code == 202
    assert live_server.wait_assets_done([asset])[asset]["status"] == "done"
    page = admin_page
    page.add_init_script(RECORD_VIOLATIONS)
    for path in ["/library", "/upload", "/brands", "/brands/cspb/campaigns/cspc", "/brands/cspb/campaigns/cspc/report",
                 "/compare", "/admin", f"/assets/{asset}", f"/assets/{asset}/report", "/docs"]:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in (response.headers.get("content-security-policy") or ""), path
        page.wait_for_load_state("networkidle")
        if path == "/docs":
            page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        else:
            assert page.evaluate("typeof window.htmx") == "object", path  # the vendored script ran
        assert page.evaluate("window.__csp") == [], path
    # The confirm handler moved out of onsubmit="" still asks before deleting.
    page.goto("/admin")
    asked: list[str] = []
    page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
    page.locator("form[data-confirm] button.danger").first.click()
    page.wait_for_timeout(300)
    assert asked == ["Delete this user?"]
    assert page.url.endswith("/admin")
