"""How each eye-tracking set's evaluation split is scored, so that figures compare.

- NUS scene 401-500: metrics at the image's resolution capped at 1024 px on the long side
  (fixations scaled alike); CC/KLD/SIM against fixations blurred with sigma = 2.5% of the long
  side; fixation tables are 1-based (MATLAB).
- OSIE 1601-1700 (its README): every map at 800x600; fixations truncated to whole pixels, as
  given (0-based); CC/KLD/SIM against fixations blurred with sigma = 24 px (one degree).

Both: shuffled-AUC negatives are the fixations of the other evaluation images, placed by
their relative position on this image. A model is a function (image name, image at the
evaluation size) -> a map of any size; maps of another size are resized bilinearly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .fixations import load_fixations
from .metrics import all_metrics

METRICS = ("auc_judd", "sauc", "nss", "cc", "kld", "sim")
MapFn = Callable[[str, Image.Image], np.ndarray]


@dataclass(frozen=True)
class Protocol:
    name: str
    data: Path
    images: tuple[str, ...]
    one_based: bool
    max_side: int | None  # cap on the long side (NUS)
    fixed_size: tuple[int, int] | None  # (width, height) every map is scored at (OSIE)
    sigma_px: float | None  # fixed blur for CC/KLD/SIM, else sigma_frac of the long side
    sigma_frac: float = 0.025

    def load(self) -> dict[str, np.ndarray]:
        fix = load_fixations(self.data / "fixations.csv", one_based=self.one_based)
        return {n: fix.get(n, np.zeros((0, 2))) for n in self.images}


def nus(data: Path, first: int = 401, last: int = 500) -> Protocol:
    names = tuple(f"{i:03d}.jpg" for i in range(first, last + 1))
    return Protocol("nus", data, names, one_based=True, max_side=1024, fixed_size=None, sigma_px=None)


def osie(data: Path, first: int = 1601, last: int = 1700) -> Protocol:
    names = tuple(f"{i}.jpg" for i in range(first, last + 1))
    return Protocol("osie", data, names, one_based=False, max_side=None, fixed_size=(800, 600), sigma_px=24.0)


def _resize_map(m: np.ndarray, width: int, height: int) -> np.ndarray:
    if m.shape == (height, width):
        return m
    img = Image.fromarray(m.astype(np.float32), "F").resize((width, height), Image.Resampling.BILINEAR)
    return np.maximum(np.asarray(img, np.float64), 0)


def evaluate(
    protocol: Protocol, models: Mapping[str, MapFn], limit: int | None = None
) -> dict[str, dict[str, list[float]]]:
    """Per-image metric values: model -> metric -> list over the protocol's images."""
    fixations = protocol.load()
    names = protocol.images[:limit] if limit else protocol.images
    sizes = {n: Image.open(protocol.data / "images" / n).size for n in names}
    norm = {n: fixations[n] / np.array(sizes[n], np.float64) for n in names}
    scores: dict[str, dict[str, list[float]]] = {m: {k: [] for k in METRICS} for m in models}
    for n in names:
        image = Image.open(protocol.data / "images" / n).convert("RGB")
        w, h = image.size
        if protocol.fixed_size is not None:
            ew, eh = protocol.fixed_size
        else:
            scale = min(1.0, (protocol.max_side or max(w, h)) / max(w, h))
            ew, eh = max(1, round(w * scale)), max(1, round(h * scale))
        if (ew, eh) != (w, h):
            image = image.resize((ew, eh), Image.Resampling.BILINEAR)
        pts = fixations[n] * np.array([ew / w, eh / h])
        others = np.concatenate([norm[o] for o in names if o != n] or [np.zeros((0, 2))]) * np.array([ew, eh])
        sigma = protocol.sigma_px if protocol.sigma_px is not None else protocol.sigma_frac * max(ew, eh)
        for model, fn in models.items():
            sal = _resize_map(fn(n, image), ew, eh)
            for k, v in all_metrics(sal, pts, others, sigma=sigma).items():
                scores[model][k].append(v)
    return scores


def bootstrap(values: Iterable[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile interval of the mean, resampling images with replacement."""
    v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, (resamples, v.size))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(v.mean()), float(lo), float(hi)


def summarise(scores: Mapping[str, Mapping[str, list[float]]]) -> dict[str, dict[str, tuple[float, float, float]]]:
    return {m: {k: bootstrap(vals) for k, vals in per.items()} for m, per in scores.items()}
