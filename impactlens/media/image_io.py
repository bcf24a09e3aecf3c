"""Safe image decoding: every way an upload can be broken ends in a MediaError with a code."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import MediaError

MIN_SIDE = 16


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied
    format: str
    original_mode: str
    width: int
    height: int
    warnings: list[str] = field(default_factory=list)


def _to_rgb(im: Image.Image, notes: list[str]) -> Image.Image:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        notes.append(f"{mode} image scaled to 8 bits")
    elif mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo or 1.0) * 255.0
        im = Image.fromarray(scaled.astype(np.uint8), "L")
        notes.append("floating-point image rescaled to 8 bits")
    if im.mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Attention models see what a viewer sees: transparency over a white page.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
        notes.append("transparent pixels composited over white")
    return im.convert("RGB") if im.mode != "RGB" else im


def decode_image(source: str | Path | bytes, max_pixels: int) -> DecodedImage:
    """Decode an image file or bytes, refusing anything that cannot be analysed honestly."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise MediaError("the file is empty (0 bytes)", "empty_file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise MediaError("not a recognised image format", "unsupported_media") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"image too large to decode safely: {exc}", "image_too_large") from exc
    except OSError as exc:
        raise MediaError(f"cannot read image header: {exc}", "corrupt_image") from exc
    width, height = im.size
    if width * height > max_pixels:
        raise MediaError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}",
            "image_too_large",
        )
    if min(width, height) < MIN_SIDE:
        raise MediaError(f"image is {width}x{height}; both sides must be >= {MIN_SIDE} px", "image_too_small")
    notes: list[str] = []
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        notes.append(f"animated image with {frames} frames: the first frame was analysed")
    fmt, mode = im.format or "unknown", im.mode
    try:
        im.seek(0)
        im.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"the image data is truncated or corrupt: {exc}", "corrupt_image") from exc
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    orientation = _orientation(im)
    oriented = ImageOps.exif_transpose(im)
    if orientation not in (None, 1):
        notes.append(f"EXIF orientation {orientation} applied")
    rgb = _to_rgb(oriented, notes)
    return DecodedImage(rgb, fmt, mode, rgb.width, rgb.height, notes)


def _orientation(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not fail the decode
        return None
    return int(value) if value is not None else None
