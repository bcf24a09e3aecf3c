"""Secrets: passwords are hashed with argon2id; API keys and session tokens are 256-bit random
secrets stored as SHA-256 (a slow hash adds nothing to a secret that cannot be guessed, and
they are checked on every request)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
KEY_PREFIX = "il"
MIN_PASSWORD = 10

# Each argon2id hash or check holds 64 MiB and a core for ~0.1-0.25 s, and sign-ins need no
# credential: unbounded, 80 logins at once from 8 addresses took the server from 0.1 to
# 1.9 GB and stalled every other request for 24 s. At most this many run at once; a request
# that cannot get a slot within PASSWORD_WAIT_S is refused (busy) rather than queued, so
# waiting sign-ins do not tie up the request threads either.
PASSWORD_SLOTS = 2
PASSWORD_WAIT_S = 1.0
_password_slots = threading.BoundedSemaphore(PASSWORD_SLOTS)
# A few addresses sending sign-ins for random emails keep both slots taken, so everyone gets
# 503. One more slot is kept for sign-ins from a browser this account signed in on before
# (a device cookie, accounts/lockout.py), which such a flood cannot present.
PRIORITY_SLOTS = 1
_priority_slots = threading.BoundedSemaphore(PRIORITY_SLOTS)


class PasswordChecksBusyError(Exception):
    """Every password slot stayed taken: the caller should retry shortly (503 busy)."""


def _acquire(wait_s: float, priority: bool) -> threading.BoundedSemaphore:
    if not priority:
        if _password_slots.acquire(timeout=wait_s):
            return _password_slots
        raise PasswordChecksBusyError("too many sign-ins are being checked; retry in a few seconds")
    deadline = time.monotonic() + wait_s
    while True:  # whichever frees first: a semaphore cannot wait on two at once
        for slots in (_password_slots, _priority_slots):
            if slots.acquire(blocking=False):
                return slots
        left = deadline - time.monotonic()
        if left <= 0:
            raise PasswordChecksBusyError("too many sign-ins are being checked; retry in a few seconds")
        time.sleep(min(0.01, left))


@contextmanager
def password_slot(wait_s: float = PASSWORD_WAIT_S, priority: bool = False) -> Iterator[None]:
    """A slot to hash or check a password in; ``priority`` may also take the kept slot."""
    slots = _acquire(wait_s, priority)
    try:
        yield
    finally:
        slots.release()


def hash_password(password: str) -> str:
    with password_slot():
        return _hasher.hash(password)


def verify_password(stored: str, password: str, priority: bool = False) -> bool:
    try:
        with password_slot(priority=priority):
            return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A fixed hash to verify against when the email is unknown, so timing does not reveal it.
DUMMY_HASH = _hasher.hash("impactlens-no-such-user")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """(key id, full key shown once, hash to store). The key reads il_<id>_<secret>."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    full = f"{KEY_PREFIX}_{key_id}_{secret}"
    return key_id, full, hash_secret(full)


def parse_api_key(full: str) -> str | None:
    """The key id inside a presented key, or None when it is not shaped like one."""
    parts = full.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 16:
        return None
    return parts[1]


def secret_matches(stored_hash: str, presented: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_secret(presented))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """Webhook signature header value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
