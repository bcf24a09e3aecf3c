"""Small derived images for the dashboard's cards: never the original bytes."""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image

from .image_io import decode_image
from .video_io import iter_samples, probe

THUMB_SIDE = 320


def _jpeg(im: Image.Image, side: int) -> bytes:
    im = im.convert("RGB")
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80, optimize=True)
    return buf.getvalue()


def image_thumbnail(data: bytes, side: int = THUMB_SIDE, max_pixels: int = 100_000_000) -> bytes:
    """A JPEG whose longer side is at most ``side`` px, upright per EXIF.

    Decoded as the analysis decodes (`decode_image`): at a bounded size (a 9400x9400 16-bit
    PNG in ~250 MB, where a plain full-size decode and conversion took ~700 MB) and 16-bit,
    32-bit or float pictures scaled to 8 bits as `image_io.wide_range` says (a plain
    conversion clips them to white)."""
    return _jpeg(decode_image(data, max_pixels).image, side)


def video_thumbnail(path: str | Path, side: int = THUMB_SIDE) -> bytes:
    """The first instant of the analysed video stream, as a small JPEG, shown as a player
    shows it: turned upright (a phone video's card lay on its side) and at its display aspect
    (non-square pixels), decoded as the analysis samples it (media.video_io)."""
    info = probe(path, math.inf, 1 << 62)
    first = next(iter_samples(path, info, 1.0, side, math.inf))
    return _jpeg(Image.fromarray(first.rgb, "RGB"), side)
