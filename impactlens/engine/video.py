"""Video summaries from per-instant scores and saliency grids (pure functions, no I/O).

The merge step and the API's "recompute AOI shares" both call these: the models are not
re-run to change AOIs, only the stored grids are read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from .tracks import boxes_at
from .types import AOI, Keyframe, TimelinePoint, VideoAttentionShare

WINDOWS = (("first_3s", 3.0), ("first_5s", 5.0))
MAX_KEYFRAMES = 5


def smooth(values: np.ndarray, sample_fps: float, sigma_s: float) -> np.ndarray:
    if sigma_s <= 0 or len(values) < 2:
        return values.astype(np.float64)
    out: np.ndarray = gaussian_filter1d(values.astype(np.float64), sigma=sigma_s * sample_fps, mode="nearest")
    return out


def timeline(times: np.ndarray, scores: np.ndarray, sample_fps: float, sigma_s: float) -> list[TimelinePoint]:
    smoothed = smooth(scores, sample_fps, sigma_s)
    return [
        TimelinePoint(t=float(t), memorability=float(s), smoothed=float(m))
        for t, s, m in zip(times, scores, smoothed, strict=True)
    ]


@lru_cache(maxsize=64)
def _axis_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out): how much of each grid cell Pillow's bilinear resize puts in each pixel
    along one axis, read off Pillow itself by resizing an identity matrix along that axis
    only (an unchanged height skips Pillow's vertical pass), so it is upsample_density's."""
    eye = Image.fromarray(np.eye(n_in, dtype=np.float32), "F")
    out: np.ndarray = np.asarray(eye.resize((n_out, n_in), Image.Resampling.BILINEAR), np.float64)
    return out


@lru_cache(maxsize=64)
def _axis_cumulative(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out + 1): _axis_weights summed over pixels [0, p), so any span's weights are a
    difference of two columns (a tracked box covers other pixels at each instant)."""
    w = _axis_weights(n_in, n_out)
    return np.concatenate([np.zeros((n_in, 1)), np.cumsum(w, axis=1)], axis=1)


def active_mask(aoi: AOI, times: np.ndarray) -> np.ndarray:
    """AOI.active_at at each time, vectorised."""
    t = np.asarray(times, np.float64)
    on = np.ones(t.shape, bool)
    if aoi.start_s is not None:
        on &= t >= aoi.start_s
    if aoi.end_s is not None:
        on &= t < aoi.end_s
    return on


def _pixel_spans(
    boxes: np.ndarray, display: tuple[int, int], frame: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each box's [x0, x1) and [y0, y1) in frame pixels, rounded and clipped to the frame."""
    width, height = frame
    sx, sy = width / display[0], height / display[1]
    x, y, w, h = (boxes[:, c] for c in range(4))
    x0 = np.clip(np.round(x * sx), 0, width).astype(int)
    x1 = np.clip(np.round(x * sx + w * sx), 0, width).astype(int)
    y0 = np.clip(np.round(y * sy), 0, height).astype(int)
    y1 = np.clip(np.round(y * sy + h * sy), 0, height).astype(int)
    return x0, np.maximum(x1, x0), y0, np.maximum(y1, y0)


def frame_shares(
    times: np.ndarray,
    grids: np.ndarray,
    aois: Sequence[AOI],
    display: tuple[int, int],
    frame: tuple[int, int],
) -> np.ndarray:
    """(instants, AOIs) share of each frame's attention inside each AOI, 0 where inactive.

    The share is attention_shares() of upsample_density(grid, *frame), without the full-size
    map: bilinear resizing is separable, so a box's mass is rows(box) @ grid @ cols(box), with
    rows/cols the per-cell weights summed over the box's pixels. A 10-minute video's 1,200
    instants took 1.85 s through full-size maps and now take milliseconds. Still boxes share
    one matrix product; a tracked AOI has a box per instant (engine/tracks.py), so its
    rows/cols differ per instant (read off cumulative weights) and the same product is
    taken instant by instant, over the instants it counts.

    Each sum is numpy's own loop over one AOI's weights (einsum, no BLAS): a matrix product
    over all AOIs at once let BLAS pick its kernel, and so its summation order, from the number
    of AOIs, and an AOI's share changed in the last digits with the AOIs measured beside it
    (a user's AOI alone vs among auto AOIs, a PUT adding one). Now a share depends only on
    the grids and its own AOI.
    """
    out = np.zeros((len(times), len(aois)), np.float64)
    if not aois or not len(times):
        return out
    width, height = frame
    n, gh, gw = grids.shape[:3]
    wy, wx = _axis_weights(gh, height), _axis_weights(gw, width)
    g = grids.astype(np.float64).reshape(n, gh * gw)
    total = _weighted_sums(g, np.outer(wy.sum(1), wx.sum(1)).ravel())
    safe_total = np.where(total > 0, total, 1.0)
    still: list[tuple[int, np.ndarray, float]] = []
    for j, aoi in enumerate(aois):
        active = active_mask(aoi, times)
        if not active.any():
            continue
        if aoi.track:  # every instant (no copy of the grids), then masked
            x0s, x1s, y0s, y1s = _pixel_spans(boxes_at(aoi, times), display, frame)
            cy, cx = _axis_cumulative(gh, height), _axis_cumulative(gw, width)
            rows, cols = (cy[:, y1s] - cy[:, y0s]).T, (cx[:, x1s] - cx[:, x0s]).T  # (instants, cells)
            mass = np.einsum("nhw,nh,nw->n", g.reshape(n, gh, gw), rows, cols)
            uniform = (x1s - x0s) * (y1s - y0s) / float(width * height)
            out[:, j] = np.where(active, np.where(total > 0, mass / safe_total, uniform), 0.0)
            continue
        x0, x1, y0, y1 = (int(v[0]) for v in _pixel_spans(boxes_at(aoi, times[:1]), display, frame))
        if x1 > x0 and y1 > y0:
            kernel = np.outer(wy[:, y0:y1].sum(1), wx[:, x0:x1].sum(1)).ravel()
            still.append((j, kernel, (x1 - x0) * (y1 - y0) / float(width * height)))
    for j, kernel, uniform in still:
        share = np.where(total > 0, _weighted_sums(g, kernel) / safe_total, uniform)
        out[:, j] = np.where(active_mask(aois[j], times), share, 0.0)
    return out


def _weighted_sums(g: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(instants,) each instant's cells times ``kernel``, summed in an order fixed by the shapes."""
    out: np.ndarray = np.einsum("nc,c->n", g, kernel)
    return out


def area_fractions(aoi: AOI, times: np.ndarray, display: tuple[int, int]) -> np.ndarray:
    """The AOI's box clipped to the picture, as a fraction of its area, at each time."""
    b = boxes_at(aoi, times)
    dw, dh = float(display[0]), float(display[1])
    iw = np.clip(np.minimum(dw, b[:, 0] + b[:, 2]) - np.maximum(0.0, b[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(dh, b[:, 1] + b[:, 3]) - np.maximum(0.0, b[:, 1]), 0.0, None)
    out: np.ndarray = iw * ih / (dw * dh)
    return out


def video_attention(
    times: np.ndarray,
    grids: np.ndarray,
    aois: Sequence[AOI],
    display: tuple[int, int],
    frame: tuple[int, int],
) -> list[VideoAttentionShare]:
    """Per AOI: the mean share over each window (0 while it does not count), and its area and
    lift over the instants it counts, each instant with its own box (a tracked AOI's moves)."""
    shares = frame_shares(times, grids, aois, display, frame)
    result = []
    for j, a in enumerate(aois):
        windows = {name: float(shares[times < limit, j].mean()) for name, limit in WINDOWS}
        active = active_mask(a, times)
        counted = times[active] if a.track and active.any() else np.array([a.start_s or 0.0])
        area = float(area_fractions(a, counted, display).mean())
        lift = float(shares[active, j].mean()) / area if active.any() and area > 0 else None
        result.append(
            VideoAttentionShare(
                name=a.name,
                first_3s=windows["first_3s"],
                first_5s=windows["first_5s"],
                whole=float(shares[:, j].mean()),
                area_fraction=area,
                lift=lift,
            )
        )
    return result


def pick_keyframes(times: np.ndarray, scores: np.ndarray, duration_s: float, n: int = MAX_KEYFRAMES) -> list[int]:
    """Indices of the most memorable instants, at least duration/(2n) seconds apart, in time order."""
    gap = max(duration_s / (2 * n), 1e-9)
    chosen: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(abs(float(times[i]) - float(times[j])) >= gap for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    return sorted(chosen)


def keyframe_entries(times: np.ndarray, scores: np.ndarray, picks: list[int], names: list[str]) -> list[Keyframe]:
    return [
        Keyframe(t=float(times[i]), memorability=float(scores[i]), thumbnail=name)
        for i, name in zip(picks, names, strict=True)
    ]
