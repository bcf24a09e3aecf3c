"""Video probing with PyAV (FFmpeg ships in its wheel): what a file holds, read from its
header, its first frame and its packets' timestamps, refused precisely when it cannot be
analysed. Which stream is "the video" is decided here (``video_stream``), for every reader.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import MediaError
from .containers import DEMUXERS, FORMAT_WHITELIST, PROTOCOL_WHITELIST, demuxer_for

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


def open_video(path: str | Path) -> av.container.InputContainer:
    """Opens an upload with the demuxer its signature names (media/containers.py): FFmpeg
    never probes it, so no other demuxer reads it (nor a file it names)."""
    p = Path(path)
    if not p.is_file():
        raise MediaError(f"no such file: {p}", "not_found")
    if p.stat().st_size == 0:
        raise MediaError("the file is empty (0 bytes)", "empty_file")
    demuxer = demuxer_for(p)
    options = {"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": PROTOCOL_WHITELIST}
    try:
        return av.open(str(p), mode="r", format=demuxer, options=options, metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        # The signature matched, so the file is that container, damaged.
        raise MediaError(f"the {DEMUXERS[demuxer]} container is truncated or corrupt", "corrupt_media") from exc


# Streams that hold a still, not the moving picture: an audio file's cover art, thumbnails.
_STILL = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails | av.stream.Disposition.still_image


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The stream analysed: the largest moving picture (a file may carry a small preview
    track first, or an audio file its cover art as a "video" stream); ties go to the one
    flagged default, then to the first. MediaError no_video_stream when there is none,
    unsupported_media when none can be decoded."""
    moving = [s for s in container.streams.video if not (int(s.disposition) & _STILL)]
    if not moving:
        if container.streams.video:
            what = "only a cover picture"
        else:
            what = "audio only" if container.streams.audio else "no audio or video"
        raise MediaError(f"the file has no video stream ({what})", "no_video_stream")
    # A stream in a codec this FFmpeg has no decoder for has no codec context: reading its
    # size failed with AttributeError (a 500 at upload).
    decodable = [s for s in moving if s.codec_context is not None]
    if not decodable:
        raise MediaError("the video is in a codec that cannot be decoded here", "unsupported_media")
    default = int(av.stream.Disposition.default)

    def rank(s: av.video.stream.VideoStream) -> tuple[int, int, int]:
        ctx = s.codec_context
        return (int(ctx.width or 0) * int(ctx.height or 0), int(s.disposition) & default, -s.index)

    return max(decodable, key=rank)


def probe(path: str | Path, max_duration_s: float, max_pixels: int) -> VideoInfo:
    """Read the header (and the first frame, for rotation); reject what cannot be analysed."""
    container = open_video(path)
    with container:
        fmt = container.format.name
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
    dw = _display_width(cw, sar, warnings)
    if dw < MIN_SIDE:  # non-square pixels: coded 32x64 at 1:4 is shown 8 px wide
        raise MediaError(f"video is shown {dw}x{ch}; both sides must be >= {MIN_SIDE} px", "video_too_small")
    steps: list[list[int]] = [_head_pts(path, _STEP_SAMPLE), []]
    last_pts = _last_pts_s(path, max_duration_s, steps[1])
    duration = _length(duration, first_t, last_pts)
    if cw * ch > max_pixels:
        raise MediaError(f"video is {cw}x{ch}; the limit is {max_pixels:,} pixels per frame", "video_too_large")
    if duration is not None and duration > max_duration_s:
        raise MediaError(f"video is {duration:.1f} s long; the limit is {max_duration_s:.0f} s", "video_too_long")
    fps = float(avg) if avg else 0.0
    # The rates disagree in MP4 (its average counts frames over the duration), never in
    # Matroska/WebM (both are the muxer's nominal rate): the timestamps themselves say it.
    vfr = bool(avg and base and abs(float(base) - float(avg)) > 0.01 * float(avg)) or _steps_vary(steps)
    if interlaced:
        warnings.append("interlaced video: fields are blended by the downscale before analysis")
    if vfr:
        warnings.append(f"variable frame rate (average {fps:.2f} fps): samples follow presentation times")
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


# Packets whose timestamps are compared at each end of the video (demuxed, not decoded).
_STEP_SAMPLE = 120


def _head_pts(path: str | Path, count: int) -> list[int]:
    """Presentation times of the video stream's first ``count`` packets."""
    seen: list[int] = []
    with open_video(path) as container:
        stream = video_stream(container)
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    seen.append(packet.pts)
                    if len(seen) >= count:
                        break
        except av.error.FFmpegError:
            pass
    return seen


def _steps_vary(groups: list[list[int]]) -> bool:
    """Whether the steps between consecutive presentation times (in each group of packets,
    sorted: B-frames are stored out of order) differ by more than 10 % of the usual step, or
    1.5 ticks (a 29.97 fps video in milliseconds steps 33, 33, 34: that is rounding)."""
    steps = sorted(b - a for g in groups for a, b in zip(sorted(set(g)), sorted(set(g))[1:], strict=False))
    if len(steps) < 2:
        return False
    usual = steps[len(steps) // 2]
    tolerance = max(0.1 * usual, 1.5)
    return steps[0] < usual - tolerance or steps[-1] > usual + tolerance


def _last_pts_s(path: str | Path, limit_s: float, seen: list[int] | None = None) -> float | None:
    """The latest presentation time among the video stream's packets, in seconds. Only the
    tail is read: a seek to the keyframe before the end, then every packet after it (with
    B-frames the last frame shown is not the last one stored); where seeking fails or finds
    nothing, every packet from the start (demuxed, not decoded: I/O bound), stopping once
    past ``limit_s`` (decoding refuses such a video anyway)."""
    for seek in (True, False):
        with open_video(path) as container:
            stream = video_stream(container)
            tb = stream.time_base
            if tb is None:
                return None
            if seen is not None:
                seen.clear()
            latest = _latest_pts(container, stream, seek, limit_s / float(tb), seen)
        if latest is not None:
            return float(latest * tb)
    return None


def _latest_pts(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    seek: bool,
    limit: float,
    seen: list[int] | None = None,
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
                if seen is not None and len(seen) < _STEP_SAMPLE:
                    seen.append(packet.pts)
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


# Timestamps that go back by more than this join two videos (MPEG-TS files concatenated, each
# starting again at 0): the decode took only the first for the video (frames from the next
# replaced the one on screen, at no instant), and the length checks saw one part's span, so
# joining parts each within the plan's limit decoded any length. Smaller steps back are the
# timestamp noise of some muxers, and pass.
BACKWARD_JUMP_S = 1.0


def backward_jump_message(before: float, after: float) -> str:
    return (
        f"the video's timestamps jump back from {before:.2f} s to {after:.2f} s "
        "(several videos joined in one file?): export it as one video"
    )


def scan_extent(path: str | Path, max_duration_s: float) -> float:
    """Seconds of video the file really holds, from its packets' timestamps (demuxed, not
    decoded: I/O bound). The header's duration can lie or be missing, and a cut file keeps
    its header: this is what the limit and the truncation check rely on at upload.
    MediaError video_too_long as soon as the limit is passed, corrupt_media when the decode
    timestamps jump back (``BACKWARD_JUMP_S``)."""
    container = open_video(path)
    with container:
        stream = video_stream(container)
        tb = stream.time_base
        if tb is None:
            raise MediaError("the video stream has no time base", "corrupt_media")
        start: float | None = None
        end = 0.0
        last_dts: float | None = None
        try:
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                t = float(packet.pts * tb)
                if packet.dts is not None:
                    dts = float(packet.dts * tb)
                    if last_dts is not None and dts < last_dts - BACKWARD_JUMP_S:
                        raise MediaError(backward_jump_message(last_dts, dts), "corrupt_media")
                    last_dts = dts if last_dts is None else max(last_dts, dts)
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
