"""Streamed, sampled decoding of a probed video (media/video_probe.py) with PyAV.

Sampling is by instant, not by frame: instant k is at ``k / sample_fps`` seconds and shows the
frame on screen then (the last frame whose presentation time is <= the instant), which is
right for variable frame rates too. Only sampled frames are converted and downscaled; one
frame is held at a time, so memory does not grow with the video's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from ..errors import MediaError
from .video_probe import (
    BACKWARD_JUMP_S,
    MIN_SIDE,
    VideoInfo,
    backward_jump_message,
    open_video,
    probe,
    scan_extent,
    video_stream,
)

__all__ = [
    "MIN_SIDE",
    "SampledFrame",
    "VideoInfo",
    "expected_samples",
    "instants_through",
    "iter_samples",
    "probe",
    "sample_step",
    "scan_extent",
    "target_size",
    "video_stream",
]


@dataclass
class SampledFrame:
    index: int  # sample index k
    t: float  # the instant, seconds from the first frame
    frame_time: float  # presentation time of the frame shown then
    rgb: np.ndarray  # (h, w, 3) uint8, rotated for display and downscaled


def target_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """Downscaled size keeping the aspect ratio, never upscaling, even sides (H.264 needs them)."""
    scale = min(1.0, long_side / max(width, height))
    w = max(MIN_SIDE, int(round(width * scale / 2)) * 2)
    h = max(MIN_SIDE, int(round(height * scale / 2)) * 2)
    return w, h


def sample_step(sample_fps: float) -> Fraction:
    """Seconds between sampled instants, exactly (instant k is at ``k * step``)."""
    return Fraction(1) / Fraction(sample_fps).limit_denominator(1000)


def instants_through(last_frame_s: float, sample_fps: float) -> int:
    """How many instants ``iter_samples`` yields for a video whose last frame is shown at
    ``last_frame_s`` (seconds after the first): every k with k * step <= that time."""
    step = sample_step(sample_fps)
    k = max(0, math.floor(Fraction(last_frame_s + 1e-9) / step))
    # The same float comparison iter_samples makes, at the edge.
    while float((k + 1) * step) <= last_frame_s + 1e-9:
        k += 1
    while k > 0 and float(k * step) > last_frame_s + 1e-9:
        k -= 1
    return k + 1


def iter_samples(
    path: str | Path,
    info: VideoInfo,
    sample_fps: float,
    long_side: int,
    max_duration_s: float,
    max_pixels: int | None = None,
) -> Iterator[SampledFrame]:
    """Decode once and yield one downscaled RGB frame per sampled instant, in order.

    ``max_pixels`` holds for every frame, not only the first the probe saw: a stream may
    change its frame size mid-way (spliced MPEG-TS), past the probe's look-ahead."""
    step = sample_step(sample_fps)
    out_w, out_h = target_size(info.width, info.height, long_side)
    # Reformat before rotating, so the coded frame is scaled to the rotated target's shape.
    coded_w, coded_h = (out_h, out_w) if info.rotation in (90, 270) else (out_w, out_h)
    container = open_video(path)
    with container:
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        held: av.VideoFrame | None = None
        held_t = 0.0
        t0: float | None = None
        k = 0
        last_t = 0.0
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if t0 is None:
                    t0 = frame.time
                t = frame.time - t0
                if held is not None and t < held_t - BACKWARD_JUMP_S:
                    raise MediaError(backward_jump_message(held_t + t0, t + t0), "corrupt_media")
                if t > max_duration_s:
                    raise MediaError(f"video runs past the {max_duration_s:.0f} s limit", "video_too_long")
                if max_pixels is not None and frame.width * frame.height > max_pixels:
                    raise MediaError(
                        f"the frame size changes to {frame.width}x{frame.height} at {t:.2f} s; "
                        f"the limit is {max_pixels:,} pixels per frame",
                        "video_too_large",
                    )
                while held is not None and float(k * step) < t:
                    yield _sample(k, float(k * step), held_t, held, coded_w, coded_h, info.rotation)
                    k += 1
                held, held_t, last_t = frame, t, t
        except av.error.FFmpegError as exc:
            raise MediaError(f"the video data is corrupt after {last_t:.2f} s: {exc}", "corrupt_media") from exc
        if held is None:
            raise MediaError("the video stream has no decodable frame", "empty_video")
        # The last frame stays on screen for the instants up to its own time.
        while float(k * step) <= held_t + 1e-9:
            yield _sample(k, float(k * step), held_t, held, coded_w, coded_h, info.rotation)
            k += 1
    if info.duration_s > 1.0 and last_t < 0.9 * info.duration_s - 1.0:
        raise MediaError(
            f"the video stops at {last_t:.2f} s but its header says {info.duration_s:.2f} s (truncated)",
            "truncated_media",
        )


def _sample(k: int, t: float, frame_t: float, frame: av.VideoFrame, w: int, h: int, rotation: int) -> SampledFrame:
    rgb: np.ndarray = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation=Interpolation.AREA)
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return SampledFrame(index=k, t=t, frame_time=frame_t, rgb=rgb)


def expected_samples(info: VideoInfo, sample_fps: float) -> int:
    """The number of instants decoding will give if the file is as probed: through the last
    frame's time when the probe read it; otherwise one average frame before the header's
    duration (exact for a constant rate only)."""
    if info.last_frame_s is not None:
        return instants_through(info.last_frame_s, sample_fps)
    last = info.duration_s - (1.0 / info.fps if info.fps > 0 else 0.0)
    return instants_through(max(0.0, last), sample_fps)
