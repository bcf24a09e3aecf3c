"""Organisations, users, API keys and browser sessions on the single table."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..db.repository import NotFoundError, Repository
from ..db.table import NOT_EXISTS, Item, Table
from .plans import PLANS
from .security import (
    DUMMY_HASH,
    MIN_PASSWORD,
    hash_password,
    hash_secret,
    new_api_key,
    new_token,
    parse_api_key,
    secret_matches,
    verify_password,
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: always exactly one organisation."""

    org: str
    role: str  # Admin | Member
    kind: str  # session | key
    user: str | None = None
    key_id: str | None = None
    plan: str = "free"

    @property
    def is_admin(self) -> bool:
        return self.role == "Admin"


class AuthError(Exception):
    code = "unauthorized"


class AccountService:
    def __init__(self, repo: Repository, session_ttl_s: int = 12 * 3600, clock: Callable[[], float] = time.time):
        self.repo = repo
        self.table: Table = repo.table
        self.session_ttl_s = session_ttl_s
        self.clock = clock

    # Setup -------------------------------------------------------------------------------
    def create_org(self, org: str, name: str, plan: str = "free") -> Item:
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")
        item = self.repo.create_org(org, name, plan)
        # The operators' listing of organisations: one key range, no scan.
        self.table.put({"PK": "ORGS", "SK": f"ORG#{org}", "org": org, "name": name, "plan": plan})
        return item

    def list_orgs(self) -> list[Item]:
        from ..db.table import KeyRange, iterate

        return [
            {k: v for k, v in i.items() if k not in ("PK", "SK")}
            for i in iterate(self.table, "ORGS", KeyRange(begins_with="ORG#"))
        ]

    def create_user(self, org: str, email: str, name: str, role: str, password: str) -> Item:
        if self.repo.get_org(org) is None:
            raise NotFoundError(f"no organisation {org}")
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
        if "@" not in email or len(email) > 254:
            raise ValueError("invalid email address")
        user = f"u{secrets.token_hex(6)}"
        item = self.repo.create_user(org, user, name, email, role, hash_password(password))
        return {k: v for k, v in item.items() if k != "password_hash"}

    def set_role(self, org: str, user: str, role: str) -> Item:
        """Their open sessions follow at once: a session reads its user's role on every request."""
        item = self.repo.set_user_role(org, user, role)
        return {k: v for k, v in item.items() if k != "password_hash"}

    def create_api_key(self, org: str, label: str = "", role: str = "Member") -> tuple[Item, str]:
        """Returns the stored record and the full key, which is never stored or shown again."""
        if self.repo.get_org(org) is None:
            raise NotFoundError(f"no organisation {org}")
        if role not in ("Admin", "Member"):
            raise ValueError("role must be Admin or Member")
        key_id, full, digest = new_api_key()
        return self.repo.create_api_key(org, key_id, digest, label, role), full

    # Authentication ------------------------------------------------------------------------
    def _principal(self, org: str, role: str, kind: str, **kw: Any) -> Principal:
        org_item = self.repo.get_org(org)
        if org_item is None:
            raise AuthError("the organisation no longer exists")
        return Principal(org=org, role=role, kind=kind, plan=str(org_item.get("plan", "free")), **kw)

    def authenticate_key(self, presented: str) -> Principal:
        key_id = parse_api_key(presented)
        record = self.table.get(f"APIKEY#{key_id}", "APIKEY") if key_id else None
        if record is None or not secret_matches(str(record.get("hash", "")), presented):
            raise AuthError("invalid or revoked API key")
        return self._principal(record["org"], str(record.get("role", "Member")), "key", key_id=key_id)

    def login(self, email: str, password: str, priority: bool = False) -> tuple[str, Principal]:
        """``priority``: from a browser trusted for this account, which may use the kept
        password slot (accounts/security.py)."""
        user = self.repo.user_by_email(email)
        ok = verify_password(str(user["password_hash"]) if user else DUMMY_HASH, password, priority)
        if user is None or not ok:
            raise AuthError("wrong email or password")
        token = new_token()
        expires = self.clock() + self.session_ttl_s
        self.table.put(
            {
                "PK": f"SESSION#{hash_secret(token)}",
                "SK": "SESSION",
                "org": user["org"],
                "user": user["user"],
                "expires_at": expires,
                "ttl": int(expires),
            },
            NOT_EXISTS,
        )
        return token, self._principal(user["org"], user["role"], "session", user=user["user"])

    def authenticate_session(self, token: str) -> Principal:
        record = self.table.get(f"SESSION#{hash_secret(token)}", "SESSION")
        if record is None or float(record["expires_at"]) < self.clock():
            raise AuthError("the session has expired; log in again")
        user = self.repo.get_user(record["org"], record["user"])
        if user is None:
            raise AuthError("the user no longer exists")
        return self._principal(record["org"], user["role"], "session", user=record["user"])

    def logout(self, token: str) -> None:
        self.table.delete(f"SESSION#{hash_secret(token)}", "SESSION")
