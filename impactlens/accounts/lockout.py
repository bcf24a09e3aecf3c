"""Sign-in lockout per account that cannot be used to lock the real user out (OWASP's "device
cookies", https://owasp.org/www-community/Slow_Down_Online_Guessing_Attacks_with_Device_Cookies).

Per-address throttling (api/throttle.py) does not slow a guesser who spreads one account's
guesses over many addresses, so failed sign-ins are also counted per account, in the table
(``SlidingWindowCounter``: every API container sees one count, SQLite and DynamoDB alike).
Locking the account on that count alone would let anyone lock any user out, so:

- A browser that signs in gets a device cookie naming that account: a token signed with a
  server key (HMAC-SHA256) carrying a keyed hash of the account, a keyed hash of the user who
  signed in (organisation and user id, random and made with the user), a random id and an expiry.
- The token is trusted only while the email still belongs to that user: an email given to a
  new user after the old one was deleted is a new account to the old user's browsers. Whose the
  email is now is read (one item: the email's guard) only when the cookie holds a validly signed
  token for the email typed in, so a client that never signed in to it (any guesser of unknown
  emails) meets exactly the same work and answers as before.
- An attempt presenting a valid token for the email typed in is counted against that token
  only (a small budget of its own): the account's lockout does not reach the real user's
  browsers. A token over its budget (or stolen and spent) falls back to the account's count.
- Every other attempt counts against the account's budget for untrusted clients; over it,
  they are refused (429 with Retry-After) before any password is checked.
- The account is named by a keyed hash of the normalised email whether or not a user has it:
  an unknown email is counted, refused and answered exactly like a known one.
- An attempt is reserved before the password check and given back when the password was right
  or never checked (busy), so concurrent guesses cannot overshoot the budget.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..db.ratelimit import Reservation, SlidingWindowCounter
from ..db.table import NOT_EXISTS, ConditionFailedError, Table
from .refusal_log import RefusalLog

log = logging.getLogger("impactlens.accounts")

DEVICE_COOKIE = "impactlens_device"
MAX_DEVICE_TOKENS = 4  # accounts one browser keeps trusted (a shared computer); newest first
PRIORITY_PER_WINDOW = 20  # trusted sign-ins per account per window that may use the kept slot
SECRET_PK, SECRET_SK = "SECRET#login-device", "SECRET"  # noqa: S105 - item keys, not secrets


class SignInLocked(Exception):
    """Too many failed sign-ins for this account (from this kind of client): wait ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many failed sign-ins for this account")
        self.retry_after_s = retry_after_s


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def normalise_email(email: str) -> str:
    """As the repository looks a user up (``user_by_email``), so no spelling escapes the count."""
    return email.strip().lower()


@dataclass
class Attempt:
    """A sign-in counted before its password check; ``release`` gives it back."""

    counter: SlidingWindowCounter
    reservation: Reservation
    account: str
    trusted: bool
    # May use the password slot kept for trusted browsers: trusted, and the account has not
    # spent its PRIORITY_PER_WINDOW uses (a user's own browser could otherwise be used to
    # hold that slot with right passwords, which are never counted as failures).
    priority: bool = False

    def release(self) -> None:
        self.counter.release(self.reservation)


class LoginGuard:
    def __init__(
        self,
        table: Table,
        window_s: float = 900.0,
        account_failures: int = 10,
        device_failures: int = 5,
        device_ttl_s: float = 90 * 86400.0,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.window_s, self.device_ttl_s = window_s, device_ttl_s
        self.account_failures, self.device_failures = account_failures, device_failures
        self.clock = clock
        self.priority_per_window = PRIORITY_PER_WINDOW
        self.counter = SlidingWindowCounter(table, lambda: self.clock())
        self._secret = secret
        # Sign-in refusals (per account here, per address in api/routes/accounts.py): a spray is
        # refused thousands of times a second, so not one warning line each.
        self.refusals = RefusalLog(log, "sign-in refused", clock=lambda: self.clock())

    @classmethod
    def from_settings(cls, table: Table, settings: Any, clock: Callable[[], float] = time.time) -> LoginGuard:
        secret = settings.login_device_secret
        return cls(
            table,
            settings.login_window_s,
            settings.login_account_failures,
            settings.login_device_failures,
            settings.login_device_ttl_days * 86400.0,
            secret.get_secret_value().encode() if secret else None,
            clock,
        )

    def _key(self) -> bytes:
        """The signing key: configured, or made once and kept in the table for every container."""
        if self._secret is None:
            item = self.table.get(SECRET_PK, SECRET_SK)
            if item is None:
                try:
                    self.table.put({"PK": SECRET_PK, "SK": SECRET_SK, "key": secrets.token_hex(32)}, NOT_EXISTS)
                except ConditionFailedError:
                    pass  # another container made it first: use theirs
                item = self.table.get(SECRET_PK, SECRET_SK)
            assert item is not None
            self._secret = bytes.fromhex(str(item["key"]))
        return self._secret

    def _mac(self, purpose: bytes, message: str) -> bytes:
        return hmac.new(self._key(), purpose + b"\x00" + message.encode(), hashlib.sha256).digest()

    def account(self, email: str) -> str:
        """The name the account is counted under: no email in the table, in cookies or in logs."""
        return _b64(self._mac(b"account", normalise_email(email))[:16])

    def holder(self, org: str, user: str) -> str:
        """The user a device token is bound to (a keyed hash: no ids in the cookie)."""
        return _b64(self._mac(b"holder", f"{org}/{user}")[:12])

    def current_holder(self, email: str) -> str | None:
        """Who has the email now: its guard item (db/repo_accounts.py create_user), one read."""
        guard = self.table.get(f"EMAIL#{normalise_email(email)}", "EMAIL")
        return None if guard is None else self.holder(str(guard["org"]), str(guard["user"]))

    # Device cookies ------------------------------------------------------------------------
    def _tokens(self, cookie: str | None) -> list[tuple[str, str, str]]:
        """The (account, holder, id) of each valid, unexpired token in the cookie. Tokens of the
        earlier 4-part form (bound to the email only) are no longer valid: signing in once more
        gives the browser a bound one."""
        found = []
        now = self.clock()
        for token in (cookie or "").split("~")[: MAX_DEVICE_TOKENS * 2]:
            parts = token.split(".")
            if len(parts) != 5 or not token.isascii() or not parts[3].isdigit():
                continue  # compare_digest refuses non-ASCII text (a TypeError, not a mismatch)
            account, holder, nonce, expires, sig = parts
            good = _b64(self._mac(b"device", f"{account}.{holder}.{nonce}.{expires}"))
            if hmac.compare_digest(good, sig) and int(expires) > now:
                found.append((account, holder, nonce))
        return found

    def trusted_device(
        self, cookie: str | None, account: str, holder: str | Callable[[], str | None] | None
    ) -> str | None:
        """A key for the cookie's token for ``account`` issued to ``holder`` (the email's user now;
        a callable is asked only when the cookie has a token for the account), or None. The key
        is a hash: the token itself is not stored."""
        mine = [(h, nonce) for acct, h, nonce in self._tokens(cookie) if hmac.compare_digest(acct, account)]
        if not mine:
            return None
        current = holder() if callable(holder) else holder
        for h, nonce in mine:
            if current is not None and hmac.compare_digest(h, current):
                return hashlib.sha256(nonce.encode()).hexdigest()[:32]
        return None

    def device_cookie(self, cookie: str | None, account: str, holder: str) -> str:
        """The cookie after a successful sign-in by ``holder``: a fresh token for ``account``
        first, then the browser's other valid ones (its other accounts), at most ``MAX_DEVICE_TOKENS``."""
        expires = int(self.clock() + self.device_ttl_s)
        body = f"{account}.{holder}.{_b64(secrets.token_bytes(16))}.{expires}"
        tokens = [f"{body}.{_b64(self._mac(b'device', body))}"]
        seen = {account}
        for token in (cookie or "").split("~")[: MAX_DEVICE_TOKENS * 2]:
            valid = self._tokens(token)
            if valid and valid[0][0] not in seen and len(tokens) < MAX_DEVICE_TOKENS:
                seen.add(valid[0][0])
                tokens.append(token)
        return "~".join(tokens)

    # Counting ------------------------------------------------------------------------------
    def begin(self, email: str, cookie: str | None) -> Attempt:
        """Counts a sign-in attempt before its password check, or raises SignInLocked."""
        account = self.account(email)
        device = self.trusted_device(cookie, account, lambda: self.current_holder(email))
        waits = []
        if device:
            reserved, wait = self.counter.reserve(f"login:device:{device}", self.device_failures, self.window_s)
            if reserved:
                priority, _ = self.counter.reserve(f"login:priority:{account}", self.priority_per_window, self.window_s)
                return Attempt(self.counter, reserved, account, True, priority is not None)
            waits.append(wait)  # this browser spent its own budget: counted as any other client
        reserved, wait = self.counter.reserve(f"login:account:{account}", self.account_failures, self.window_s)
        if reserved:
            return Attempt(self.counter, reserved, account, False)
        waits.append(wait)
        self.refusals.refused(f"account {account}", f"over its failure budget; device cookie: {bool(device)}")
        raise SignInLocked(min(waits))
