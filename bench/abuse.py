"""The long chaos run: a real server SIGKILLed at many seeded random points while clients
upload (twice at once), retry completions, move and delete the same assets; then the state
is checked (see tests/abuse/chaos.py). Ends with the line

    runs=<kills> lost=<n> duplicated=<n> orphans=<n> peak_rss_mb=<m>

goal: all zeros, peak (the server and its worker processes, sampled) <= 1000 MB.

    .venv/bin/python bench/abuse.py --kills 50 --assets 80 --videos 0.2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.abuse.chaos import run_chaos  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=50, help="SIGKILL + restart points")
    ap.add_argument("--assets", type=int, default=80)
    ap.add_argument("--threads", type=int, default=4, help="concurrent clients")
    ap.add_argument("--videos", type=float, default=0.2, help="share of assets that are videos")
    ap.add_argument("--video-workers", type=int, default=0, help="video worker processes of the server")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="impactlens-abuse-"))
    start = time.time()
    o = run_chaos(
        work, args.seed, args.assets, args.kills, threads=args.threads, video_workers=args.video_workers,
        videos=args.videos,
    )
    for kind, items in (("lost", o.lost), ("duplicated", o.duplicated), ("orphan", o.orphans)):
        for item in items[:20]:
            print(f"{kind}: {item}")
    for note in sorted(set(o.notes))[:20]:
        print(f"note: {note}")
    print(f"accepted uploads={o.jobs} usage={o.usage} aggregates_match={o.aggregates_match} "
          f"seconds={time.time() - start:.0f} data={work if args.keep else '(removed)'}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(o.line())
    clean = not (o.lost or o.duplicated or o.orphans) and o.usage == o.jobs and o.aggregates_match
    return 0 if clean and o.peak_rss_mb <= 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
