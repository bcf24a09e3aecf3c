"""A sign-in flood cannot keep the real user out with 503s: a few addresses sending sign-ins
for random emails hold every password slot (argon2id, accounts/security.py), but one slot is
kept for browsers this account signed in on before (device cookies, accounts/lockout.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from impactlens.accounts.security import PASSWORD_SLOTS, password_slot
from impactlens.api.routes.accounts import login_guard
from tests.abuse.test_login_lockout import EMAIL, Site, device_of
from tests.api_support import PASSWORD


@pytest.fixture
def site(table: Any, tmp_path: Path) -> Site:
    return Site(table, tmp_path)


@contextlib.contextmanager
def flooded() -> Any:
    """Every ordinary password slot taken, as by sign-ins in progress from a flood."""
    with contextlib.ExitStack() as held:
        for _ in range(PASSWORD_SLOTS):
            held.enter_context(password_slot(0))
        yield


def test_a_browser_that_signed_in_before_still_signs_in_while_a_flood_holds_every_slot(site: Site) -> None:
    device = device_of(site.login(EMAIL, PASSWORD))
    with flooded():
        stranger = site.login(EMAIL, PASSWORD)
        mine = site.login(EMAIL, PASSWORD, device)
        wrong = site.login(EMAIL, "wrong password", device)
    assert stranger.status_code == 503 and stranger.json()["error"]["code"] == "busy"
    assert mine.status_code == 200 and mine.json()["org"] == "acme"
    assert wrong.status_code == 401  # checked, not refused: the kept slot serves failures too


def test_the_kept_slot_is_one_slot(site: Site) -> None:
    device = device_of(site.login(EMAIL, PASSWORD))
    with flooded(), password_slot(0, priority=True):  # a trusted sign-in already in the kept slot
        assert site.login(EMAIL, PASSWORD, device).status_code == 503


def test_an_account_uses_the_kept_slot_a_bounded_number_of_times_per_window(site: Site) -> None:
    """Right passwords are never counted as failures, so an insider's own browser could hold the
    kept slot with endless right sign-ins; past its allowance it waits like everyone else."""
    login_guard(site.app).priority_per_window = 2
    device = device_of(site.login(EMAIL, PASSWORD))
    with flooded():
        codes = [site.login(EMAIL, PASSWORD, device).status_code for _ in range(3)]
    assert codes == [200, 200, 503]
    site.clock.t += 2 * 900.0  # the allowance comes back with the window
    with flooded():
        assert site.login(EMAIL, PASSWORD, device).status_code == 200
