"""The SQLite backend under concurrent writers: threads and separate processes."""

from __future__ import annotations

import multiprocessing as mp
import threading

from impactlens.db import SqliteTable

N = 200


def _adder(path: str, worker: int) -> None:
    table = SqliteTable(path)
    for i in range(N):
        table.update("COUNTER", "X", add={"n": 1})
        table.put({"PK": "LOG", "SK": f"{worker:02d}#{i:04d}"})
    table.close()


def test_concurrent_thread_writers_lose_no_update(tmp_path):
    path = str(tmp_path / "t.db")
    SqliteTable(path)
    threads = [threading.Thread(target=_adder, args=(path, w)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    table = SqliteTable(path)
    assert table.get("COUNTER", "X")["n"] == 4 * N
    assert len(table.read_stream(limit=100_000)) == 2 * 4 * N  # one change record per write


def test_concurrent_process_writers_lose_no_update(tmp_path):
    path = str(tmp_path / "p.db")
    SqliteTable(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_adder, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    table = SqliteTable(path)
    assert table.get("COUNTER", "X")["n"] == 3 * N
    positions = [r.position for r in table.read_stream(limit=100_000)]
    assert positions == sorted(positions) and len(positions) == 2 * 3 * N
