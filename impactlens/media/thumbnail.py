"""Small derived images for the dashboard's cards: never the original bytes."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

THUMB_SIDE = 320


def _jpeg(im: Image.Image, side: int) -> bytes:
    im = im.convert("RGB")
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80, optimize=True)
    return buf.getvalue()


def image_thumbnail(data: bytes, side: int = THUMB_SIDE) -> bytes:
    """A JPEG whose longer side is at most ``side`` px, upright per EXIF."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced scale, much faster
        return _jpeg(ImageOps.exif_transpose(im), side)


def video_thumbnail(path: str | Path, side: int = THUMB_SIDE) -> bytes:
    """The first decodable frame of a video, as a small JPEG."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return _jpeg(frame.to_image(), side)  # type: ignore[no-untyped-call]
    raise ValueError("the video has no decodable frame")
