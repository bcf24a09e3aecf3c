"""Element detection (faces, text) for videos, split between the steps.

``prepare`` plans which sampled instants get the detectors (``detection_instants``: about one
a second, at most 60 per video) and writes each chunk's share into its descriptor as
``detect`` (sample indices). ``analyse_chunk`` runs the detectors on those frames with the
worker's own sessions (the engine's, loaded once per process) and stores what it found in the
chunk's result blob. ``merge`` only scales the boxes to display pixels and tracks them.

Past 60 s the picks depend on the exact sample count (evenly spread over the whole video), which
is known for certain only when decoding ends. While decoding streams (the local executor submits
each chunk as soon as it is written) the plan uses ``planned_count``, the count the probe
promises (through the last packet's presentation time, right for variable frame rates too); the
Step Functions path re-plans from the real count before the fan-out. Should the file not decode
as probed (frames that fail to decode, timestamps out of order), ``merge`` runs the detectors
itself on any picked instant no chunk covered, exactly as the serial path always did, so the
result never depends on where detection ran.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..engine.elements import detection_instants, track_elements
from ..engine.types import AOI
from ..media.video_io import VideoInfo, expected_samples
from ..models.detectors import Detection, ElementDetectors, load_detectors
from ..settings import Settings
from .chunks import FrameChunk, load_frames

if TYPE_CHECKING:
    from ..engine.image import ImageEngine
    from .steps import StepContext

log = logging.getLogger("impactlens.pipeline")

Found = dict[int, list[Detection]]


def planned_count(info: VideoInfo, sample_fps: float) -> int:
    """The sample count decoding will give if the file is as probed: instants through the
    last frame's presentation time, which the probe reads from the packets (a variable frame
    rate's last frame is not one average frame before the header's duration)."""
    return expected_samples(info, sample_fps)


def plan_detections(chunks: Iterable[dict[str, Any]], count: int, sample_fps: float, settings: Settings) -> None:
    """Sets each chunk descriptor's ``detect``: the picked instants (sample indices) it holds."""
    picks = detection_instants(count, sample_fps) if settings.detect_elements else []
    for c in chunks:
        first, n = int(c["first_sample"]), int(c["samples"])
        c["detect"] = [k for k in picks if first <= k < first + n]


def detect_in_chunk(frames: FrameChunk, wanted: list[int], engine: ImageEngine, settings: Settings) -> Found | None:
    """Faces and text lines on the chunk's frames at the wanted sample indices, in the frames'
    pixels; None when detection is off or nothing is wanted (no detector is touched then)."""
    if not settings.detect_elements or not wanted:
        return None
    detectors = engine.detectors or _detectors(settings)
    where = {int(k): n for n, k in enumerate(frames.index)}
    return {k: detectors.detect(Image.fromarray(frames.frames[where[k]], "RGB")) for k in wanted if k in where}


def _detectors(settings: Settings) -> ElementDetectors:
    return load_detectors(settings.model_dir, settings.threads)


def _detect_in_merge(chunks: list[dict[str, Any]], missing: list[int], ctx: StepContext) -> Found:
    """The serial path, for picked instants no chunk covered (the plan saw another count)."""
    log.info("detecting %d instants in merge (chunks planned for another sample count)", len(missing))
    detectors = _detectors(ctx.settings)
    found: Found = {}
    for c in chunks:
        wanted = [k for k in missing if c["first_sample"] <= k < c["first_sample"] + c["samples"]]
        if wanted:
            part = load_frames(ctx.blobs.read(c["key"]))
            for k in wanted:
                found[k] = detectors.detect(Image.fromarray(part.frames[k - c["first_sample"]], "RGB"))
    return found


def video_elements(
    chunks: list[dict[str, Any]],
    t: np.ndarray,
    found: Found,
    info: VideoInfo,
    frame: tuple[int, int],
    fps: float,
    ctx: StepContext,
) -> list[tuple[AOI, Detection]]:
    """The chunks' detections at the picked instants, scaled to display pixels and tracked into AOIs."""
    if not ctx.settings.detect_elements:
        return []
    picks = detection_instants(len(t), fps)
    missing = [k for k in picks if k not in found]
    if missing:
        found = {**found, **_detect_in_merge(chunks, missing, ctx)}
    sx, sy = info.width / frame[0], info.height / frame[1]
    instants = [
        (float(t[k]), [replace(d, x=d.x * sx, y=d.y * sy, w=d.w * sx, h=d.h * sy) for d in found[k]]) for k in picks
    ]
    step = float(t[picks[1]] - t[picks[0]]) if len(picks) > 1 else info.duration_s
    return track_elements(instants, step, info.duration_s)
