"""The fault suite's concurrency test: a real server killed with SIGKILL at seeded random
moments while clients upload the same assets twice at once, retry completions, move and
delete them. Afterwards every accepted asset is analysed exactly once, no original is
missing, nothing is orphaned (blobs, table items, scratch, worker processes), usage equals
the accepted uploads and the aggregates equal a recomputation. bench/abuse.py runs the long
version."""

from __future__ import annotations

import os
from pathlib import Path

from tests.abuse.chaos import run_chaos

SEED = int(os.environ.get("IMPACTLENS_CHAOS_SEED", "20261201"))


def test_server_killed_at_random_points_loses_duplicates_and_orphans_nothing(tmp_path: Path) -> None:
    o = run_chaos(tmp_path, seed=SEED, assets=8, kills=3, threads=3)
    print(o.line())
    assert o.runs == 3
    assert o.lost == []
    assert o.duplicated == []
    assert o.orphans == []
    assert o.usage == o.jobs > 0
    assert o.aggregates_match
    assert not [n for n in o.notes if "answered 5" in n], o.notes
