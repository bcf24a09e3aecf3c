"""Video probing and streamed, sampled decoding with PyAV (FFmpeg ships in its wheel).

Sampling is by instant, not by frame: instant k is at ``k / sample_fps`` seconds and shows the
frame on screen then (the last frame whose presentation time is <= the instant), which is
right for variable frame rates too. Only sampled frames are converted and downscaled; one
frame is held at a time, so memory does not grow with the video's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import Interpolation

from ..errors import MediaError

# FFmpeg demuxers that read still images: an image renamed .mp4 lands here.
_IMAGE_DEMUXERS = ("image2", "_pipe", "gif", "apng", "webp")
MIN_SIDE = 16


@dataclass
class VideoInfo:
    container: str
    codec: str
    width: int  # as displayed (rotation applied)
    height: int
    coded_width: int
    coded_height: int
    duration_s: float
    fps: float  # average frame rate
    variable_frame_rate: bool
    rotation: int  # degrees counter-clockwise applied for display
    has_audio: bool
    frames: int | None  # from the header, when the container says
    warnings: list[str] = field(default_factory=list)
    # Presentation time of the last frame, seconds after the first (from the packets, not the
    # header's duration, whose last frame's length is a guess for a variable frame rate);
    # None when it could not be read (then the count is estimated from the header).
    last_frame_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoInfo:
        return cls(**d)


@dataclass
class SampledFrame:
    index: int  # sample index k
    t: float  # the instant, seconds from the first frame
    frame_time: float  # presentation time of the frame shown then
    rgb: np.ndarray  # (h, w, 3) uint8, rotated for display and downscaled


def _open(path: str | Path) -> av.container.InputContainer:
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"no such file: {p}", "not_found")
    if p.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)", "empty_file")
    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        if _looks_like_video(p):
            raise MediaError("the video container is truncated or corrupt", "corrupt_media") from exc
        raise MediaError("not a recognised video format", "unsupported_media") from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open the video: {exc}", "corrupt_media") from exc


def _looks_like_video(path: Path) -> bool:
    """Known container signatures: MP4/MOV (ftyp), Matroska/WebM, AVI, MPEG-TS, MPEG-PS."""
    with open(path, "rb") as f:
        head = f.read(12)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return True
    if head.startswith((b"\x1aE\xdf\xa3", b"RIFF", b"\x00\x00\x01\xba")):
        return True
    return head[:1] == b"\x47" and path.stat().st_size % 188 == 0  # MPEG-TS packets


# Streams that hold a still, not the moving picture: an audio file's cover art, thumbnails.
_STILL = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails | av.stream.Disposition.still_image


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The stream analysed: the largest moving picture (a file may carry a small preview
    track first, or an audio file its cover art as a "video" stream); ties go to the one
    flagged default, then to the first. MediaError no_video_stream when there is none."""
    moving = [s for s in container.streams.video if not (int(s.disposition) & _STILL)]
    if not moving:
        if container.streams.video:
            what = "only a cover picture"
        else:
            what = "audio only" if container.streams.audio else "no audio or video"
        raise MediaError(f"the file has no video stream ({what})", "no_video_stream")
    default = int(av.stream.Disposition.default)

    def rank(s: av.video.stream.VideoStream) -> tuple[int, int, int]:
        ctx = s.codec_context
        return (int(ctx.width or 0) * int(ctx.height or 0), int(s.disposition) & default, -s.index)

    return max(moving, key=rank)


def probe(path: str | Path, max_duration_s: float, max_pixels: int) -> VideoInfo:
    """Read the header (and the first frame, for rotation); reject what cannot be analysed."""
    container = _open(path)
    with container:
        fmt = container.format.name
        if any(fmt == d or fmt.endswith(d) for d in _IMAGE_DEMUXERS) or fmt.startswith("image2"):
            if container.streams.video:
                raise MediaError(f"this is a still image ({fmt}), not a video", "not_a_video")
        stream = video_stream(container)
        ctx = stream.codec_context
        cw, ch = int(ctx.width or 0), int(ctx.height or 0)
        duration = _duration(container, stream)
        warnings: list[str] = []
        rotation = 0
        interlaced = False
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise MediaError(f"the first frame cannot be decoded: {exc}", "corrupt_media") from exc
        if first is None:
            raise MediaError("the video stream has no decodable frame", "empty_video")
        first_t = first.time
        if first_t is None:
            # A raw elementary stream (.h264, .hevc): frames without timestamps, so no instant
            # can be placed in time.
            raise MediaError(
                f"the video has no timestamps (a bare {stream.codec_context.name} stream, not in a container): "
                "upload it as MP4, MOV, MKV or WebM",
                "unsupported_media",
            )
        rotation = int(round((first.rotation or 0) / 90.0)) * 90 % 360
        interlaced = bool(first.interlaced_frame)
        cw, ch = cw or first.width, ch or first.height
        has_audio = bool(container.streams.audio)
        # Everything read off the stream is read here: its memory goes with the container,
        # and reading it after the close crashed the process (a VFR MPEG-TS upload did).
        avg = stream.average_rate or stream.guessed_rate or stream.base_rate
        base = stream.base_rate or stream.guessed_rate
        codec = stream.codec_context.name
        frames = int(stream.frames) or None
        sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if cw < MIN_SIDE or ch < MIN_SIDE:
        raise MediaError(f"video is {cw}x{ch}; both sides must be >= {MIN_SIDE} px", "video_too_small")
    last_pts = _last_pts_s(path, max_duration_s)
    duration = _length(duration, first_t, last_pts)
    if cw * ch > max_pixels:
        raise MediaError(f"video is {cw}x{ch}; the limit is {max_pixels:,} pixels per frame", "video_too_large")
    if duration is not None and duration > max_duration_s:
        raise MediaError(f"video is {duration:.1f} s long; the limit is {max_duration_s:.0f} s", "video_too_long")
    fps = float(avg) if avg else 0.0
    vfr = bool(avg and base and abs(float(base) - float(avg)) > 0.01 * float(avg))
    if interlaced:
        warnings.append("interlaced video: fields are blended by the downscale before analysis")
    if vfr:
        warnings.append(f"variable frame rate (average {fps:.2f} fps): samples follow presentation times")
    dw = _display_width(cw, sar, warnings)
    w, h = (ch, dw) if rotation in (90, 270) else (dw, ch)
    return VideoInfo(
        container=fmt,
        codec=codec,
        width=w,
        height=h,
        coded_width=cw,
        coded_height=ch,
        duration_s=duration if duration is not None else 0.0,
        fps=fps,
        variable_frame_rate=vfr,
        rotation=rotation,
        has_audio=has_audio,
        frames=frames,
        warnings=warnings,
        last_frame_s=None if last_pts is None else max(0.0, last_pts - first_t),
    )


def _display_width(coded_width: int, sar: Fraction | None, warnings: list[str]) -> int:
    """The width a player shows: non-square pixels (a broadcast 720x576 16:9 master, SAR
    64:45) are shown 1024 wide. The analysis works on that picture and AOIs are in its pixels,
    as on the dashboard's player; a squeezed frame squeezed every face and logo."""
    if not sar or sar == 1:
        return coded_width
    if not Fraction(1, 4) <= sar <= 4:
        warnings.append(f"implausible sample aspect ratio {sar}: pixels taken as square")
        return coded_width
    width = round(coded_width * sar)
    warnings.append(f"non-square pixels (sample aspect ratio {sar}): analysed at the {width}-px display width")
    return width


def _length(duration: float | None, first_t: float, last_pts: float | None) -> float | None:
    """The header's duration as a length. Some muxers (Matroska's) write the end time there,
    so a video whose first frame is at 5 s and last at 5.5 s says 5.5 s, and was refused as
    truncated; when the packets fit that reading clearly better, the first frame's time is
    taken off. A cut file fits neither and keeps its header's claim."""
    if duration is None or last_pts is None or first_t <= 0:
        return duration
    as_end, as_length = abs(duration - last_pts), abs(duration - (last_pts - first_t))
    return duration - first_t if as_end + 0.5 < as_length else duration


def _last_pts_s(path: str | Path, limit_s: float) -> float | None:
    """The latest presentation time among the video stream's packets, in seconds. Only the
    tail is read: a seek to the keyframe before the end, then every packet after it (with
    B-frames the last frame shown is not the last one stored); where seeking fails or finds
    nothing, every packet from the start (demuxed, not decoded: I/O bound), stopping once
    past ``limit_s`` (decoding refuses such a video anyway)."""
    for seek in (True, False):
        with _open(path) as container:
            stream = video_stream(container)
            tb = stream.time_base
            if tb is None:
                return None
            latest = _latest_pts(container, stream, seek, limit_s / float(tb))
        if latest is not None:
            return float(latest * tb)
    return None


def _latest_pts(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, seek: bool, limit: float
) -> int | None:
    latest: int | None = None
    earliest: int | None = None
    try:
        if seek and stream.duration:
            container.seek((stream.start_time or 0) + stream.duration, stream=stream, backward=True)
        elif seek and container.duration:
            container.seek((container.start_time or 0) + container.duration, backward=True)
        elif seek:
            return None
        for packet in container.demux(stream):
            if packet.pts is not None and packet.size:
                latest = packet.pts if latest is None else max(latest, packet.pts)
                earliest = packet.pts if earliest is None else min(earliest, packet.pts)
                if latest - earliest > limit:
                    break
    except av.error.FFmpegError:
        return None if seek else latest
    return latest


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / av.time_base
    return None


def scan_extent(path: str | Path, max_duration_s: float) -> float:
    """Seconds of video the file really holds, from its packets' timestamps (demuxed, not
    decoded: I/O bound). The header's duration can lie or be missing, and a cut file keeps
    its header: this is what the limit and the truncation check rely on at upload.
    MediaError video_too_long as soon as the limit is passed."""
    container = _open(path)
    with container:
        stream = video_stream(container)
        tb = stream.time_base
        if tb is None:
            raise MediaError("the video stream has no time base", "corrupt_media")
        start: float | None = None
        end = 0.0
        try:
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                t = float(packet.pts * tb)
                start = t if start is None else min(start, t)
                end = max(end, t + float((packet.duration or 0) * tb))
                if end - start > max_duration_s:
                    raise MediaError(
                        f"video runs past the {max_duration_s:.0f} s limit (its header may say otherwise)",
                        "video_too_long",
                    )
        except av.error.FFmpegError as exc:
            raise MediaError("the video data is corrupt", "corrupt_media") from exc
    if start is None:
        raise MediaError("the video stream has no frames", "empty_video")
    return end - start


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
    container = _open(path)
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
