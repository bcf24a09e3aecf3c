"""Organisations, their users (roles, the last-Admin guard) and API keys."""

from __future__ import annotations

from .errors import ConflictError, LastAdminError, NotFoundError
from .ids import check_id
from .repo_base import RepositoryBase, public
from .table import EXISTS, NOT_EXISTS, Check, Condition, ConditionFailedError, Delete, Item, KeyRange, Page, Put, Update

ROLES = ("Admin", "Member")
PLANS = ("free", "pro", "enterprise")


class AccountsRepository(RepositoryBase):
    def create_org(self, org: str, name: str, plan: str = "free") -> Item:
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}")
        item = {
            "PK": f"ORG#{check_id(org, 'organisation')}",
            "SK": f"ORG#{org}",
            "org": org,
            "name": name,
            "plan": plan,
            "created_at": self.clock(),
        }
        try:
            self.table.put(item, NOT_EXISTS)
        except ConditionFailedError as exc:
            raise ConflictError(f"organisation {org} exists") from exc
        return public(item) or {}

    def get_org(self, org: str) -> Item | None:
        return public(self.table.get(f"ORG#{org}", f"ORG#{org}"))

    def create_user(self, org: str, user: str, name: str, email: str, role: str, password_hash: str) -> Item:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        email = email.strip().lower()
        item = {
            "PK": f"ORG#{org}",
            "SK": f"USER#{check_id(user, 'user')}",
            "org": org,
            "user": user,
            "name": name,
            "email": email,
            "role": role,
            "password_hash": password_hash,
            "created_at": self.clock(),
        }
        guard = {"PK": f"EMAIL#{email}", "SK": "EMAIL", "org": org, "user": user}
        try:
            self.table.transact([Put(item, NOT_EXISTS), Put(guard, NOT_EXISTS)])
        except ConditionFailedError as exc:
            raise ConflictError("a user with this id or email exists") from exc
        return public(item) or {}

    def user_by_email(self, email: str) -> Item | None:
        guard = self.table.get(f"EMAIL#{email.strip().lower()}", "EMAIL")
        return None if guard is None else self.get_user(guard["org"], guard["user"])

    def get_user(self, org: str, user: str) -> Item | None:
        return public(self.table.get(f"ORG#{org}", f"USER#{user}"))

    def list_users(self, org: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with="USER#"), limit=limit, cursor=cursor)
        return Page([public(i) or {} for i in page.items], page.cursor)

    def delete_user(self, org: str, user: str) -> None:
        """Removes the user and its email guard; another organisation's user is not found."""
        current = self.get_user(org, user)
        if current is None:
            raise NotFoundError(f"no user {user}")
        ops: list[Delete | Check] = [
            Delete(f"ORG#{org}", f"USER#{user}", EXISTS),
            Delete(f"EMAIL#{current['email']}", "EMAIL", Condition(exists=True, equals={"org": org})),
        ]
        if current.get("role") == "Admin":  # an Admin API key could otherwise remove the last one
            ops.append(self._another_admin(org, user))
        try:
            self.table.transact(ops)
        except ConditionFailedError as exc:
            if self.get_user(org, user) is None:
                raise NotFoundError(f"no user {user}") from exc
            raise ConflictError("the users changed meanwhile; reload and try again") from exc

    def _another_admin(self, org: str, user: str) -> Check:
        """A check, for the same transaction, that an Admin other than `user` still is one."""
        others = [u for u in self.list_users(org, limit=1000).items if u["role"] == "Admin" and u["user"] != user]
        if not others:
            raise LastAdminError("the organisation's last Admin cannot be removed or demoted")
        return Check(f"ORG#{org}", f"USER#{others[0]['user']}", Condition(exists=True, equals={"role": "Admin"}))

    def set_user_role(self, org: str, user: str, role: str) -> Item:
        """Changes a user's role. Demoting an Admin commits only while another Admin of the
        organisation still is one (checked in the same transaction), so two Admins demoting
        each other at once cannot leave the organisation without one."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        current = self.get_user(org, user)
        if current is None:
            raise NotFoundError(f"no user {user}")
        if current["role"] == role:
            return current
        same = Condition(exists=True, equals={"role": current["role"]})
        ops: list[Update | Check] = [Update(f"ORG#{org}", f"USER#{user}", set={"role": role}, condition=same)]
        if current["role"] == "Admin":
            ops.append(self._another_admin(org, user))
        try:
            self.table.transact(ops)
        except ConditionFailedError as exc:
            raise ConflictError("the users changed meanwhile; reload and try again") from exc
        return {**current, "role": role}

    def create_api_key(self, org: str, key_id: str, secret_hash: str, label: str = "", role: str = "Member") -> Item:
        """Only the hash of the secret is stored; the caller shows the secret once."""
        common = {"org": org, "key_id": key_id, "label": label, "role": role, "created_at": self.clock()}
        listed = {"PK": f"ORG#{org}", "SK": f"APIKEY#{key_id}", **common}
        lookup = {"PK": f"APIKEY#{key_id}", "SK": "APIKEY", "hash": secret_hash, **common}
        self.table.transact([Put(listed, NOT_EXISTS), Put(lookup, NOT_EXISTS)])
        return public(listed) or {}

    def api_key(self, key_id: str) -> Item | None:
        return public(self.table.get(f"APIKEY#{key_id}", "APIKEY"))

    def revoke_api_key(self, org: str, key_id: str) -> None:
        """Revoking a key of another organisation is indistinguishable from a missing key."""
        try:
            self.table.transact(
                [
                    Delete(f"APIKEY#{key_id}", "APIKEY", Condition(exists=True, equals={"org": org})),
                    Delete(f"ORG#{org}", f"APIKEY#{key_id}", EXISTS),
                ]
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no API key {key_id}") from exc

    def list_api_keys(self, org: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with="APIKEY#"), limit=limit, cursor=cursor)
        return Page([public(i) or {} for i in page.items], page.cursor)
