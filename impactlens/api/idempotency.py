"""Idempotency-Key on POSTs that create things: the same key and body replay the first
response; the same key with another body is refused (422); while the first is running, 409.

Each request that goes ahead holds the key's marker under a token of its own (a fence) and a
60-s lease that it renews every 15 s while it runs, so a slow request keeps its key however
long it takes, and a request that died frees it a minute later. Finishing and abandoning are
conditional on the token: a request that lost its lease (its process stalled past it and a
retry took the key over) can neither overwrite nor delete the retry's marker. A create whose
duplicate would go unnoticed (an asset: a new ULID each time) also checks the token inside
its own transaction (``Idempotent.fence``), so a stalled first request that wakes after a
retry took over creates nothing; that transaction also records the new asset's id in the
marker, so a request that stalls (or dies) after its create committed but before its response
was recorded is answered, once its lease is over, with the asset it created rather than by
creating a second one (``Created``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ..accounts import Principal
from ..accounts.security import hash_secret
from ..db.repository import ConflictError
from ..db.table import NOT_EXISTS, Check, Condition, ConditionFailedError, Table
from .errors import ApiError

log = logging.getLogger(__name__)
IN_PROGRESS = "a request with this Idempotency-Key is still in progress"
TAKEN_OVER = "this request outlasted its hold on the Idempotency-Key and a retry took it over; send the retry again"
DIFFERENT = "this Idempotency-Key was used for a different request"
GONE = "the asset created under this Idempotency-Key has been deleted since"


@dataclass(frozen=True)
class Created:
    """The request holding the key created ``asset`` and stopped (stalled or died) before
    recording its response; ``seen``: the marker as found (pending, that holder's lease over)."""

    asset: str
    seen: Condition


class LeasedIdempotencyStore:
    """Markers by (organisation, Idempotency-Key), kept 24 h, each held by one token."""

    TTL_S = 24 * 3600
    LEASE_S = 60.0  # a pending marker not renewed for this long belongs to a dead request
    RENEW_EVERY_S = LEASE_S / 4  # three renewals may fail (throttling) before the lease ends

    def __init__(
        self, table: Table, clock: Callable[[], float] = time.time, renew_every_s: float = RENEW_EVERY_S
    ) -> None:
        self.table = table
        self.clock = clock
        self.renew_every_s = renew_every_s

    def marker_key(self, org: str, key: str) -> tuple[str, str]:
        return f"IDEMP#{org}#{hash_secret(key)}", "IDEMP"

    def held(self, token: str) -> Condition:
        return Condition(exists=True, equals={"holder": token, "state": "pending"})

    def begin(self, org: str, key: str, fingerprint: str) -> str | tuple[int, Any] | Created:
        """A token: go ahead, holding the key. (status, body): replay this stored response.
        Created: answer with what the request that lost the key created (see ``settle``).
        ConflictError: another body (422) or a request holding the key now (409)."""
        pk, sk = self.marker_key(org, key)
        now = self.clock()
        token = secrets.token_hex(16)
        item = {
            "PK": pk,
            "SK": sk,
            "fingerprint": fingerprint,
            "state": "pending",
            "holder": token,
            "lease_until": now + self.LEASE_S,
            "expires_at": now + self.TTL_S,
            "ttl": int(now + self.TTL_S),
        }
        current = None
        try:
            self.table.put(item, NOT_EXISTS)
            return token
        except ConditionFailedError:
            current = self.table.get(pk, sk)
        if current is None:  # removed meanwhile
            return self._take_over(item, NOT_EXISTS, token)
        if float(current["expires_at"]) < now:
            seen = Condition(equals={"state": current["state"], "expires_at": current["expires_at"]})
            return self._take_over(item, seen, token)
        if current["state"] == "pending" and float(current.get("lease_until", 0)) < now:
            # Only if the lease is still over when the write lands: a renewal in between wins.
            # Of two retries, one takes the key over; the other sees the new holder's lease.
            same = {"holder": current["holder"]} if "holder" in current else {"expires_at": current["expires_at"]}
            expired = Condition(equals={"state": "pending", **same}, less_than={"lease_until": now})
            if current.get("created_asset"):  # it created before it stopped: no second one
                if current["fingerprint"] != fingerprint:
                    raise ConflictError(DIFFERENT)
                return Created(str(current["created_asset"]), expired)
            return self._take_over(item, expired, token)
        if current["fingerprint"] != fingerprint:
            raise ConflictError(DIFFERENT)
        if current["state"] == "pending":
            raise ConflictError(IN_PROGRESS)
        return int(str(current["status"])), json.loads(str(current["body"]))

    def _take_over(self, item: dict[str, Any], condition: Condition, token: str) -> str:
        try:
            self.table.put(item, condition)
        except ConditionFailedError as exc:
            raise ConflictError(IN_PROGRESS) from exc
        return token

    def renew(self, org: str, key: str, token: str) -> bool:
        """False when the token no longer holds the key (nothing written)."""
        try:
            self.table.update(
                *self.marker_key(org, key), set={"lease_until": self.clock() + self.LEASE_S}, condition=self.held(token)
            )
        except ConditionFailedError:
            return False
        return True

    def finish(self, org: str, key: str, token: str, status: int, body: Any) -> bool:
        try:
            self.table.update(
                *self.marker_key(org, key),
                set={"state": "done", "status": status, "body": json.dumps(body)},
                condition=self.held(token),
            )
        except ConditionFailedError:
            return False
        return True

    def settle(self, org: str, key: str, seen: Condition, status: int, body: Any) -> bool:
        """Records the response built for a ``Created`` marker, if the marker is still as seen."""
        try:
            self.table.update(
                *self.marker_key(org, key),
                set={"state": "done", "status": status, "body": json.dumps(body)},
                condition=seen,
            )
        except ConditionFailedError:
            return False
        return True

    def abandon(self, org: str, key: str, token: str) -> bool:
        """Frees the key, unless another request holds it now or this one created something
        (``created_asset``: the marker then stays for a retry to answer from)."""
        held = self.held(token)
        try:
            self.table.delete(
                *self.marker_key(org, key),
                condition=Condition(exists=True, equals=held.equals, absent=("created_asset",)),
            )
        except ConditionFailedError:
            return False
        return True

    @contextmanager
    def holding(self, org: str, key: str, token: str) -> Iterator[None]:
        """Renews the lease in a background thread while the block runs."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.renew_every_s):
                try:
                    if not self.renew(org, key, token):
                        log.warning("Idempotency-Key lease lost to another request while creating")
                        return
                except Exception:  # noqa: BLE001 - a failed renewal is retried at the next tick
                    log.warning("could not renew an Idempotency-Key lease", exc_info=True)

        thread = threading.Thread(target=renew, name="idempotency-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


class Idempotent:
    def __init__(
        self,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=200, description="replay-safe creation")] = None,
    ) -> None:
        self.request = request
        self.key = idempotency_key
        # While make() runs under a key: a Check that this request still holds it, for the
        # create's own transaction (None without a key).
        self.fence: Check | None = None

    def _store(self) -> LeasedIdempotencyStore:
        store = getattr(self.request.app.state, "idempotency_store", None)  # the app's, if it set one
        if isinstance(store, LeasedIdempotencyStore):
            return store
        services = self.request.app.state.services
        return LeasedIdempotencyStore(services.table, services.clock)

    def run(
        self,
        principal: Principal,
        body: BaseModel | None,
        make: Callable[[], Any],
        status: int,
        recover: Callable[[str], Any] | None = None,
    ) -> Any:
        """``recover``: the response for an asset created under this key by a request that
        stopped before recording its own (None when that asset is gone)."""
        if not self.key:
            return JSONResponse(make(), status)
        store = self._store()
        payload = body.model_dump(mode="json") if body is not None else None
        raw = json.dumps([self.request.method, self.request.url.path, payload], sort_keys=True)
        fingerprint = hashlib.sha256(raw.encode()).hexdigest()
        org, key = principal.org, self.key
        try:
            begun = store.begin(org, key, fingerprint)
        except ConflictError as exc:
            code = 409 if str(exc) == IN_PROGRESS else 422
            raise ApiError(code, "idempotency_conflict", str(exc)) from exc
        if isinstance(begun, Created):
            return self._recovered(store, org, key, begun, recover, status)
        if not isinstance(begun, str):
            return JSONResponse(begun[1], begun[0], headers={"Idempotent-Replayed": "true"})
        token = begun
        self.fence = Check(*store.marker_key(org, key), store.held(token))
        try:
            with store.holding(org, key, token):
                result = make()
        except BaseException as exc:
            if not store.abandon(org, key, token):
                # A retry took the key over while this one stalled (its marker is left alone),
                # or this request created its asset before failing (a retry answers with it).
                log.warning("Idempotency-Key marker kept: a retry holds it or it records a created asset")
                if isinstance(exc, ConflictError):
                    raise ApiError(409, "idempotency_conflict", TAKEN_OVER) from exc
            raise
        finally:
            self.fence = None
        if not store.finish(org, key, token, status, result):
            # Created, but a retry holds the key now or answered for it (this request stalled
            # past its lease).
            log.warning("Idempotency-Key taken over by a retry before this request finished; its response stands")
        return JSONResponse(result, status)

    @staticmethod
    def _recovered(
        store: LeasedIdempotencyStore,
        org: str,
        key: str,
        created: Created,
        recover: Callable[[str], Any] | None,
        status: int,
    ) -> Any:
        if recover is None:  # only creates that record what they made leave such a marker
            raise ApiError(409, "idempotency_conflict", IN_PROGRESS)
        result = recover(created.asset)
        if result is None:
            raise ApiError(409, "idempotency_conflict", GONE)
        if not store.settle(org, key, created.seen, status, result):
            log.warning("Idempotency-Key marker changed while answering for its created asset; the answer stands")
        return JSONResponse(result, status, headers={"Idempotent-Replayed": "true"})
