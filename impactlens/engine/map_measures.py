"""The measures beside the map: focus and clutter, each with a percentile against a reference set.

**Focus** — how concentrated predicted attention is: ``1 - H / Hmax``, with H the Shannon
entropy of the saliency model's grid (a probability distribution over its cells) and Hmax
the entropy of a uniform grid, ``log(cells)``. 0 means attention spread evenly over the
image; 1 means all of it on one cell. It is computed on the model's grid, so it does not
depend on the image's resolution, but it does depend on the saliency model: the reference
percentiles are recomputed whenever that model changes (scripts/make_element_reference.py).

**Clutter** — visual complexity, a documented simplification of feature congestion
(Rosenholtz, Li & Nakano, "Measuring visual clutter", Journal of Vision 2007). The image is
resized to a long side of 192 px and converted to CIE Lab; at three scales of a Gaussian
pyramid we measure, in local Gaussian windows (sigma 3 px):
- colour: the local covariance of (L, a, b), as det(cov)^(1/6) (the radius of the
  covariance ellipsoid: large when many different colours sit close together);
- contrast: the local standard deviation of a difference of Gaussians of L;
- orientation: the local covariance of the luminance gradient (gx, gy), as det(cov)^(1/4)
  (large when edges of many orientations crowd together; one straight edge gives ~0).
Each is averaged over pixels and scales and divided by its median over the reference set
(the bundled calibration photographs), and clutter is the mean of the three: 1.0 is as
cluttered as the reference set's median photograph in each feature.

Both come with a percentile against the same reference set (impactlens/data/reference/).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any, TypedDict

import numpy as np
from PIL import Image
from scipy import ndimage

CLUTTER_SIDE = 192
CLUTTER_SCALES = 3
CLUTTER_SIGMA = 3.0
CLUTTER_FEATURES = ("colour", "contrast", "orientation")


# ---------------------------------------------------------------------------- focus


def focus(grid: np.ndarray) -> float:
    """1 - H/Hmax of the saliency grid (normalised here, so any non-negative map works)."""
    p = np.asarray(grid, np.float64).ravel()
    total = p.sum()
    if p.size < 2 or total <= 0:
        return 0.0
    p = p[p > 0] / total
    h = float(-(p * np.log(p)).sum())
    return float(min(1.0, max(0.0, 1.0 - h / np.log(grid.size))))


# ---------------------------------------------------------------------------- clutter


_SRGB_TO_LINEAR = np.where(
    np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92, ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4
).astype(np.float32)
_RGB_TO_XYZ_D65 = (
    np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    / np.array([[0.95047], [1.0], [1.08883]])
).astype(np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (h, w, 3) -> CIE Lab (D65), float32."""
    xyz = _SRGB_TO_LINEAR[rgb] @ _RGB_TO_XYZ_D65.T
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29).astype(np.float32)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _blur(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = ndimage.gaussian_filter(x, CLUTTER_SIGMA, truncate=2.5)
    return out


def _local_cov(channels: list[np.ndarray]) -> dict[tuple[int, int], np.ndarray]:
    """Covariances (i <= j) of the channels in a Gaussian window around each pixel."""
    means = [_blur(c) for c in channels]
    return {
        (i, j): _blur(channels[i] * channels[j]) - means[i] * means[j]
        for i in range(len(channels))
        for j in range(i, len(channels))
    }


def clutter_features(image: Image.Image) -> dict[str, float]:
    """The three raw feature-congestion terms (see the module docstring), before normalising."""
    w, h = image.size
    scale = CLUTTER_SIDE / max(w, h)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    if image.mode in ("RGB", "L"):  # resize first: a huge upload is never copied at full size
        small = image.resize(size, Image.Resampling.BOX).convert("RGB")
    else:
        small = image.convert("RGB").resize(size, Image.Resampling.BOX)
    lab = _lab(np.asarray(small))
    sums = dict.fromkeys(CLUTTER_FEATURES, 0.0)
    for level in range(CLUTTER_SCALES):
        if level:
            lab = ndimage.gaussian_filter(lab, (1.0, 1.0, 0))[::2, ::2]
        chans = [np.ascontiguousarray(lab[..., k]) for k in range(3)]
        c = _local_cov(chans)
        det3 = (
            c[0, 0] * (c[1, 1] * c[2, 2] - c[1, 2] ** 2)
            - c[0, 1] * (c[0, 1] * c[2, 2] - c[1, 2] * c[0, 2])
            + c[0, 2] * (c[0, 1] * c[1, 2] - c[1, 1] * c[0, 2])
        )
        dog = ndimage.gaussian_filter(chans[0], 1.0) - ndimage.gaussian_filter(chans[0], 2.0)
        gy, gx = (np.asarray(g) for g in np.gradient(chans[0]))
        g = _local_cov([gx, gy])
        det2 = g[0, 0] * g[1, 1] - g[0, 1] ** 2
        sums["colour"] += float((np.clip(det3, 0, None) ** (1 / 6)).mean())
        sums["contrast"] += float(np.sqrt(np.clip(_local_cov([dog])[0, 0], 0, None)).mean())
        sums["orientation"] += float((np.clip(det2, 0, None) ** (1 / 4)).mean())
    return {k: v / CLUTTER_SCALES for k, v in sums.items()}


def clutter_from_features(features: dict[str, float], norms: dict[str, float]) -> float:
    return float(np.mean([features[k] / norms[k] for k in CLUTTER_FEATURES]))


# ---------------------------------------------------------------------------- reference


@lru_cache(maxsize=1)
def element_reference() -> dict[str, Any]:
    """The committed reference: clutter normalisers and sorted focus/clutter values."""
    path = resources.files("impactlens") / "data" / "reference" / "elements.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def reference_percentile(value: float, reference: Sequence[float]) -> float:
    """Mid-rank percentile of value among the sorted reference values (ties count half)."""
    ref = np.asarray(reference, np.float64)
    below = np.searchsorted(ref, value, side="left")
    at_or_below = np.searchsorted(ref, value, side="right")
    return float(100.0 * (below + at_or_below) / (2 * len(ref)))


class Measures(TypedDict):
    focus: float
    focus_percentile: float | None
    clutter: float
    clutter_percentile: float


def measures(grid: np.ndarray, image: Image.Image, saliency_model: str) -> Measures:
    """focus, clutter and their percentiles against the reference set. Focus depends on the
    saliency model, so its reference is per model; with none for this model (not yet made by
    scripts/make_element_reference.py) the focus percentile is None rather than misleading."""
    ref = element_reference()
    f = focus(grid)
    c = clutter_from_features(clutter_features(image), ref["clutter_norms"])
    focus_ref = ref["focus"].get(saliency_model)
    return {
        "focus": f,
        "focus_percentile": reference_percentile(f, focus_ref) if focus_ref else None,
        "clutter": c,
        "clutter_percentile": reference_percentile(c, ref["clutter"]),
    }
