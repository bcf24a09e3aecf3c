"""Real short videos for the tests, encoded with PyAV: a textured background with moving
shapes and text, and a bright object that enters at a known time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

Frame = Callable[[int, float], np.ndarray]


def scene(width: int, height: int, enter_s: float = 2.0, box: tuple[int, int, int, int] | None = None) -> Frame:
    """Dim moving stripes and a text caption; from ``enter_s`` a white square with a red
    border (x, y, w, h = ``box``) is on screen."""
    bx, by, bw, bh = box or (width * 5 // 8, height // 4, width // 4, height // 3)
    yy, xx = np.mgrid[0:height, 0:width]

    def frame(i: int, t: float) -> np.ndarray:
        img = np.zeros((height, width, 3), np.uint8)
        img[..., 0] = 40 + 20 * np.sin((xx + 8 * i) / 23.0)
        img[..., 1] = 50 + 20 * np.cos((yy - 5 * i) / 17.0)
        img[..., 2] = 60
        pil = Image.fromarray(img)
        draw = ImageDraw.Draw(pil)
        draw.text((10 + i % 40, height - 30), "SALE 50%", fill=(200, 200, 80))
        if t >= enter_s:
            draw.rectangle((bx - 4, by - 4, bx + bw + 4, by + bh + 4), fill=(255, 0, 0))
            draw.rectangle((bx, by, bx + bw, by + bh), fill=(255, 255, 255))
        return np.asarray(pil)

    return frame


def grey_frames(width: int, height: int) -> Frame:
    """Frame i is uniformly grey at level 10 * i: which frame was sampled can be read back."""

    def frame(i: int, t: float) -> np.ndarray:
        return np.full((height, width, 3), min(255, 10 * i), np.uint8)

    return frame


def write_video(
    path: Path,
    seconds: float = 3.0,
    fps: int = 30,
    size: tuple[int, int] = (320, 240),
    frame: Frame | None = None,
    pts_ms: Sequence[int] | None = None,
    codec: str = "libx264",
    rotation: int | None = None,
    options: dict[str, str] | None = None,
    audio: bool = False,
    faststart: bool = False,
    pix_fmt: str = "yuv420p",
    fmt: str | None = None,
    sample_aspect: Fraction | None = None,
) -> Path:
    """Encodes frames at a constant rate, or at the given presentation times (ms) for VFR.
    ``fmt`` names the container when the suffix does not (e.g. "h264": a bare stream)."""
    w, h = size
    make = frame or scene(w, h)
    container_options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format=fmt, options=container_options) as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height = w, h
        s.pix_fmt = pix_fmt
        if sample_aspect is not None:
            s.codec_context.sample_aspect_ratio = sample_aspect
        s.options = {"preset": "ultrafast", **(options or {})}
        if pts_ms is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            s.set_display_rotation(rotation)
        a = c.add_stream("aac", rate=44100) if audio else None
        times = [p / 1000.0 for p in pts_ms] if pts_ms is not None else [i / fps for i in range(round(seconds * fps))]
        for i, t in enumerate(times):
            vf = av.VideoFrame.from_ndarray(make(i, t), format="rgb24")
            if pts_ms is not None:
                vf.pts, vf.time_base = pts_ms[i], Fraction(1, 1000)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            _write_tone(c, a, seconds)
    return path


def _write_tone(c: av.container.OutputContainer, a: av.audio.stream.AudioStream, seconds: float) -> None:
    n = 1024
    for k in range(int(seconds * 44100 / n)):
        t = (np.arange(n) + k * n) / 44100.0
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        af = av.AudioFrame.from_ndarray(np.repeat(samples, 2, axis=0), format="fltp", layout="stereo")
        af.sample_rate = 44100
        af.pts = k * n
        for p in a.encode(af):
            c.mux(p)
    for p in a.encode():
        c.mux(p)


def write_audio_only(path: Path, seconds: float = 2.0) -> Path:
    with av.open(str(path), mode="w") as c:
        a = c.add_stream("aac", rate=44100)
        _write_tone(c, a, seconds)
    return path


def write_cover_art_audio(path: Path, seconds: float = 2.0) -> Path:
    """Audio with a JPEG cover: an MP4 whose only video stream is an attached picture."""
    from tests.media_cases import jpeg, photo

    with av.open(str(path), mode="w", format="mp4") as c:
        a = c.add_stream("aac", rate=44100)
        v = c.add_stream("mjpeg", rate=1)
        v.width, v.height, v.pix_fmt = 64, 64, "yuvj420p"
        v.disposition = av.stream.Disposition.attached_pic
        c.start_encoding()
        packet = av.Packet(jpeg(photo(64, 64)))
        packet.stream, packet.pts, packet.dts = v, 0, 0
        c.mux(packet)
        _write_tone(c, a, seconds)
    return path


def write_two_video_streams(path: Path, small: tuple[int, int], large: tuple[int, int], frames: int = 10) -> Path:
    """A Matroska file whose first video stream is a small preview and second the picture."""
    with av.open(str(path), mode="w") as c:
        streams = []
        for w, h in (small, large):
            s = c.add_stream("ffv1", rate=10)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            streams.append(s)
        for i in range(frames):
            for s in streams:
                vf = av.VideoFrame.from_ndarray(np.full((s.height, s.width, 3), 20 * (i + 1) % 256, np.uint8), "rgb24")
                for p in s.encode(vf):
                    c.mux(p)
        for s in streams:
            for p in s.encode():
                c.mux(p)
    return path
