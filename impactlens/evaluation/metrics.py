"""Saliency metrics as defined by the MIT saliency benchmark (Bylinskii et al., TPAMI 2019).

``sal`` is a predicted saliency map (H, W); ``fix`` is a boolean fixation map of the same
shape (True where at least one fixation landed); ``density`` is a continuous ground-truth
fixation map (fixations blurred by a Gaussian). Each function follows the benchmark's
reference code; where we differ it is said in the function.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

EPS = np.finfo(np.float64).eps


def _normalise01(s: np.ndarray) -> np.ndarray:
    s = s.astype(np.float64)
    lo, hi = s.min(), s.max()
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def _roc_area(pos: np.ndarray, neg: np.ndarray) -> float:
    """Exact area under the ROC curve (ties count half): the Mann-Whitney statistic."""
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    sorted_vals = values[order]
    # Average ranks over ties.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_vals)) + 1]
    ends = np.r_[starts[1:], len(values)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def auc_judd(sal: np.ndarray, fix: np.ndarray) -> float:
    """AUC-Judd: thresholds at the saliency values of fixated pixels; all pixels are negatives."""
    s = _normalise01(sal).ravel()
    f = fix.ravel().astype(bool)
    n_fix, n_pix = int(f.sum()), s.size
    if n_fix == 0:
        return float("nan")
    # One ROC point per distinct fixated value, counting ties on both sides (the benchmark
    # code breaks ties with random jitter instead, which makes it non-deterministic).
    fixated = np.sort(s[f])
    thresholds = np.unique(fixated)[::-1]
    all_sorted = np.sort(s)
    tp_count = n_fix - np.searchsorted(fixated, thresholds, side="left")
    above = n_pix - np.searchsorted(all_sorted, thresholds, side="left")
    tp = np.r_[0.0, tp_count / n_fix, 1.0]
    fp = np.r_[0.0, (above - tp_count) / (n_pix - n_fix), 1.0]
    return float(np.trapezoid(tp, fp))


def shuffled_auc(sal: np.ndarray, fix: np.ndarray, other_fix: np.ndarray, splits: int = 100, seed: int = 0) -> float:
    """sAUC: negatives are fixation locations of other images (on this image's grid).

    The benchmark sweeps thresholds in steps of 0.1; we compute each split's ROC area
    exactly (the limit of a fine sweep), averaged over ``splits`` random draws of as many
    negatives as there are fixations.
    """
    s = _normalise01(sal)
    pos = s[fix.astype(bool)]
    neg_pool = s[other_fix.astype(bool)]
    if pos.size == 0 or neg_pool.size == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    k = min(pos.size, neg_pool.size)
    return float(np.mean([_roc_area(pos, rng.choice(neg_pool, k, replace=False)) for _ in range(splits)]))


def nss(sal: np.ndarray, fix: np.ndarray) -> float:
    s = sal.astype(np.float64)
    sd = s.std()
    if sd == 0:
        return 0.0
    return float(((s - s.mean()) / sd)[fix.astype(bool)].mean())


def cc(sal: np.ndarray, density: np.ndarray) -> float:
    a = sal.astype(np.float64).ravel()
    b = density.astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def kld(sal: np.ndarray, density: np.ndarray) -> float:
    p = sal.astype(np.float64) / max(sal.sum(), EPS)
    q = density.astype(np.float64) / max(density.sum(), EPS)
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def sim(sal: np.ndarray, density: np.ndarray) -> float:
    p = _normalise01(sal)
    q = _normalise01(density)
    p, q = p / max(p.sum(), EPS), q / max(q.sum(), EPS)
    return float(np.minimum(p, q).sum())


def fixation_density(fix_points: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Continuous ground-truth map: fixation counts blurred by a Gaussian of ``sigma`` px."""
    counts = np.zeros(shape, np.float64)
    if len(fix_points):
        ys = np.clip(fix_points[:, 1].astype(int), 0, shape[0] - 1)
        xs = np.clip(fix_points[:, 0].astype(int), 0, shape[1] - 1)
        np.add.at(counts, (ys, xs), 1.0)
    blurred: np.ndarray = gaussian_filter(counts, sigma, mode="constant")
    return blurred


def all_metrics(sal: np.ndarray, fix_points: np.ndarray, other_points: np.ndarray, sigma: float) -> dict[str, float]:
    """Every metric for one image; points are (x, y) 0-based pixel coordinates."""
    h, w = sal.shape
    fix = np.zeros((h, w), bool)
    other = np.zeros((h, w), bool)
    for pts, grid in ((fix_points, fix), (other_points, other)):
        if len(pts):
            grid[np.clip(pts[:, 1].astype(int), 0, h - 1), np.clip(pts[:, 0].astype(int), 0, w - 1)] = True
    density = fixation_density(fix_points, (h, w), sigma)
    return {
        "auc_judd": auc_judd(sal, fix),
        "sauc": shuffled_auc(sal, fix, other),
        "nss": nss(sal, fix),
        "cc": cc(sal, density),
        "kld": kld(sal, density),
        "sim": sim(sal, density),
    }
