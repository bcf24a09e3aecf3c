"""Per-account sign-in lockout with device cookies (accounts/lockout.py), on SQLite and on
DynamoDB (moto's server): a guesser on many addresses is stopped, the real user is not.

The lockout's clock stands still (it only moves when a test moves it), so every count below
is exact however slow the machine is."""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from impactlens.accounts.lockout import DEVICE_COOKIE, LoginGuard
from impactlens.api import create_app
from impactlens.api.routes.accounts import login_guard
from impactlens.db.ratelimit import SlidingWindowCounter
from impactlens.services import Services
from impactlens.storage.local import LocalBlobStore
from tests.api_support import PASSWORD, api_settings

EMAIL, OTHER = "ada@acme.test", "eve@evil.test"
WINDOW = 900.0
# Small budgets keep the password checks (argon2id, ~0.1-0.5 s each) few; the headline attack
# runs on the defaults.
ACCOUNT_BUDGET, DEVICE_BUDGET = 4, 2


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Site:
    """The app on one table; every client comes from its own address unless told otherwise."""

    def __init__(self, table: Any, tmp_path: Path, **settings: Any) -> None:
        services = Services(api_settings(tmp_path, **settings), table, LocalBlobStore(tmp_path / "b", b"k" * 32))
        self.services, self.app = services, create_app(services)
        self.clock = Clock(1_000_050.0)
        login_guard(self.app).clock = self.clock
        self._hosts = iter(range(1, 60_000))
        if services.repo.get_org("acme") is None:
            services.accounts.create_org("acme", "ACME", "enterprise")
            services.accounts.create_user("acme", EMAIL, "Ada", "Admin", PASSWORD)
            services.accounts.create_org("evil", "EVIL", "free")
            services.accounts.create_user("evil", OTHER, "Eve", "Admin", PASSWORD)

    def client(self, device: str | None = None, ip: str | None = None) -> TestClient:
        n = next(self._hosts)
        host = ip or f"198.51.{n // 250}.{n % 250 + 1}"
        return TestClient(self.app, client=(host, 40000), cookies={DEVICE_COOKIE: device} if device else None)

    def login(self, email: str, password: str, device: str | None = None) -> Any:
        return self.client(device).post("/v1/auth/login", json={"email": email, "password": password})


def device_cookie_header(response: Any) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(DEVICE_COOKIE + "="))


def device_of(response: Any) -> str:
    return SimpleCookie(device_cookie_header(response))[DEVICE_COOKIE].value


@pytest.fixture
def site(table: Any, tmp_path: Path) -> Site:
    return Site(table, tmp_path, login_account_failures=ACCOUNT_BUDGET, login_device_failures=DEVICE_BUDGET)


def test_100_wrong_passwords_from_100_addresses_are_throttled_but_the_real_user_still_signs_in(
    table: Any, tmp_path: Path
) -> None:
    site = Site(table, tmp_path)  # the default budgets
    budget = site.services.settings.login_account_failures
    assert budget == 10 and site.services.settings.login_window_s == WINDOW
    ok = site.login(EMAIL, PASSWORD)  # the real user, days ago, in their own browser
    assert ok.status_code == 200
    device = device_of(ok)

    answers = [site.login(EMAIL, f"guess number {n}") for n in range(100)]  # 100 addresses
    codes = [r.status_code for r in answers]
    assert codes == [401] * budget + [429] * (100 - budget)
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited" and "this account" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    assert "set-cookie" not in refused.headers

    # Even the right password is refused to a client the account does not know...
    assert site.login(EMAIL, PASSWORD).status_code == 429
    # ...while the real user's browser signs in, as often as they like.
    for _ in range(3):
        mine = site.login(EMAIL, PASSWORD, device)
        assert mine.status_code == 200 and mine.json()["org"] == "acme"
        assert "impactlens_session=" in mine.headers["set-cookie"]
    # Another account is not affected.
    assert site.login(OTHER, PASSWORD).status_code == 200


def test_an_unknown_email_is_answered_exactly_like_a_known_one(site: Site) -> None:
    def run(email: str) -> list[tuple[int, str | None, Any, bool]]:
        out = []
        for n in range(ACCOUNT_BUDGET + 3):
            r = site.login(email, f"wrong {n}")
            out.append((r.status_code, r.headers.get("Retry-After"), r.json(), "set-cookie" in r.headers))
        return out

    known, unknown = run(EMAIL), run("nobody@acme.test")
    assert known == unknown
    assert [k[0] for k in known] == [401] * ACCOUNT_BUDGET + [429] * 3


def test_a_known_and_an_unknown_email_take_similar_time(tmp_path: Path) -> None:
    """Both check a password (the unknown one against a fixed dummy hash); timed interleaved,
    each from a fresh address, so load on the machine falls on both alike."""
    from tests.backends import make_table

    site = Site(make_table("sqlite", tmp_path), tmp_path)  # 10 failures each: none refused
    times: dict[str, list[float]] = {EMAIL: [], "nobody@acme.test": []}
    for n in range(8):
        for email in times:
            start = time.perf_counter()
            assert site.login(email, f"wrong {n}").status_code == 401
            times[email].append(time.perf_counter() - start)
    ratio = statistics.median(times["nobody@acme.test"]) / statistics.median(times[EMAIL])
    assert 0.5 < ratio < 2.0, times


def test_a_device_cookie_has_its_own_small_budget_then_counts_like_any_client(site: Site) -> None:
    device = device_of(site.login(EMAIL, PASSWORD))
    codes = [site.login(EMAIL, "typo", device).status_code for _ in range(DEVICE_BUDGET)]
    assert codes == [401] * DEVICE_BUDGET
    # Past its own budget the browser is counted with untrusted clients: the account's budget.
    codes = [site.login(EMAIL, "typo", device).status_code for _ in range(ACCOUNT_BUDGET + 1)]
    assert codes == [401] * ACCOUNT_BUDGET + [429]
    assert site.login(EMAIL, PASSWORD, device).status_code == 429
    site.clock.t += 2 * WINDOW  # both windows passed
    assert site.login(EMAIL, PASSWORD, device).status_code == 200


def other_char(text: str) -> str:
    """``text`` with its first character changed (never the same string by chance)."""
    return ("B" if text[0] != "B" else "C") + text[1:]


def test_only_a_valid_signed_unexpired_cookie_for_that_account_is_trusted(site: Site) -> None:
    mine = device_of(site.login(EMAIL, PASSWORD))
    evils = device_of(site.login(OTHER, PASSWORD))  # the attacker's own account's cookie
    account, holder, nonce, expires, sig = mine.split(".")
    evil_holder = evils.split(".")[1]
    forged = [
        evils,
        f"{account}.{holder}.{nonce}.{int(expires) + 10**6}.{sig}",  # a longer life
        f"{account}.{holder}.{other_char(nonce)}.{expires}.{sig}",
        f"{account}.{holder}.{nonce}.{expires}.{other_char(sig)}",
        f"{account}.{evil_holder}.{nonce}.{expires}.{sig}",  # another user's binding
        f"{account}.{nonce}.{expires}.{sig}",  # the unbound form
        "",
        "garbage~" * 20,
    ]
    for n in range(ACCOUNT_BUDGET):
        assert site.login(EMAIL, f"wrong {n}", forged[n % len(forged)]).status_code == 401
    assert all(site.login(EMAIL, PASSWORD, f).status_code == 429 for f in forged)
    assert site.login(EMAIL, PASSWORD, mine).status_code == 200
    site.clock.t += 91 * 86400  # past the cookie's 90 days (and the window)
    for n in range(ACCOUNT_BUDGET):
        assert site.login(EMAIL, f"wrong again {n}").status_code == 401
    assert site.login(EMAIL, PASSWORD, mine).status_code == 429  # expired: untrusted


def test_the_device_cookie_is_httponly_samesite_secure_and_keeps_no_email(table: Any, tmp_path: Path) -> None:
    site = Site(table, tmp_path, public_url="https://impactlens.example", login_account_failures=3)
    ok = site.login(EMAIL, PASSWORD)
    header = device_cookie_header(ok).lower()
    assert "httponly" in header and "samesite=strict" in header and "secure" in header and "max-age=" in header
    assert "ada" not in header and "acme" not in header
    site.login(EMAIL, "wrong")
    key = f"RATE#login:account:{login_guard(site.app).account(EMAIL)}"
    assert site.services.table.get(key, "W#999900000")["n"] == 1  # counted under a keyed hash only
    assert "ada" not in key and "acme" not in key


def test_two_containers_share_one_account_count(site: Site, tmp_path: Path) -> None:
    other = Site(site.services.table, tmp_path / "second", login_account_failures=ACCOUNT_BUDGET)  # same table
    other.clock.t = site.clock.t
    codes = [(site if n % 2 else other).login(EMAIL, f"wrong {n}").status_code for n in range(ACCOUNT_BUDGET + 2)]
    assert codes == [401] * ACCOUNT_BUDGET + [429] * 2


def test_the_lockout_slides_and_ends(site: Site) -> None:
    for n in range(ACCOUNT_BUDGET):
        assert site.login(EMAIL, f"wrong {n}").status_code == 401
    refused = site.login(EMAIL, PASSWORD)
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    site.clock.t += wait - 5
    assert site.login(EMAIL, PASSWORD).status_code == 429
    site.clock.t += 6
    assert site.login(EMAIL, PASSWORD).status_code == 200
    # The window's edge gives no second budget: the previous window still weighs on this one
    # (4 failures, 2 s into the next window: room for one more, then one every ~225 s).
    assert [site.login(EMAIL, "wrong").status_code for _ in range(3)] == [401, 429, 429]
    site.clock.t += 226
    assert site.login(EMAIL, "wrong").status_code == 401


def test_right_passwords_and_busy_refusals_do_not_use_the_budget(site: Site) -> None:
    from impactlens.accounts.security import PASSWORD_SLOTS, password_slot

    assert all(site.login(EMAIL, PASSWORD).status_code == 200 for _ in range(ACCOUNT_BUDGET + 2))
    with contextlib.ExitStack() as held:
        for _ in range(PASSWORD_SLOTS):
            held.enter_context(password_slot(0))
        busy = [site.login(EMAIL, "wrong") for _ in range(ACCOUNT_BUDGET + 2)]
    assert all(r.status_code == 503 and r.json()["error"]["code"] == "busy" for r in busy)
    assert [site.login(EMAIL, f"wrong {n}").status_code for n in range(ACCOUNT_BUDGET)] == [401] * ACCOUNT_BUDGET


def test_the_sign_in_page_explains_the_lockout_and_keeps_the_real_user_in(site: Site) -> None:
    page = {"Origin": "http://testserver"}
    mine = site.client()
    first = mine.post("/login", data={"email": EMAIL, "password": PASSWORD}, headers=page, follow_redirects=False)
    assert first.status_code == 303
    for n in range(ACCOUNT_BUDGET):
        site.login(EMAIL, f"wrong {n}")
    stranger = site.client().post("/login", data={"email": EMAIL, "password": PASSWORD}, headers=page)
    assert stranger.status_code == 429 and stranger.headers["content-type"].startswith("text/html")
    assert "Too many failed sign-ins for this account" in stranger.text and int(stranger.headers["Retry-After"]) >= 1
    mine.cookies.delete("impactlens_session")
    again = mine.post("/login", data={"email": EMAIL, "password": PASSWORD}, headers=page, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/library"


def test_concurrent_reservations_never_overshoot_the_limit(table: Any) -> None:
    counter = SlidingWindowCounter(table, Clock(5_000.0))
    granted: list[bool] = []
    lock = threading.Lock()

    def guess() -> None:
        for _ in range(6):
            reservation, _wait = counter.reserve("login:account:x", 10, WINDOW)
            with lock:
                granted.append(reservation is not None)

    threads = [threading.Thread(target=guess) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 10 and counter.count("login:account:x", WINDOW) == 10


def test_a_configured_secret_signs_cookies_that_every_container_accepts(table: Any) -> None:
    a = LoginGuard(table, secret=b"s" * 32, clock=Clock(100.0))
    b = LoginGuard(table, secret=b"s" * 32, clock=Clock(100.0))
    c = LoginGuard(table, clock=Clock(100.0))  # no configured key: one made and kept in the table
    cookie = a.device_cookie(None, a.account(EMAIL), a.holder("acme", "u1"))
    assert b.trusted_device(cookie, b.account(EMAIL), b.holder("acme", "u1"))
    assert not c.trusted_device(cookie, c.account(EMAIL), c.holder("acme", "u1"))
    d = LoginGuard(table, clock=Clock(100.0))
    made_by_c = c.device_cookie(None, c.account(EMAIL), c.holder("acme", "u1"))
    assert d.trusted_device(made_by_c, d.account(EMAIL), d.holder("acme", "u1"))
    for junk in ("é.é.é.1.é", "a.h.b.99999999999999999999.c", "~" * 5000, "." * 5):  # never an error
        assert d.trusted_device(junk, d.account(EMAIL), d.holder("acme", "u1")) is None


def test_one_browser_keeps_a_device_token_for_each_of_its_last_four_accounts(tmp_path: Path) -> None:
    from tests.backends import make_table

    guard = LoginGuard(make_table("sqlite", tmp_path), clock=Clock(100.0))
    emails = [f"user{n}@acme.test" for n in range(5)]
    cookie = None
    holder = guard.holder("acme", "u1")
    for email in emails + [emails[2]]:  # signing in again to an account moves its token first
        cookie = guard.device_cookie(cookie, guard.account(email), holder)
    trusted = [bool(guard.trusted_device(cookie, guard.account(e), holder)) for e in emails]
    assert trusted == [False, True, True, True, True]
    assert cookie is not None and cookie.count("~") == 3 and cookie.startswith(guard.account(emails[2]))


def test_a_device_cookie_is_not_trusted_for_the_next_user_given_the_same_email(site: Site) -> None:
    """The old user's browser keeps a validly signed token for the email; once the user is
    deleted and the email given to someone new, it is counted like any client (the account's
    budget), and the new user's own browser gets a small budget of its own."""
    old_browser = device_of(site.login(EMAIL, PASSWORD))
    old_user = site.services.repo.user_by_email(EMAIL)
    site.services.accounts.create_user("acme", "boss@acme.test", "Boss", "Admin", PASSWORD)
    site.services.repo.delete_user("acme", old_user["user"])
    assert site.login(EMAIL, PASSWORD, old_browser).status_code == 401  # no user has the email now
    site.clock.t += 2 * WINDOW  # that failure forgotten
    new = site.services.accounts.create_user("acme", EMAIL, "Newcomer", "Member", PASSWORD + "!")
    assert new["user"] != old_user["user"]

    codes = [site.login(EMAIL, f"guess {n}", old_browser).status_code for n in range(ACCOUNT_BUDGET + 1)]
    assert codes == [401] * ACCOUNT_BUDGET + [429]  # no device budget on top of the account's
    assert site.login(EMAIL, PASSWORD + "!", old_browser).status_code == 429
    site.clock.t += 2 * WINDOW
    new_browser = device_of(site.login(EMAIL, PASSWORD + "!"))
    for n in range(ACCOUNT_BUDGET):
        assert site.login(EMAIL, f"guess again {n}").status_code == 401
    assert site.login(EMAIL, PASSWORD + "!", old_browser).status_code == 429
    assert site.login(EMAIL, PASSWORD + "!", new_browser).status_code == 200  # the new user is not locked out


def test_only_a_browser_that_signed_in_to_the_email_makes_the_guard_read_whose_it_is(tmp_path: Path) -> None:
    """Binding tokens to the user costs a read of the email's guard item before the password
    check; a client without a genuine token for the email (any guesser of unknown emails) never
    causes it, so refused sign-ins for known and unknown emails still do the same work."""
    from impactlens.db.sqlite import SqliteTable

    class Watched(SqliteTable):
        email_reads = 0

        def get(self, pk: str, sk: str) -> Any:
            self.email_reads += pk.startswith("EMAIL#")
            return super().get(pk, sk)

    table = Watched(tmp_path / "t.db")
    site = Site(table, tmp_path, login_account_failures=ACCOUNT_BUDGET, login_device_failures=DEVICE_BUDGET)
    mine = device_of(site.login(EMAIL, PASSWORD))
    evils = device_of(site.login(OTHER, PASSWORD))
    for email in (EMAIL, "nobody@acme.test"):
        for n in range(ACCOUNT_BUDGET):
            site.login(email, f"wrong {n}")
    for email in (EMAIL, "nobody@acme.test"):
        for cookie in (None, evils, mine.replace(".", "x", 1)):
            before = table.email_reads
            assert site.login(email, PASSWORD, cookie).status_code == 429
            assert table.email_reads == before  # refused before any lookup of the email
    before = table.email_reads
    assert site.login(EMAIL, PASSWORD, mine).status_code == 200
    assert table.email_reads == before + 2  # whose the email is (the guard), then the sign-in's own lookup
