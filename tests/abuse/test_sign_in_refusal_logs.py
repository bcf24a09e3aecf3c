"""Sign-in refusals are logged a line per account or address per window, then counted
(accounts/refusal_log.py): a spray refused thousands of times a second is not thousands of
warning lines, and no line names an email or a password."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from impactlens.accounts.refusal_log import MAX_LINES, RefusalLog
from tests.abuse.test_login_lockout import ACCOUNT_BUDGET, EMAIL, Clock, Site

log = logging.getLogger("tests.refusals")


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_one_key_refused_a_thousand_times_is_one_line_then_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(100.0)
    refusals = RefusalLog(log, "refused", window_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, "tests.refusals"):
        for _ in range(1000):
            refusals.refused("address 192.0.2.1", "too fast")
        assert lines(caplog, "refused") == [
            "refused: address 192.0.2.1 (too fast) "
            "(more of its refusals in this 60 s window are counted, then summarised)"
        ]
        clock.t += 61
        refusals.refused("address 192.0.2.1")
    out = lines(caplog, "refused")
    assert len(out) == 3 and "999 more refusals" in out[1] and out[2].startswith("refused: address 192.0.2.1")


def test_many_keys_are_at_most_max_lines_a_window(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(100.0)
    refusals = RefusalLog(log, "refused", window_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, "tests.refusals"):
        for n in range(500):
            refusals.refused(f"account a{n}")
        assert len(lines(caplog, "refused")) == MAX_LINES
        clock.t += 60
        refusals.refused("account a0")  # a new window: a line again, after the summary
    out = lines(caplog, "refused")
    assert len(out) == MAX_LINES + 2 and f"{500 - MAX_LINES} more refusals" in out[-2]
    assert out[-1].startswith("refused: account a0")


def test_a_sign_in_spray_logs_one_line_per_account_and_per_address(
    table: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = Site(table, tmp_path, login_account_failures=ACCOUNT_BUDGET)
    with caplog.at_level(logging.WARNING, "impactlens.accounts"):
        codes = [site.login(EMAIL, f"secret guess {n}").status_code for n in range(60)]  # 60 addresses
        one = site.client(ip="203.0.113.9")
        body = {"email": "x@y.test", "password": "p"}
        codes += [one.post("/v1/auth/login", json=body).status_code for _ in range(40)]
    assert codes.count(401) == 2 * ACCOUNT_BUDGET  # each email's budget; the rest refused (429)
    assert codes.count(429) == 100 - 2 * ACCOUNT_BUDGET
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("impactlens")]
    account = site.app.state.login_guard.account(EMAIL)
    assert [m for m in messages if "account" in m and account in m] == [
        f"sign-in refused: account {account} (over its failure budget; device cookie: False) "
        "(more of its refusals in this 60 s window are counted, then summarised)"
    ]
    assert len([m for m in messages if "address 203.0.113.9" in m]) == 1
    assert len(messages) == 3  # the two accounts and the one address
    assert not any("@" in m or "guess" in m or "acme" in m for m in messages)
