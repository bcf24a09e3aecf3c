"""Decides whether a file is an image or a video from its content, not its name."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from PIL import Image, UnidentifiedImageError

from .image_io import IMAGE_FORMATS, has_image_signature

Kind = Literal["image", "video"]
VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".3gp", ".wmv"}


def _image_signature(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return has_image_signature(head)


def detect_kind(path: str | Path) -> tuple[Kind, list[str]]:
    """('image' or 'video', warnings). Anything Pillow can identify is an image."""
    p = Path(path)
    try:
        with Image.open(p, formats=IMAGE_FORMATS) as im:
            fmt = im.format or "image"
    except Image.DecompressionBombError:
        return "image", []  # an image, too large: decoding refuses it with a clear code
    except (UnidentifiedImageError, OSError, ValueError, RuntimeError, TypeError):
        # RuntimeError, TypeError: Pillow's readers on broken files (AVIF, TIFF tags)
        if _image_signature(p):
            return "image", []
        return "video" if p.suffix.lower() in VIDEO_EXTENSIONS or p.suffix == "" else "image", []
    if p.suffix.lower() in VIDEO_EXTENSIONS:
        return "image", [f"the file is named {p.suffix} but holds a {fmt} image: analysed as an image"]
    return "image", []
