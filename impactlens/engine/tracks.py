"""Tracked AOIs: a box that follows an element over a video (pure functions, no I/O).

A track is a list of keyframes ``(t, x, y, w, h)``, times strictly increasing, in displayed
pixels. Between two keyframes the box moves linearly; before the first and after the last it
stays where it was. Keyframes rather than a box per sampled instant because detection runs on
about one instant a second (engine/element_tracks.py) while shares are measured at every sampled
instant (2 a second): the boxes in between have to be interpolated anyway, and a long, steady
track reduces to a few keyframes (``simplify_track``) instead of 1,200 boxes for 10 minutes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .types import AOI, TrackPoint

# At most this many keyframes per track: a detected track has one per detection instant, at
# most 60 a video today (element_tracks.MAX_DETECT_INSTANTS); 120 leaves room for a client's own
# keyframes. The API also caps the points of one request (schemas.MAX_TRACK_POINTS_TOTAL).
MAX_TRACK_POINTS = 120


def track_array(track: Sequence[TrackPoint]) -> np.ndarray:
    """(points, 5): t, x, y, w, h."""
    return np.array([[p.t, p.x, p.y, p.w, p.h] for p in track], np.float64).reshape(-1, 5)


def boxes_at(aoi: AOI, times: np.ndarray) -> np.ndarray:
    """(instants, 4) x, y, w, h of the AOI's box at each time (its one box when untracked)."""
    times = np.asarray(times, np.float64)
    if not aoi.track:
        return np.tile(np.array([aoi.x, aoi.y, aoi.w, aoi.h], np.float64), (len(times), 1))
    k = track_array(aoi.track)
    return np.stack([np.interp(times, k[:, 0], k[:, c]) for c in range(1, 5)], axis=1)


def simplify_track(
    track: Sequence[TrackPoint], tolerance_px: float = 2.0, max_points: int = MAX_TRACK_POINTS
) -> list[TrackPoint]:
    """The fewest keyframes (first and last kept) whose interpolation stays within
    ``tolerance_px`` of every original box edge, found greedily (Ramer-Douglas-Peucker over
    time); if that is still over ``max_points``, the tolerance doubles until it fits."""
    points = list(track)
    if len(points) <= 2:
        return points
    k = track_array(points)
    edges = np.stack([k[:, 1], k[:, 2], k[:, 1] + k[:, 3], k[:, 2] + k[:, 4]], axis=1)
    tol = max(tolerance_px, 1e-9)
    while True:
        keep = _rdp(k[:, 0], edges, tol)
        if len(keep) <= max(2, max_points):
            return [points[i] for i in keep]
        tol *= 2


def _rdp(t: np.ndarray, edges: np.ndarray, tol: float) -> list[int]:
    keep = {0, len(t) - 1}
    stack = [(0, len(t) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        mid = t[i + 1 : j]
        f = ((mid - t[i]) / (t[j] - t[i]))[:, None]
        err = np.abs(edges[i + 1 : j] - (edges[i] + f * (edges[j] - edges[i]))).max(axis=1)
        worst = int(np.argmax(err))
        if err[worst] > tol:
            m = i + 1 + worst
            keep.add(m)
            stack += [(i, m), (m, j)]
    return sorted(keep)
