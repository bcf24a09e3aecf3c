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


def _scaled(aoi: AOI, sx: float, sy: float) -> AOI:
    return aoi.model_copy(update={"x": aoi.x * sx, "y": aoi.y * sy, "w": aoi.w * sx, "h": aoi.h * sy})


@lru_cache(maxsize=64)
def _axis_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out): how much of each grid cell Pillow's bilinear resize puts in each pixel
    along one axis, read off Pillow itself by resizing an identity matrix along that axis
    only (an unchanged height skips Pillow's vertical pass), so it is upsample_density's."""
    eye = Image.fromarray(np.eye(n_in, dtype=np.float32), "F")
    out: np.ndarray = np.asarray(eye.resize((n_out, n_in), Image.Resampling.BILINEAR), np.float64)
    return out


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
    instants took 1.85 s through full-size maps and now take milliseconds.
    """
    out = np.zeros((len(times), len(aois)), np.float64)
    if not aois or not len(times):
        return out
    width, height = frame
    gh, gw = grids.shape[1:3]
    wy, wx = _axis_weights(gh, height), _axis_weights(gw, width)
    g = grids.astype(np.float64)
    total = np.einsum("h,nhw,w->n", wy.sum(1), g, wx.sum(1))
    sx, sy = width / display[0], height / display[1]
    for j, aoi in enumerate(aois):
        a = _scaled(aoi, sx, sy)
        x0, y0 = max(0, int(round(a.x))), max(0, int(round(a.y)))
        x1, y1 = min(width, int(round(a.x + a.w))), min(height, int(round(a.y + a.h)))
        active = np.array([aoi.active_at(float(t)) for t in times])
        if x1 <= x0 or y1 <= y0 or not active.any():
            continue
        mass = np.einsum("h,nhw,w->n", wy[:, y0:y1].sum(1), g, wx[:, x0:x1].sum(1))
        uniform = (x1 - x0) * (y1 - y0) / float(width * height)  # upsample_density's fallback
        share = np.where(total > 0, mass / np.where(total > 0, total, 1.0), uniform)
        out[:, j] = np.where(active, share, 0.0)
    return out


def video_attention(
    times: np.ndarray,
    grids: np.ndarray,
    aois: Sequence[AOI],
    display: tuple[int, int],
    frame: tuple[int, int],
) -> list[VideoAttentionShare]:
    shares = frame_shares(times, grids, aois, display, frame)
    result = []
    for j, a in enumerate(aois):
        windows = {name: float(shares[times < limit, j].mean()) for name, limit in WINDOWS}
        x0, y0 = max(0.0, a.x), max(0.0, a.y)
        x1, y1 = min(float(display[0]), a.x + a.w), min(float(display[1]), a.y + a.h)
        area = max(0.0, x1 - x0) * max(0.0, y1 - y0) / float(display[0] * display[1])
        result.append(
            VideoAttentionShare(
                name=a.name,
                first_3s=windows["first_3s"],
                first_5s=windows["first_5s"],
                whole=float(shares[:, j].mean()),
                area_fraction=area,
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
