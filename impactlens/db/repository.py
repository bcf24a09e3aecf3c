"""The data model on the single table. Every access pattern is a key lookup or a key range:

| access pattern                              | how                                                        |
|---------------------------------------------|------------------------------------------------------------|
| organisation by id                          | get ORG#o / ORG#o                                          |
| a client's users                            | query ORG#o, SK begins_with USER#                          |
| user by email (login)                       | get EMAIL#e / EMAIL (guard item, also keeps emails unique) |
| API key by id (auth)                        | get APIKEY#k / APIKEY (holds org + hash only)              |
| a client's API keys                         | query ORG#o, SK begins_with APIKEY#                        |
| a client's brands                           | query ORG#o, SK begins_with BRAND#                         |
| a brand's campaigns                         | query ORG#o, SK begins_with CAMPAIGN#b#                    |
| asset by id (checked against the caller)    | get ASSET#a / METADATA                                     |
| asset with its results and segments         | query ASSET#a (all sort keys, one request)                 |
| a client's assets in a brand / campaign     | GSI1 query ORG#o, begins_with BRAND#b#[CAMPAIGN#c#], newest 1st |
| aggregates of org, brand, campaign          | get ORG#o / AGG#...  (see aggregates.py)                   |
| queued jobs, oldest first                   | GSI1 query JOBQ#queued                                     |
| monthly usage                               | get ORG#o / USAGE#yyyy-mm, atomic ADD                      |

Campaigns live at ``CAMPAIGN#<b>#<c>`` rather than DESIGN.md's ``BRAND#<b>#CAMPAIGN#<c>`` so
that "a client's brands" is a pure key range that does not also return every campaign.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from ulid import ULID

from .table import (
    EXISTS,
    NOT_EXISTS,
    Check,
    Condition,
    ConditionFailedError,
    Delete,
    Item,
    KeyRange,
    Page,
    Put,
    Table,
    Update,
)

ROLES = ("Admin", "Member")
PLANS = ("free", "pro", "enterprise")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


_ulid_lock = threading.Lock()
_last_ulid = 0


def new_ulid() -> str:
    """A ULID that is strictly greater than the previous one from this process, so assets
    created within the same millisecond still list in creation order."""
    global _last_ulid
    with _ulid_lock:
        value = max(int(ULID()), _last_ulid + 1)
        _last_ulid = value
        return str(ULID.from_int(value))


class NotFoundError(LookupError):
    code = "not_found"


class ConflictError(ValueError):
    code = "conflict"


class LastAdminError(ConflictError):
    """Demoting (or removing) the only Admin would lock the organisation out of its settings."""


class QuotaExceededError(ConflictError):
    code = "quota_exceeded"


def check_id(value: str, what: str) -> str:
    """Ids are slugs: they appear inside keys, so '#' and friends are never allowed."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValueError(f"invalid {what} id {value!r}: lowercase letters, digits, '-' and '_' only")
    return value


def best_aoi(analysis: Any) -> dict[str, Any] | None:
    """The AOI with the largest attention share (whole video for videos) in a stored analysis."""
    try:
        data = json.loads(analysis) if isinstance(analysis, str) else (analysis or {})
        shares = [(a["share"] if "share" in a else a["whole"], str(a["name"])) for a in data.get("attention", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not shares:
        return None
    share, name = max(shares)
    return {"name": name, "share": float(share)}


def _public(item: Item | None) -> Item | None:
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("PK", "SK", "GSI1PK", "GSI1SK")}


class Repository:
    def __init__(self, table: Table, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock

    # Organisations, users, API keys -------------------------------------------------------
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
        return _public(item) or {}

    def get_org(self, org: str) -> Item | None:
        return _public(self.table.get(f"ORG#{org}", f"ORG#{org}"))

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
        return _public(item) or {}

    def user_by_email(self, email: str) -> Item | None:
        guard = self.table.get(f"EMAIL#{email.strip().lower()}", "EMAIL")
        return None if guard is None else self.get_user(guard["org"], guard["user"])

    def get_user(self, org: str, user: str) -> Item | None:
        return _public(self.table.get(f"ORG#{org}", f"USER#{user}"))

    def list_users(self, org: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with="USER#"), limit=limit, cursor=cursor)
        return Page([_public(i) or {} for i in page.items], page.cursor)

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
        return _public(listed) or {}

    def api_key(self, key_id: str) -> Item | None:
        return _public(self.table.get(f"APIKEY#{key_id}", "APIKEY"))

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

    # Brands, campaigns ---------------------------------------------------------------------
    def create_brand(self, org: str, brand: str, name: str) -> Item:
        item = {"PK": f"ORG#{org}", "SK": f"BRAND#{check_id(brand, 'brand')}", "brand": brand, "name": name}
        try:
            self.table.put(item, NOT_EXISTS)
        except ConditionFailedError as exc:
            raise ConflictError(f"brand {brand} exists") from exc
        return _public(item) or {}

    def list_brands(self, org: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with="BRAND#"), limit=limit, cursor=cursor)
        return Page([_public(i) or {} for i in page.items], page.cursor)

    def create_campaign(self, org: str, brand: str, campaign: str, name: str) -> Item:
        sk = f"CAMPAIGN#{brand}#{check_id(campaign, 'campaign')}"
        item = {"PK": f"ORG#{org}", "SK": sk, "brand": brand, "campaign": campaign, "name": name}
        try:
            self.table.transact(
                [
                    Check(f"ORG#{org}", f"BRAND#{brand}", EXISTS),
                    Put(item, NOT_EXISTS),
                ]
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"campaign {campaign} exists or brand {brand} does not") from exc
        return _public(item) or {}

    def list_api_keys(self, org: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with="APIKEY#"), limit=limit, cursor=cursor)
        return Page([_public(i) or {} for i in page.items], page.cursor)

    def get_campaign(self, org: str, brand: str, campaign: str) -> Item | None:
        return _public(self.table.get(f"ORG#{org}", f"CAMPAIGN#{brand}#{campaign}"))

    def get_brand(self, org: str, brand: str) -> Item | None:
        return _public(self.table.get(f"ORG#{org}", f"BRAND#{brand}"))

    def list_campaigns(self, org: str, brand: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with=f"CAMPAIGN#{brand}#"), limit=limit, cursor=cursor)
        return Page([_public(i) or {} for i in page.items], page.cursor)

    # Assets, results, segments ---------------------------------------------------------------
    @staticmethod
    def _gsi1sk(brand: str, campaign: str, asset: str) -> str:
        return f"BRAND#{brand}#CAMPAIGN#{campaign}#ASSET#{asset}"

    def create_asset(
        self, org: str, brand: str, campaign: str, kind: str, fence: Check | None = None, **attrs: Any
    ) -> Item:
        """A new asset (a new ULID). ``fence``: a check that must hold in the same transaction
        (the caller still holds its Idempotency-Key); ConflictError when it does not. The same
        transaction records the new asset's id on the fence's item as ``created_asset``, so a
        retry can answer with it should this request stop before recording its response."""
        asset = new_ulid()
        item = {
            "PK": f"ASSET#{asset}",
            "SK": "METADATA",
            "GSI1PK": f"ORG#{org}",
            "GSI1SK": self._gsi1sk(brand, campaign, asset),
            "asset": asset,
            "org": org,
            "brand": brand,
            "campaign": campaign,
            "kind": kind,
            "status": "created",
            "created_at": self.clock(),
            **attrs,
        }
        ops: list[Check | Put | Update] = [
            Check(f"ORG#{org}", f"CAMPAIGN#{brand}#{campaign}", EXISTS),
            Put(item, NOT_EXISTS),
        ]
        if fence is not None:
            ops.append(Update(fence.pk, fence.sk, set={"created_asset": asset}, condition=fence.condition))
        try:
            self.table.transact(ops)
        except ConditionFailedError as exc:
            if fence is not None and not fence.condition.holds(self.table.get(fence.pk, fence.sk)):
                raise ConflictError("the request's hold on its Idempotency-Key ended") from exc
            raise NotFoundError(f"no campaign {brand}/{campaign}") from exc
        return _public(item) or {}

    def get_asset(self, org: str, asset: str) -> Item | None:
        """None for a missing asset and for another organisation's asset alike."""
        item = self.table.get(f"ASSET#{asset}", "METADATA")
        return _public(item) if item is not None and item.get("org") == org else None

    def asset_with_details(self, org: str, asset: str) -> Item | None:
        items = self.table.query(f"ASSET#{asset}", limit=1000).items
        meta = next((i for i in items if i["SK"] == "METADATA"), None)
        if meta is None or meta.get("org") != org:
            return None
        out = _public(meta) or {}
        out["results"] = {i["SK"][len("RESULT#") :]: _public(i) for i in items if i["SK"].startswith("RESULT#")}
        out["segments"] = [_public(i) for i in items if i["SK"].startswith("SEGMENT#")]
        return out

    def list_assets(
        self,
        org: str,
        brand: str | None = None,
        campaign: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        prefix = "BRAND#" if brand is None else f"BRAND#{brand}#" + (f"CAMPAIGN#{campaign}#" if campaign else "")
        page = self.table.query(
            f"ORG#{org}", KeyRange(begins_with=prefix), index="GSI1", limit=limit, cursor=cursor, newest_first=True
        )
        return Page([_public(i) or {} for i in page.items], page.cursor)

    def set_scores(self, org: str, asset: str, scores: dict[str, float], status: str = "done") -> Item:
        try:
            new = self.table.update(
                f"ASSET#{asset}",
                "METADATA",
                set={"scores": scores, "status": status},
                condition=Condition(exists=True, equals={"org": org}),
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no asset {asset}") from exc
        return _public(new) or {}

    def update_asset(self, org: str, asset: str, set: dict[str, Any], remove: list[str] | None = None) -> Item:
        """Set attributes of an asset of ``org`` (NotFoundError for a missing or foreign one)."""
        try:
            new = self.table.update(
                f"ASSET#{asset}",
                "METADATA",
                set=set,
                remove=remove or [],
                condition=Condition(exists=True, equals={"org": org}),
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no asset {asset}") from exc
        return _public(new) or {}

    def update_asset_while_absent(
        self, org: str, asset: str, set: dict[str, Any], absent: tuple[str, ...]
    ) -> Item | None:
        """Like update_asset, but only while none of ``absent`` is on the asset: None (nothing
        written) once one is. NotFoundError for a missing or foreign asset."""
        try:
            new = self.table.update(
                f"ASSET#{asset}",
                "METADATA",
                set=set,
                condition=Condition(exists=True, equals={"org": org}, absent=absent),
            )
        except ConditionFailedError as exc:
            if self.get_asset(org, asset) is None:
                raise NotFoundError(f"no asset {asset}") from exc
            return None
        return _public(new) or {}

    def get_result(self, org: str, asset: str, model_version: str) -> Item | None:
        if self.get_asset(org, asset) is None:
            return None
        return _public(self.table.get(f"ASSET#{asset}", f"RESULT#{model_version}"))

    def put_result(
        self,
        org: str,
        asset: str,
        model_version: str,
        result: dict[str, Any],
        asset_set: dict[str, Any] | None = None,
        *,
        expect_aois: list[Any] | None = None,
    ) -> None:
        """The result, and on the asset its best AOI share and `asset_set` (the AOIs the shares
        are for), in one transaction: two writers each leave both or neither, never one's
        result beside the other's AOIs. With ``expect_aois``, only while the asset's AOIs are
        still exactly those (a compare-and-set): ConflictError, nothing written, once not."""
        # The dashboard's library shows each card's best AOI share: kept on the asset item so
        # a page of cards is one key-range query, not one result read per card.
        best = best_aoi(result.get("analysis"))
        changes = {**({"best_aoi": best} if best else {}), **(asset_set or {})}
        expected = {"aois": expect_aois} if expect_aois is not None else {}
        owned = Condition(exists=True, equals={"org": org, **expected})
        try:
            self.table.transact(
                [
                    Put({"PK": f"ASSET#{asset}", "SK": f"RESULT#{model_version}", **result}),
                    Update(
                        f"ASSET#{asset}", "METADATA", set=changes, remove=[] if best else ["best_aoi"], condition=owned
                    ),
                ]
            )
        except ConditionFailedError as exc:
            if expect_aois is not None and self.get_asset(org, asset) is not None:
                raise ConflictError(f"the AOIs of asset {asset} changed meanwhile") from exc
            raise NotFoundError(f"no asset {asset}") from exc

    def put_segment(self, org: str, asset: str, start_ms: int, values: dict[str, Any]) -> None:
        if self.get_asset(org, asset) is None:
            raise NotFoundError(f"no asset {asset}")
        self.table.put({"PK": f"ASSET#{asset}", "SK": f"SEGMENT#{start_ms:010d}", "start_ms": start_ms, **values})

    def move_asset(self, org: str, asset: str, brand: str, campaign: str, to_org: str | None = None) -> Item:
        target = to_org or org
        current = self.get_asset(org, asset)
        if current is None:
            raise NotFoundError(f"no asset {asset}")
        try:
            self.table.transact(
                [
                    Check(f"ORG#{target}", f"CAMPAIGN#{brand}#{campaign}", EXISTS),
                    Update(
                        f"ASSET#{asset}",
                        "METADATA",
                        set={
                            "org": target,
                            "brand": brand,
                            "campaign": campaign,
                            "GSI1PK": f"ORG#{target}",
                            "GSI1SK": self._gsi1sk(brand, campaign, asset),
                        },
                        condition=Condition(exists=True, equals={"org": org}),
                    ),
                ]
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no campaign {brand}/{campaign} or asset {asset}") from exc
        return self.get_asset(target, asset) or {}

    def delete_asset(self, org: str, asset: str) -> Item:
        """Delete the asset and everything under it; returns the metadata (for blob cleanup)."""
        current = self.get_asset(org, asset)
        if current is None:
            raise NotFoundError(f"no asset {asset}")
        children = [i for i in self.table.query(f"ASSET#{asset}", limit=1000).items if i["SK"] != "METADATA"]
        for child in children:
            self.table.delete(child["PK"], child["SK"])
        # The metadata goes last, so a crash midway leaves a findable asset to delete again.
        self.table.delete(f"ASSET#{asset}", "METADATA", Condition(equals={"org": org}))
        # A running analysis writes a result or segment, then checks the metadata: one written
        # after the first sweep was seen by that check while the metadata still existed, so it
        # is here now.
        for child in self.table.query(f"ASSET#{asset}", limit=1000).items:
            self.table.delete(child["PK"], child["SK"])
        return current

    # Jobs ------------------------------------------------------------------------------------
    # A job's GSI1 partition is its state (JOBQ#queued, JOBQ#running...), sorted by ULID, so
    # "oldest queued job" and "running jobs" are key ranges; state changes are conditional
    # updates, so two workers can never claim the same job.
    def create_job(self, org: str, asset: str, kind: str, payload: dict[str, Any] | None = None) -> Item:
        item = self._job_item(org, asset, kind, payload)
        self.table.put(item, NOT_EXISTS)
        return _public(item) or {}

    def _job_item(self, org: str, asset: str, kind: str, payload: dict[str, Any] | None = None) -> Item:
        job = new_ulid()
        return {
            "PK": f"JOB#{job}",
            "SK": "JOB",
            "GSI1PK": "JOBQ#queued",
            "GSI1SK": job,
            "job": job,
            "org": org,
            "asset": asset,
            "kind": kind,
            "status": "queued",
            "attempts": 0,
            "payload": payload or {},
            "created_at": self.clock(),
        }

    def get_job(self, job: str) -> Item | None:
        return _public(self.table.get(f"JOB#{job}", "JOB"))

    def claim_job(self, worker: str, lease_s: float = 300.0) -> Item | None:
        """Move the oldest queued job to running for ``worker``; None if the queue is empty."""
        now = self.clock()
        for candidate in self.table.query("JOBQ#queued", index="GSI1", limit=25).items:
            if float(candidate.get("not_before", 0)) > now:
                continue  # waiting out a retry backoff
            try:
                new = self.table.update(
                    candidate["PK"],
                    "JOB",
                    set={
                        "status": "running",
                        "GSI1PK": "JOBQ#running",
                        "worker": worker,
                        "lease_until": self.clock() + lease_s,
                    },
                    add={"attempts": 1},
                    condition=Condition(exists=True, equals={"status": "queued"}),
                )
            except ConditionFailedError:
                continue  # another worker took it
            return _public(new)
        return None

    def finish_job(self, job: str, worker: str, status: str, **attrs: Any) -> Item:
        """Mark a job this worker holds as done, failed (with ``error``) or queued again (retry)."""
        if status not in ("done", "failed", "queued"):
            raise ValueError(f"bad job status {status!r}")
        try:
            new = self.table.update(
                f"JOB#{job}",
                "JOB",
                set={"status": status, "GSI1PK": f"JOBQ#{status}", **attrs},
                remove=["worker", "lease_until"],
                condition=Condition(exists=True, equals={"status": "running", "worker": worker}),
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"job {job} is not held by {worker}") from exc
        return _public(new) or {}

    def renew_lease(self, job: str, worker: str, lease_s: float, **attrs: Any) -> Item:
        """Extends the lease (and records progress); ConflictError if the job was taken away."""
        try:
            new = self.table.update(
                f"JOB#{job}",
                "JOB",
                set={"lease_until": self.clock() + lease_s, **attrs},
                condition=Condition(exists=True, equals={"status": "running", "worker": worker}),
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"job {job} is not held by {worker}") from exc
        return _public(new) or {}

    def hand_over_job(self, job: str, worker: str, to: str, lease_s: float, **attrs: Any) -> Item:
        """Gives a running job this worker holds to another holder (a state machine execution)
        with a lease as long as that holder may take; ConflictError if the job was taken away."""
        try:
            new = self.table.update(
                f"JOB#{job}",
                "JOB",
                set={"worker": to, "lease_until": self.clock() + lease_s, **attrs},
                condition=Condition(exists=True, equals={"status": "running", "worker": worker}),
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"job {job} is not held by {worker}") from exc
        return _public(new) or {}

    def requeue_expired(self, max_attempts: int | None = None, on_failed: Callable[[Item], None] | None = None) -> int:
        """Jobs whose worker died (lease over) go back to the queue; returns how many.

        A job that already had ``max_attempts`` (its worker killed each time: a timeout, the
        OOM killer) fails instead, with its asset, rather than rerunning forever;
        ``on_failed`` gets each such job.
        """
        count = 0
        for job in self.table.query("JOBQ#running", index="GSI1", limit=100).items:
            if job.get("lease_until", 0) >= self.clock():
                continue
            held = Condition(equals={"status": "running", "worker": job["worker"]})
            attempts = int(job.get("attempts", 0))
            try:
                if max_attempts is not None and attempts >= max_attempts:
                    error = {
                        "code": "worker_lost",
                        "message": f"failed after {attempts} attempts: the worker stopped (killed, out of memory "
                        "or out of time) before finishing",
                    }
                    self.table.update(
                        job["PK"],
                        "JOB",
                        set={"status": "failed", "GSI1PK": "JOBQ#failed", "error": error},
                        remove=["worker", "lease_until"],
                        condition=held,
                    )
                    try:
                        failed = {"status": "failed", "error": error, "job": job["job"]}
                        self.update_asset(job["org"], job["asset"], failed)
                    except NotFoundError:
                        pass  # deleted meanwhile
                    if on_failed is not None:
                        on_failed({**(_public(job) or {}), "error": error})
                else:
                    self.table.update(
                        job["PK"],
                        "JOB",
                        set={"status": "queued", "GSI1PK": "JOBQ#queued"},
                        remove=["worker", "lease_until"],
                        condition=held,
                    )
                    count += 1
            except ConditionFailedError:
                pass
        return count

    # Usage -----------------------------------------------------------------------------------
    def accept_upload(
        self, org: str, asset: str, expected_status: str, attrs: dict[str, Any], month: str, limit: int | None
    ) -> Item:
        """One transaction: the asset takes ``attrs`` (its new source among them) if it is still
        ``expected_status``, its analysis job is queued, and the month's usage goes up by one
        if it is below ``limit``. ConflictError when the asset changed meanwhile,
        QuotaExceededError when the quota is used up; either way nothing is written."""
        job = self._job_item(org, asset, "analyse")
        usage_key = (f"ORG#{org}", f"USAGE#{month}")
        try:
            self.table.transact(
                [
                    Update(
                        f"ASSET#{asset}",
                        "METADATA",
                        set=attrs,
                        remove=["error", "scores", "result_version"],
                        condition=Condition(exists=True, equals={"org": org, "status": expected_status}),
                    ),
                    Put(job, NOT_EXISTS),
                    Update(
                        *usage_key,
                        add={"analyses": 1},
                        condition=Condition(less_than={"analyses": limit}) if limit is not None else None,
                    ),
                ]
            )
        except ConditionFailedError as exc:
            used = int((self.table.get(*usage_key) or {}).get("analyses", 0))
            if limit is not None and used >= limit:
                raise QuotaExceededError(f"the {limit} analyses of {month} are used") from exc
            raise ConflictError(f"asset {asset} is no longer {expected_status}") from exc
        return _public(job) or {}

    def add_usage(self, org: str, month: str, analyses: int = 1) -> int:
        item = self.table.update(f"ORG#{org}", f"USAGE#{month}", add={"analyses": analyses})
        return int(item["analyses"])
