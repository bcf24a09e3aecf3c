"""Video elements: the instants the detectors run on, and detections followed across them
into tracks, each one AOI (with its keyframes when the element moves)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..models.detectors import Detection
from .element_detections import MAX_FACES, MAX_TEXT_BLOCKS, text_blocks
from .tracks import simplify_track
from .types import AOI, TrackPoint

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
