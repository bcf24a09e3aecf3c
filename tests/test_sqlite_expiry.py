"""Expired items: readers treat them as absent on both backends (DynamoDB's TTL deletes late),
and the embedded table deletes them itself (SQLite has no TTL), in batches, keeping the
aggregates right; a database made by the previous schema gains the ttl index on opening."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from impactlens.accounts import AccountService, AuthError
from impactlens.accounts.lockout import SECRET_PK, LoginGuard
from impactlens.accounts.security import hash_secret
from impactlens.api.idempotency import LeasedIdempotencyStore
from impactlens.db.aggregates import AggregateConsumer, drain, marker_key, read_aggregates, recompute
from impactlens.db.ratelimit import SlidingWindowCounter, TableRateLimiter
from impactlens.db.repository import Repository
from impactlens.db.sqlite import SqliteTable
from impactlens.jobs.expiry import ExpirySweeper
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services, embedded_services
from impactlens.settings import load_settings

T0 = 1_800_000_000.0
DAY = 86_400.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def services_at(tmp_path: Path, clock: Clock, **settings: object) -> Services:
    base = embedded_services(load_settings(data_dir=tmp_path / "data", **settings))
    return Services(base.settings, base.table, base.blobs, clock)


# Readers, on SQLite and DynamoDB: an expired item that is still there counts as absent. -------
def test_a_session_past_its_expiry_is_refused_while_its_item_is_still_there(table) -> None:
    clock = Clock()
    accounts = AccountService(Repository(table, clock), session_ttl_s=60, clock=clock)
    accounts.create_org("acme", "Acme")
    accounts.create_user("acme", "ann@acme.example", "Ann", "Admin", "correct horse battery")
    token, _ = accounts.login("ann@acme.example", "correct horse battery")
    assert accounts.authenticate_session(token).user
    clock.now += 61
    assert table.get(session_pk(token), "SESSION") is not None  # not deleted yet
    with pytest.raises(AuthError):
        accounts.authenticate_session(token)


def session_pk(token: str) -> str:
    return f"SESSION#{hash_secret(token)}"


def test_an_idempotency_marker_past_its_expiry_is_taken_over_not_replayed(table) -> None:
    clock = Clock()
    store = LeasedIdempotencyStore(table, clock)
    token = store.begin("acme", "key-1", "fp")
    assert isinstance(token, str)
    assert store.finish("acme", "key-1", token, 201, {"id": "first"})
    assert store.begin("acme", "key-1", "fp") == (201, {"id": "first"})  # replayed while it lives
    clock.now += store.TTL_S + 1
    assert table.get(*store.marker_key("acme", "key-1"))["state"] == "done"  # still there
    again = store.begin("acme", "key-1", "fp")
    assert isinstance(again, str) and again != token  # a new request, not the old answer


def test_request_counters_of_past_windows_count_nothing_while_still_there(table) -> None:
    clock = Clock()
    counter = SlidingWindowCounter(table, clock)
    for _ in range(3):
        assert counter.reserve("login:acct", limit=3, window=60)[0] is not None
    assert counter.reserve("login:acct", limit=3, window=60)[0] is None
    clock.now += 120  # two windows on: the counted window is past the sliding window
    assert table.query("RATE#login:acct").items  # not deleted yet
    assert counter.count("login:acct", 60) == 0
    assert counter.reserve("login:acct", limit=3, window=60)[0] is not None
    limiter = TableRateLimiter(table, clock)
    assert limiter.take("org", rate=1.0, burst=1) == 0.0
    assert limiter.take("org", rate=1.0, burst=1) > 0
    clock.now += 2
    assert limiter.take("org", rate=1.0, burst=1) == 0.0


# The sweep --------------------------------------------------------------------------------
def test_expired_sessions_markers_and_counters_go_live_and_ttl_less_items_stay(tmp_path: Path) -> None:
    clock = Clock()
    services = services_at(tmp_path, clock)
    table = services.table
    services.accounts.create_org("acme", "Acme")
    services.accounts.create_user("acme", "ann@acme.example", "Ann", "Admin", "correct horse battery")
    old_session, _ = services.accounts.login("ann@acme.example", "correct horse battery")
    store = LeasedIdempotencyStore(table, clock)
    assert isinstance(store.begin("acme", "old-key", "fp"), str)
    SlidingWindowCounter(table, clock).reserve("login:x", limit=5, window=900)
    TableRateLimiter(table, clock).take("ip:1.2.3.4", rate=2.0, burst=30)
    table.put({"PK": "STREAM#aggregates#00000000000000000001", "SK": "MARKER", "ttl": int(T0) + 60})
    table.put({"PK": "STREAM#aggregates", "SK": "CHECKPOINT", "position": "00000000000000000009"})
    # Not numbers: DynamoDB's TTL ignores them, so does the sweep.
    table.put({"PK": "ODD#1", "SK": "S", "ttl": "1"})
    table.put({"PK": "ODD#2", "SK": "B", "ttl": True})
    table.put({"PK": "ODD#3", "SK": "N", "data": {"ttl": 1}})

    clock.now = T0 + 2 * DAY  # all of the above are past their ttl
    new_session, _ = services.accounts.login("ann@acme.example", "correct horse battery")
    assert isinstance(store.begin("acme", "new-key", "fp"), str)
    deleted = ExpirySweeper(services, 60).sweep_once()

    assert deleted == 5  # old session, old marker, two counter windows, the stream marker
    session_pks = {i["PK"] for i in _all_items(table) if i["SK"] == "SESSION"}
    assert session_pks == {session_pk(new_session)}
    assert table.get(*store.marker_key("acme", "old-key")) is None
    assert table.get(*store.marker_key("acme", "new-key")) is not None
    assert not [i for i in _all_items(table) if i["PK"].startswith("RATE#")]
    assert table.get("STREAM#aggregates#00000000000000000001", "MARKER") is None
    assert [i["PK"] for i in _all_items(table) if i["PK"].startswith("ODD#")] == ["ODD#1", "ODD#2", "ODD#3"]
    assert services.repo.get_org("acme") is not None and services.repo.user_by_email("ann@acme.example")
    assert services.accounts.authenticate_session(new_session).user
    assert ExpirySweeper(services, 60).sweep_once() == 0


def test_a_sign_in_spray_leaves_nothing_behind_once_its_windows_are_over(tmp_path: Path) -> None:
    """Random emails at the sign-in form: one counter item each (the attack the sweep bounds)."""
    clock = Clock()
    services = services_at(tmp_path, clock)
    guard = LoginGuard.from_settings(services.table, services.settings, clock)
    for n in range(200):
        guard.begin(f"nobody{n}@spray.example", None)
        clock.now += 1
    assert len([i for i in _all_items(services.table) if i["PK"].startswith("RATE#")]) == 200
    clock.now += 2 * services.settings.login_window_s + 60
    assert ExpirySweeper(services, 60).sweep_once() == 200
    assert [i["PK"] for i in _all_items(services.table)] == [SECRET_PK]  # the signing key stays


def _all_items(table: SqliteTable) -> list[dict]:
    rows = table._conn().execute("SELECT data FROM items ORDER BY pk, sk").fetchall()  # noqa: SLF001
    return [json.loads(r[0]) for r in rows]


def _fill(table: SqliteTable, expired: int, live: int) -> None:
    items = [{"PK": f"RATE#ip{i}#0", "SK": "W#0", "n": 1, "ttl": int(T0) - 1} for i in range(expired)]
    items += [{"PK": f"RATE#ip{i}#0", "SK": "W#9", "n": 1, "ttl": int(T0) + 60} for i in range(live)]
    items.append({"PK": "ORG#acme", "SK": "ORG#acme", "name": "Acme"})
    table.put_many(items)


def test_a_sweep_of_50k_expired_rows_runs_in_batches_and_frees_the_lock_between_them(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    table = SqliteTable(path)
    _fill(table, 50_000, 100)
    before = len(table.read_stream(limit=1_000_000))
    other = SqliteTable(path, busy_timeout_s=0)  # fails at once if the lock is held
    sizes: list[int] = []

    def between(number: int, deleted: int) -> None:
        sizes.append(deleted)
        other.put({"PK": f"LIVE#{number}", "SK": "S"})  # the lock is free between batches

    done = table.expire_items(T0, batch=500, pause_s=0, on_batch=between)
    assert (done.deleted, done.batches) == (50_000, 100)
    assert sizes == [500] * 100
    assert table.query("ORG#acme").items and table.query("LIVE#100").items
    left = table._conn().execute("SELECT count(*) FROM items WHERE pk LIKE 'RATE#%'").fetchone()[0]  # noqa: SLF001
    assert left == 100  # the live windows
    stream = table.read_stream(after=None, limit=1_000_000)[before:]
    removes = [r for r in stream if r.event == "REMOVE"]
    assert len(removes) == 50_000 and all(r.old and r.old["ttl"] < T0 and r.new is None for r in removes)


def test_concurrent_writers_go_ahead_between_the_sweeps_batches(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    table = SqliteTable(path)
    _fill(table, 20_000, 0)
    stop, failures, writes = threading.Event(), [], [0]
    seen: list[int] = []

    def writer() -> None:
        mine = SqliteTable(path, busy_timeout_s=10)
        try:
            while not stop.is_set():
                mine.update("COUNTER", "C", add={"n": 1})
                writes[0] += 1
                stop.wait(0.001)  # request traffic, not a tight loop
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            mine.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        done = table.expire_items(T0, batch=500, on_batch=lambda n, d: seen.append(writes[0]))
    finally:
        stop.set()
        thread.join(30)
    assert not failures
    assert done.batches == 40
    # Writes landed while the sweep was still going, not only once it had finished.
    assert seen[-1] > seen[0]
    assert table.get("COUNTER", "C")["n"] == writes[0]


# Aggregates -----------------------------------------------------------------------------------
def _asset(n: int, score: float, **extra: object) -> dict:
    return {
        "PK": f"ASSET#{n:026d}",
        "SK": "METADATA",
        "org": "acme",
        "brand": "fizz",
        "campaign": "summer" if n % 2 else "winter",
        "scores": {"memorability": score},
        **extra,
    }


def test_sweeping_keeps_brand_and_campaign_aggregates_equal_to_the_assets(tmp_path: Path) -> None:
    clock = Clock()
    services = services_at(tmp_path, clock)
    table, consumer = services.table, AggregateConsumer(services.table, clock)
    assets = [_asset(n, 0.5 + n / 100) for n in range(6)]
    for a in assets:
        table.put(a)
    # A (hypothetical) asset that carries a ttl: swept, its REMOVE takes it out, as on AWS.
    table.put(_asset(99, 0.9, ttl=int(T0) + 10))
    for n in range(30):
        table.put({"PK": f"SESSION#{n}", "SK": "SESSION", "ttl": int(T0) + 10})
    for _ in range(3):
        drain(table, consumer)
    assert read_aggregates(table, "acme") == {k: dict(v) for k, v in recompute([*assets, _asset(99, 0.9)]).items()}

    clock.now += 60
    assert ExpirySweeper(services, 60).sweep_once() == 31
    for _ in range(3):
        drain(table, consumer)
    assert table.get(f"ASSET#{99:026d}", "METADATA") is None
    aggs = read_aggregates(table, "acme")
    assert {k: {a: v for a, v in d.items() if v} for k, d in aggs.items()} == recompute(assets)


def test_a_marker_of_a_record_not_yet_checkpointed_outlives_its_ttl(tmp_path: Path) -> None:
    """A crash between applying a record and checkpointing it, then a week and a day down:
    the record is read again at the next start, and only its marker stops it counting twice."""
    clock = Clock()
    services = services_at(tmp_path, clock)
    table, consumer = services.table, AggregateConsumer(services.table, clock)
    asset = _asset(1, 0.7)
    table.put(asset)
    (record,) = [r for r in table.read_stream() if r.keys[0] == asset["PK"]]
    assert consumer.apply(record)  # applied; the process dies before the checkpoint
    clock.now += 8 * DAY  # past the marker's 7-day ttl
    table.put({"PK": "SESSION#x", "SK": "SESSION", "ttl": int(T0)})
    assert ExpirySweeper(services, 60).sweep_once() == 1  # the session, not the marker
    assert table.get(*marker_key(record.position)) is not None
    drain(table, consumer)
    assert read_aggregates(table, "acme")[("ORG#acme", "AGG#ORG")]["count"] == 1


# Schema upgrade -----------------------------------------------------------------------------
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
  pk TEXT NOT NULL, sk TEXT NOT NULL, gsi1pk TEXT, gsi1sk TEXT, data TEXT NOT NULL,
  PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, old TEXT, new TEXT
);
"""
OLD_INSERT = "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, data) VALUES (?, ?, NULL, NULL, ?)"


def _old_database(path: Path) -> None:
    """A file as the previous version left it (its schema, its row formats)."""
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    rows = [
        ("SESSION#old", "SESSION", json.dumps({"PK": "SESSION#old", "SK": "SESSION", "ttl": int(T0) - 5})),
        ("SESSION#live", "SESSION", json.dumps({"PK": "SESSION#live", "SK": "SESSION", "ttl": int(T0) + 500})),
        ("ORG#acme", "ORG#acme", json.dumps({"PK": "ORG#acme", "SK": "ORG#acme", "name": "Acme"})),
        # The exact-integer marker the writer puts before rows with 19-digit numbers.
        ("AGG#big", "X", " " + json.dumps({"PK": "AGG#big", "SK": "X", "s": 10**20, "ttl": int(T0) - 5})),
        # Written before NaN was refused: not JSON, still readable; no ttl the index can read.
        ("NAN#1", "X", '{"PK": "NAN#1", "SK": "X", "v": NaN, "ttl": 1}'),
    ]
    conn.executemany(OLD_INSERT, [(pk, sk, data) for pk, sk, data in rows])
    conn.commit()
    conn.close()


def test_a_database_made_by_the_previous_schema_gains_the_ttl_index_and_is_swept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    opened: list[SqliteTable] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def open_it() -> None:  # three processes' worth of first opens at once: one migrates
        barrier.wait()
        try:
            opened.append(SqliteTable(path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(opened) == 3
    table = SqliteTable(path)
    conn = table._conn()  # noqa: SLF001
    assert "ttl" in {row[1] for row in conn.execute("PRAGMA table_xinfo(items)")}
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT pk FROM items WHERE ttl < 5"))
    assert "items_ttl" in plan
    assert table.get("NAN#1", "X")["ttl"] == 1

    done = table.expire_items(T0)
    assert done.deleted == 2
    assert table.get("SESSION#old", "SESSION") is None and table.get("AGG#big", "X") is None
    assert table.get("SESSION#live", "SESSION") and table.get("ORG#acme", "ORG#acme")
    (big,) = [r.old for r in table.read_stream() if r.old and r.old["PK"] == "AGG#big"]
    assert big["s"] == 10**20  # exact in the REMOVE record too
    # A process still on the previous version writes as it did; its rows are swept too.
    raw = sqlite3.connect(path)
    raw.execute(OLD_INSERT, ("OLDWRITER", "X", json.dumps({"PK": "OLDWRITER", "SK": "X", "ttl": int(T0) - 1})))
    raw.commit()
    raw.close()
    assert table.expire_items(T0).deleted == 1


# The server process ---------------------------------------------------------------------------
def test_the_embedded_worker_sweeps_periodically_even_without_job_threads(tmp_path: Path) -> None:
    clock = Clock()
    services = services_at(tmp_path, clock, expiry_sweep_interval_s=0.05, webhook_threads=0)
    table = services.table
    worker = JobWorker(services, "w")
    worker.start(threads=0)
    try:
        table.put({"PK": "SESSION#a", "SK": "SESSION", "ttl": int(T0) + 1})
        table.put({"PK": "ORG#acme", "SK": "ORG#acme"})
        assert table.get("SESSION#a", "SESSION") is not None
        clock.now += 5
        gone = threading.Event()
        for _ in range(200):
            if table.get("SESSION#a", "SESSION") is None:
                gone.set()
                break
            gone.wait(0.05)
        assert gone.is_set()
        assert table.get("ORG#acme", "ORG#acme") is not None
    finally:
        worker.stop(10)
    assert worker.expiry._thread is None  # noqa: SLF001


def test_an_interval_of_zero_turns_the_sweep_off(tmp_path: Path) -> None:
    services = services_at(tmp_path, Clock(), expiry_sweep_interval_s=0)
    sweeper = ExpirySweeper(services, services.settings.expiry_sweep_interval_s)
    sweeper.start()
    assert not sweeper.enabled and sweeper._thread is None  # noqa: SLF001
