"""Tracked video AOIs: the box at each instant is the track's (linear between keyframes, held
outside them), and the shares equal the full-size density's summed inside that box."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pytest

from impactlens.engine.image import attention_shares
from impactlens.engine.tracks import MAX_TRACK_POINTS, boxes_at, simplify_track, track_array
from impactlens.engine.types import AOI, TrackPoint
from impactlens.engine.video import frame_shares, video_attention
from impactlens.media.heatmap import upsample_density


def _box_at(track: Sequence[tuple[float, float, float, float, float]], t: float) -> tuple[float, ...]:
    """Linear interpolation written out, held before the first keyframe and after the last."""
    if t <= track[0][0]:
        return track[0][1:]
    if t >= track[-1][0]:
        return track[-1][1:]
    for a, b in zip(track, track[1:], strict=False):
        if a[0] <= t <= b[0]:
            f = (t - a[0]) / (b[0] - a[0])
            return tuple(va + f * (vb - va) for va, vb in zip(a[1:], b[1:], strict=True))
    raise AssertionError


def _tracked(name: str, track: Sequence[tuple[float, float, float, float, float]], **kw: float) -> AOI:
    pts = [TrackPoint(t=t, x=x, y=y, w=w, h=h) for t, x, y, w, h in track]
    return AOI(name=name, x=track[0][1], y=track[0][2], w=track[0][3], h=track[0][4], track=pts, **kw)


def test_boxes_at_interpolate_between_keyframes_and_hold_outside() -> None:
    track = [(1.0, 0, 0, 10, 10), (3.0, 100, 50, 30, 10)]
    aoi = _tracked("a", track)
    times = np.array([0.0, 1.0, 2.0, 2.5, 3.0, 9.0])
    np.testing.assert_allclose(boxes_at(aoi, times), [_box_at(track, float(t)) for t in times])
    assert boxes_at(aoi, times)[2].tolist() == [50, 25, 20, 10]


def test_tracked_shares_equal_the_full_size_density_inside_the_box_of_each_instant() -> None:
    display, frame = (1280, 720), (640, 360)
    rng = np.random.default_rng(3)
    grids = rng.random((16, 40, 72)).astype(np.float32) ** 4
    grids /= grids.sum((1, 2), keepdims=True)
    grids[5] = 0.0  # degenerate: the uniform fallback, with the box of that instant
    times = np.arange(16) / 2.0
    track = [(0.7, -40, 20, 200, 150), (3.3, 900, 400, 300, 250), (6.1, 1200, 650, 120, 120)]
    aois = [_tracked("moving", track), _tracked("moving_timed", track, start_s=2.0, end_s=5.0)]
    got = frame_shares(times, grids, aois, display, frame)
    sx, sy = frame[0] / display[0], frame[1] / display[1]
    for i, t in enumerate(times):
        density = upsample_density(grids[i], *frame)
        x, y, w, h = _box_at(track, float(t))
        box = AOI(name="b", x=x * sx, y=y * sy, w=w * sx, h=h * sy)
        want = attention_shares(density, [box])[0].share
        assert got[i, 0] == pytest.approx(want, rel=1e-5, abs=1e-9), t
        assert got[i, 1] == (pytest.approx(want, rel=1e-5, abs=1e-9) if 2.0 <= t < 5.0 else 0.0), t


def test_a_still_track_measures_like_its_one_box_and_a_moving_one_does_not() -> None:
    rng = np.random.default_rng(4)
    grids = rng.random((10, 48, 64)).astype(np.float32) ** 6
    grids /= grids.sum((1, 2), keepdims=True)
    times = np.arange(10) / 2.0
    box = AOI(name="box", x=50, y=40, w=120, h=90)
    still = _tracked("still", [(0.0, 50, 40, 120, 90), (4.5, 50, 40, 120, 90)])
    moving = _tracked("moving", [(0.0, 0, 0, 120, 90), (4.5, 390, 290, 120, 90)])
    got = frame_shares(times, grids, [box, still, moving], (512, 384), (512, 384))
    np.testing.assert_allclose(got[:, 1], got[:, 0], rtol=1e-9)
    assert not np.allclose(got[:, 2], got[:, 0])
    b, s, m = video_attention(times, grids, [box, still, moving], (512, 384), (512, 384))
    assert s.whole == pytest.approx(b.whole) and s.area_fraction == pytest.approx(b.area_fraction)
    assert s.lift == pytest.approx(b.whole / b.area_fraction)


def test_area_and_lift_follow_the_box_size_over_the_instants_it_counts() -> None:
    grids = np.full((4, 48, 64), 1.0 / (48 * 64), np.float32)  # uniform: share = area
    times = np.arange(4) * 1.0
    grow = _tracked("grow", [(0.0, 0, 0, 120, 90), (3.0, 0, 0, 240, 180)], start_s=1.0)
    [a] = video_attention(times, grids, [grow], (512, 384), (512, 384))
    areas = [(120 + 40 * t) * (90 + 30 * t) / (512 * 384) for t in (1, 2, 3)]
    assert a.area_fraction == pytest.approx(np.mean(areas))
    assert a.whole == pytest.approx(sum(areas) / 4, rel=1e-4)
    assert a.lift == pytest.approx(1.0, rel=1e-4)


def test_simplify_keeps_the_corners_of_a_path_within_tolerance_and_under_the_cap() -> None:
    t = np.arange(0, 100, 0.5)
    x = np.where(t < 50, t * 4, 200 - (t - 50) * 2)  # right, then back
    pts = [TrackPoint(t=float(a), x=float(b), y=10.0, w=40.0, h=40.0) for a, b in zip(t, x, strict=True)]
    kept = simplify_track(pts, tolerance_px=1.0)
    assert [p.t for p in kept] == [0.0, 50.0, 99.5]
    rng = np.random.default_rng(5)
    noisy = [p.model_copy(update={"x": p.x + float(rng.normal(0, 20))}) for p in pts]
    capped = simplify_track(noisy, tolerance_px=0.5, max_points=30)
    assert 2 < len(capped) <= 30 and capped[0] == noisy[0] and capped[-1] == noisy[-1]
    k = track_array(capped)
    assert (np.diff(k[:, 0]) > 0).all()
    assert len(simplify_track(noisy, tolerance_px=0.5)) <= MAX_TRACK_POINTS


def test_ten_minutes_of_tracked_shares_stay_fast() -> None:
    """1,200 instants (10 min at 2/s), 20 AOIs following 60-keyframe tracks, beside the same
    AOIs as still boxes: both in well under a second."""
    rng = np.random.default_rng(6)
    grids = rng.random((1200, 40, 72)).astype(np.float32)
    times = np.arange(1200) / 2.0
    tracks = []
    for j in range(20):
        kt = np.sort(rng.uniform(0, 600, 60))
        kt = np.unique(kt)
        xs, ys = rng.uniform(0, 1500, len(kt)), rng.uniform(0, 800, len(kt))
        tracks.append(
            _tracked(
                f"t{j}", [(float(a), float(b), float(c), 300.0, 200.0) for a, b, c in zip(kt, xs, ys, strict=True)]
            )
        )
    still = [AOI(name=f"s{j}", x=100.0 + j, y=100.0, w=300.0, h=200.0) for j in range(20)]
    frame_shares(times[:2], grids[:2], tracks + still, (1920, 1080), (640, 360))  # warm the weight caches
    started = time.perf_counter()
    video_attention(times, grids, still, (1920, 1080), (640, 360))
    still_s = time.perf_counter() - started
    started = time.perf_counter()
    video_attention(times, grids, tracks, (1920, 1080), (640, 360))
    tracked_s = time.perf_counter() - started
    print(f"1200 instants x 20 AOIs: still {still_s * 1000:.0f} ms, tracked {tracked_s * 1000:.0f} ms")
    assert tracked_s < 1.0
