"""Automatic areas of interest (faces, text blocks) and the measures beside the map.

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

from ..models.detect_text_rec import text_role
from ..models.detectors import Detection
from .tracks import simplify_track
from .types import AOI, AttentionShare, AutoAOI, TrackPoint, VideoAttentionShare

MAX_FACES = 10
MAX_TEXT_BLOCKS = 10
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


# ---------------------------------------------------------------------------- automatic AOIs


def _same_block(a: Detection, b: Detection) -> bool:
    """Lines of one block: stacked with a small gap and overlapping columns, or side by side on one line."""
    lh = min(a.h, b.h)
    x_overlap = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    y_gap = max(a.y, b.y) - min(a.y + a.h, b.y + b.h)
    y_overlap = -y_gap
    x_gap = -x_overlap
    stacked = x_overlap > 0 and y_gap < 1.0 * lh and max(a.h, b.h) < 2.0 * lh
    same_line = y_overlap > 0.5 * lh and x_gap < 1.5 * lh
    return stacked or same_line


def text_blocks(lines: Sequence[Detection]) -> list[Detection]:
    """Groups detected text lines into blocks (union-find on _same_block); confidence is area-weighted."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _same_block(lines[i], lines[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[Detection]] = {}
    for i, d in enumerate(lines):
        groups.setdefault(root(i), []).append(d)
    blocks = []
    for members in groups.values():
        x0, y0 = min(d.x for d in members), min(d.y for d in members)
        x1, y1 = max(d.x + d.w for d in members), max(d.y + d.h for d in members)
        weight = sum(d.area for d in members)
        conf = sum(d.confidence * d.area for d in members) / weight if weight else 0.0
        words = [d.text for d in members if d.text]
        blocks.append(Detection("text", x0, y0, x1 - x0, y1 - y0, conf, " ".join(words) if words else None))
    return blocks


def element_boxes(detections: Sequence[Detection]) -> list[tuple[AOI, Detection]]:
    """Named AOIs for faces (``face_1``...) and text blocks (``text_1``...), largest first, capped."""
    faces = sorted((d for d in detections if d.kind == "face"), key=lambda d: -d.area)[:MAX_FACES]
    blocks = sorted(text_blocks([d for d in detections if d.kind == "text"]), key=lambda d: -d.area)
    out = []
    for prefix, items in (("face", faces), ("text", blocks[:MAX_TEXT_BLOCKS])):
        for n, d in enumerate(items, 1):
            out.append((AOI(name=f"{prefix}_{n}", x=d.x, y=d.y, w=d.w, h=d.h), d))
    return out


# Videos: detection runs on sampled instants about once a second, at most this many per video.
DETECT_FPS = 1.0
MAX_DETECT_INSTANTS = 60
TRACK_IOU = 0.3


def detection_instants(count: int, sample_fps: float) -> list[int]:
    """Indices of the sampled instants to run the detectors on (~DETECT_FPS, capped, evenly spread)."""
    if count <= 0:
        return []
    every = max(1, round(sample_fps / DETECT_FPS))
    picks = list(range(0, count, every))
    if len(picks) > MAX_DETECT_INSTANTS:
        picks = sorted({int(round(i)) for i in np.linspace(0, count - 1, MAX_DETECT_INSTANTS)})
    return picks


def _box_iou(a: Detection, b: Detection) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / max(a.area + b.area - inter, 1e-9)


def track_elements(
    instants: Sequence[tuple[float, Sequence[Detection]]], step_s: float, duration_s: float
) -> list[tuple[AOI, Detection]]:
    """Video AOIs from detections at instants (time order): a detection continues the track of the
    same kind whose box at the previous detection instant overlaps it (IoU >= TRACK_IOU);
    each track becomes one AOI with its mean box, active from its first instant to its last
    plus ``step_s`` (the spacing of detection instants), and, when the element moves by more
    than a pixel, its ``track`` of keyframes, so its shares follow it (engine/video.py). Named like images, largest
    (area x time on screen) first."""
    tracks: list[dict[str, Any]] = []
    previous: list[int] = []
    for t, found in instants:
        faces = [d for d in found if d.kind == "face"]
        items = faces + text_blocks([d for d in found if d.kind == "text"])
        current: list[int] = []
        for d in items:
            candidates = [k for k in previous if tracks[k]["kind"] == d.kind and k not in current]
            best = max(candidates, key=lambda k: _box_iou(tracks[k]["dets"][-1], d), default=None)
            if best is not None and _box_iou(tracks[best]["dets"][-1], d) >= TRACK_IOU:
                tracks[best]["dets"].append(d)
                tracks[best]["times"].append(t)
                tracks[best]["last"] = t
                current.append(best)
            else:
                tracks.append({"kind": d.kind, "dets": [d], "times": [t], "first": t, "last": t})
                current.append(len(tracks) - 1)
        previous = current
    out: list[tuple[AOI, Detection]] = []
    for kind, cap in (("face", MAX_FACES), ("text", MAX_TEXT_BLOCKS)):
        mine = [tr for tr in tracks if tr["kind"] == kind]
        mine.sort(key=lambda tr: -float(np.mean([d.area for d in tr["dets"]])) * len(tr["dets"]))
        for i, tr in enumerate(mine[:cap], 1):
            dets = tr["dets"]
            x, y, w, h = (float(np.mean([getattr(d, k) for d in dets])) for k in ("x", "y", "w", "h"))
            words = next((d.text for d in dets if d.text), None)
            mean = Detection(kind, x, y, w, h, float(np.mean([d.confidence for d in dets])), words)
            end = min(duration_s, tr["last"] + step_s) if duration_s > tr["first"] else tr["first"] + step_s
            aoi = AOI(
                name=f"{kind}_{i}",
                x=x,
                y=y,
                w=w,
                h=h,
                start_s=tr["first"],
                end_s=max(end, tr["first"] + 1e-3),
                track=_moving_track(tr["times"], dets),
            )
            out.append((aoi, mean))
    return out


def _moving_track(times: Sequence[float], dets: Sequence[Detection]) -> list[TrackPoint] | None:
    """The element's keyframes (engine/tracks.py: fewest within 1 px of every detection), or
    None when it holds still within that: its one (mean) box then says it all."""
    points = [TrackPoint(t=t, x=d.x, y=d.y, w=d.w, h=d.h) for t, d in zip(times, dets, strict=True)]
    keys = simplify_track(points, tolerance_px=1.0)
    boxes = np.array([[p.x, p.y, p.w, p.h] for p in points])
    if len(keys) < 2 or np.ptp(boxes, axis=0).max() <= 1.0:
        return None
    return [TrackPoint(t=p.t, x=round(p.x, 1), y=round(p.y, 1), w=round(p.w, 1), h=round(p.h, 1)) for p in keys]


def auto_aois(
    named: Sequence[tuple[AOI, Detection]], shares: Sequence[AttentionShare | VideoAttentionShare]
) -> list[AutoAOI]:
    return [
        AutoAOI(
            name=a.name,
            kind=d.kind,
            x=a.x,
            y=a.y,
            w=a.w,
            h=a.h,
            start_s=a.start_s,
            end_s=a.end_s,
            track=list(a.track) if a.track else None,
            confidence=d.confidence,
            text=d.text,
            role=text_role(d.text) if d.kind == "text" else None,
            attention=s,
        )
        for (a, d), s in zip(named, shares, strict=True)
    ]
