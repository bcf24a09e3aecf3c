"""SQLite single-table latency as the table grows, and aggregate read vs recompute.

    .venv/bin/python bench/db_scaling.py [--sizes 1000,100000,1000000] [--ops 2000]

For each size: a table of that many items (assets with GSI1 keys spread over 10 clients and
20 brands each, plus users); p50/p99 of a key lookup, a begins_with page query (a page of 50 users of
a client) and a GSI1 page query (the 50 newest assets of a brand); the queried client and
brand hold the same 100 items at every size, so only the table around them grows. Then, with 100k assets in one
brand, the cost of a brand average read from its aggregate item vs recomputed by reading
every asset of the brand. Last line: `query_ratio_1m_1k=<x> agg_vs_recompute=<y>`, x being
the largest-size p50 over the smallest-size p50 (mean over the three queries).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.db.aggregates import read_stats, recompute  # noqa: E402
from impactlens.db.repository import new_ulid  # noqa: E402
from impactlens.db.sqlite import SqliteTable  # noqa: E402
from impactlens.db.table import KeyRange, iterate  # noqa: E402

ORGS, BRANDS, HOT = 10, 20, 100


def asset_item(i: int, org: int, brand: int, asset: str) -> dict:
    return {
        "PK": f"ASSET#{asset}",
        "SK": "METADATA",
        "GSI1PK": f"ORG#o{org}",
        "GSI1SK": f"BRAND#b{brand}#CAMPAIGN#c{i % 3}#ASSET#{asset}",
        "org": f"o{org}",
        "brand": f"b{brand}",
        "campaign": f"c{i % 3}",
        "kind": "image",
        "status": "done",
        "scores": {"memorability": (i % 997) / 997},
    }


def build(path: Path, size: int) -> tuple[SqliteTable, list[str]]:
    table = SqliteTable(path)
    n_users = size // 10
    # The queried client o0 and its brand b0 hold >= HOT items at every size, so every page
    # query returns a full page of 50 and only the table around it grows.
    users = [{"PK": f"ORG#o{0 if i < HOT else i % ORGS}", "SK": f"USER#u{i:08d}", "name": "x"} for i in range(n_users)]
    assets, ids = [], []
    for i in range(size - n_users):
        a = new_ulid()
        ids.append(a)
        assets.append(asset_item(i, 0 if i < HOT else i % ORGS, 0 if i < HOT else (i // ORGS) % BRANDS, a))
    table.put_many(users + assets)
    table.trim_stream(str(2**62))  # the import's change records are not under test
    return table, ids


def timed(fn, n: int) -> tuple[float, float]:
    for _ in range(min(n, 200)):  # warm the page cache and the interpreter first
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


def measure(table: SqliteTable, ids: list[str], ops: int) -> dict[str, tuple[float, float]]:
    rng = random.Random(0)
    return {
        "get": timed(lambda: table.get(f"ASSET#{rng.choice(ids)}", "METADATA"), ops),
        "begins_with page": timed(lambda: table.query("ORG#o0", KeyRange(begins_with="USER#"), limit=50), ops),
        "gsi1 page": timed(
            lambda: table.query("ORG#o0", KeyRange(begins_with="BRAND#b0#"), index="GSI1", limit=50, newest_first=True),
            ops,
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--ops", type=int, default=2000)
    ap.add_argument("--agg-assets", type=int, default=100_000)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            t = time.perf_counter()
            table, ids = build(Path(tmp) / f"t{size}.db", size)
            built = time.perf_counter() - t
            results[size] = measure(table, ids, args.ops)
            line = "  ".join(f"{k}: p50 {v[0] * 1e6:.0f}us p99 {v[1] * 1e6:.0f}us" for k, v in results[size].items())
            print(f"{size:>9,} items (built in {built:.0f}s)  {line}", flush=True)
            table.close()
        # Aggregate vs recompute: one brand with agg-assets assets.
        table = SqliteTable(Path(tmp) / "agg.db")
        items = [asset_item(i, 0, 0, new_ulid()) for i in range(args.agg_assets)]
        table.put_many(items)
        # The aggregate item as the stream consumer would leave it (built here by the repair
        # path, recompute(), to skip draining 100k records: this measures reading it).
        for (pk, sk), attrs in recompute(items).items():
            table.put({"PK": pk, "SK": sk, **attrs})
        agg_p50, _ = timed(lambda: read_stats(table.get("ORG#o0", "AGG#BRAND#b0"))["memorability"].mean, 200)

        def recompute_mean() -> float:
            vals = [
                a["scores"]["memorability"]
                for a in iterate(table, "ORG#o0", KeyRange(begins_with="BRAND#b0#"), index="GSI1", limit=1000)
            ]
            return sum(vals) / len(vals)

        rec_p50, _ = timed(recompute_mean, 3)
        assert abs(recompute_mean() - read_stats(table.get("ORG#o0", "AGG#BRAND#b0"))["memorability"].mean) < 1e-6
        print(
            f"brand average over {args.agg_assets:,} assets: aggregate {agg_p50 * 1e6:.0f}us, "
            f"recompute {rec_p50 * 1e3:.0f}ms"
        )
    small, large = sizes[0], sizes[-1]
    ratio = float(np.mean([results[large][k][0] / results[small][k][0] for k in results[small]]))
    print(f"query_ratio_1m_1k={ratio:.2f} agg_vs_recompute={rec_p50 / agg_p50:.0f}")


if __name__ == "__main__":
    main()
