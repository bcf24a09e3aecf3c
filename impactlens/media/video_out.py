"""Rendering video outputs: the heatmap MP4 (H.264) and keyframe thumbnails."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from PIL import Image

from .heatmap import blend_heatmap, upsample_density

THUMBNAIL_LONG_SIDE = 320


def blended_frame(rgb: np.ndarray, grid: np.ndarray) -> Image.Image:
    image = Image.fromarray(rgb, "RGB")
    return blend_heatmap(image, upsample_density(grid, image.width, image.height))


class HeatmapVideoWriter:
    """Streams blended frames into an H.264 MP4 at the sampled rate; one frame in memory."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float) -> None:
        # faststart moves the index to the front so browsers can play while downloading.
        self._container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1000)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": "23"}
        self._stream.codec_context.time_base = 1 / rate
        self._n = 0

    def write(self, rgb: np.ndarray, grid: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(np.asarray(blended_frame(rgb, grid)), format="rgb24")
        frame.pts = self._n
        self._n += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> HeatmapVideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._container.close()


def thumbnail_jpeg(rgb: np.ndarray, grid: np.ndarray) -> bytes:
    image = blended_frame(rgb, grid)
    image.thumbnail((THUMBNAIL_LONG_SIDE, THUMBNAIL_LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def concat_segments(segments: list[str], dest: str | Path) -> int:
    """Joins H.264 MP4 segments written by HeatmapVideoWriter (same size and settings) without
    re-encoding: packets are copied and their timestamps shifted. Returns the frame count."""
    out = av.open(str(dest), mode="w", format="mp4", options={"movflags": "+faststart"})
    frames = 0
    try:
        out_stream = None
        offset = 0
        for path in segments:
            # Our own MP4 segments: the demuxer is named so nothing else could read them.
            with av.open(path, format="mov", options={"protocol_whitelist": "file"}) as src:
                stream = src.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(stream)
                end = offset
                for packet in src.demux(stream):
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    packet.pts = packet.pts + offset if packet.pts is not None else None
                    packet.dts = packet.dts + offset
                    end = max(end, (packet.pts or packet.dts) + (packet.duration or 0))
                    packet.stream = out_stream
                    out.mux(packet)
                    frames += 1
                offset = end
    finally:
        out.close()
    return frames
