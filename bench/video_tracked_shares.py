"""Recomputing a 10-minute video's AOI shares: tracked AOIs beside the same number of still ones.

1,200 instants (10 min at 2 a second) of a 40x72 grid (a 640x360 frame), 1920x1080 display,
AOIs following 60-keyframe tracks (what detection at most yields today) vs still boxes; the
best of 5 runs each, side by side in one process. Also prints the JSON size of a request at
the track-point cap (MAX_TRACK_POINTS_TOTAL) with detector-like float coordinates.

    .venv/bin/python bench/video_tracked_shares.py [--aois 50]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np

from impactlens.api.schemas import MAX_TRACK_POINTS_TOTAL
from impactlens.engine.types import AOI, TrackPoint
from impactlens.engine.video import video_attention

DISPLAY, FRAME, INSTANTS = (1920, 1080), (640, 360), 1200


def best_ms(f: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        f()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aois", type=int, default=50)
    n = ap.parse_args().aois
    rng = np.random.default_rng(0)
    grids = rng.random((INSTANTS, 40, 72)).astype(np.float32)
    grids /= grids.sum((1, 2), keepdims=True)
    times = np.arange(INSTANTS) / 2.0
    tracked = []
    for j in range(n):
        kt = np.unique(rng.uniform(0, 600, 60))
        pts = [
            TrackPoint(t=float(t), x=float(x), y=float(y), w=300.0, h=200.0)
            for t, x, y in zip(kt, rng.uniform(0, 1500, len(kt)), rng.uniform(0, 800, len(kt)), strict=True)
        ]
        tracked.append(AOI(name=f"t{j}", x=500, y=300, w=300, h=200, track=pts))
    still = [AOI(name=f"s{j}", x=500.0 + j, y=300.0, w=300.0, h=200.0) for j in range(n)]
    video_attention(times[:2], grids[:2], tracked + still, DISPLAY, FRAME)  # weights cached
    s = best_ms(lambda: video_attention(times, grids, still, DISPLAY, FRAME))
    t = best_ms(lambda: video_attention(times, grids, tracked, DISPLAY, FRAME))
    print(f"{INSTANTS} instants x {n} AOIs: still {s:.1f} ms, tracked {t:.1f} ms, ratio tracked/still {t / s:.2f}")
    per = MAX_TRACK_POINTS_TOTAL // 10
    body = {
        "aois": [
            {
                "name": f"face_{j}",
                "x": 512.25,
                "y": 300.5,
                "w": 211.375,
                "h": 240.0,
                "track": [
                    {"t": i * 0.5, **{k: float(v) for k, v in zip("xywh", rng.uniform(1, 1000, 4), strict=True)}}
                    for i in range(per)
                ],
            }
            for j in range(10)
        ]
    }
    size = len(json.dumps(body).encode())
    print(f"request at the cap ({MAX_TRACK_POINTS_TOTAL} points, full-precision floats): {size / 1000:.0f} KB of JSON")


if __name__ == "__main__":
    main()
