"""Video summaries from per-instant scores and saliency grids (pure functions, no I/O).

The merge step and the API's "recompute AOI shares" both call these: the models are not
re-run to change AOIs, only the stored grids are read again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..media.heatmap import upsample_density
from .image import attention_shares
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


def frame_shares(
    times: np.ndarray,
    grids: np.ndarray,
    aois: Sequence[AOI],
    display: tuple[int, int],
    frame: tuple[int, int],
) -> np.ndarray:
    """(instants, AOIs) share of each frame's attention inside each AOI, 0 where inactive."""
    out = np.zeros((len(times), len(aois)), np.float64)
    if not aois:
        return out
    sx, sy = frame[0] / display[0], frame[1] / display[1]
    scaled = [_scaled(a, sx, sy) for a in aois]
    for i, (t, grid) in enumerate(zip(times, grids, strict=True)):
        active = [j for j, a in enumerate(aois) if a.active_at(float(t))]
        if not active:
            continue
        density = upsample_density(grid, frame[0], frame[1])
        for j, share in zip(active, attention_shares(density, [scaled[j] for j in active]), strict=True):
            out[i, j] = share.share
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
