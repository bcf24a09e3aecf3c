"""Safe image decoding: every way an upload can be broken ends in a MediaError with a code.

Memory: a small file can hold a huge frame (a 168 KB PNG of 9400x9400 16-bit pixels). The
models never look at more than a few hundred pixels a side, so what the analysis works on
is decoded at a bounded size: JPEG is decoded at a reduced DCT scale (draft), any other
format is decoded once and then converted to 8 bits and box-reduced strip by strip, never
as a float copy of the full frame. The full-resolution picture is decoded again only for
the heatmap drawn over it (`DecodedImage.full_image`).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import MediaError
from .avif import av1_frame_sizes
from .png_check import png_damage

MIN_SIDE = 16
# Long side of the picture the analysis works on: the models and detectors resize to at
# most 736 px, and clutter to 256 px; larger images are reduced by a whole factor.
WORK_LONG_SIDE = 2048
# Pixels converted at a time, so a conversion's temporaries stay at a few MB. 16/32-bit,
# float and transparent pictures take smaller strips: their conversion holds several
# float64 or RGBA copies of a strip next to a decoded frame already at 4 bytes a pixel
# (400 MB at the 100 MP limit), and 2 M-pixel strips took the peak 57 MB past that.
STRIP_PIXELS = 1 << 21
WIDE_STRIP_PIXELS = 1 << 18
# The formats decoded (Pillow's names). Pillow opens ~40, among them EPS, which it renders by
# running Ghostscript wherever that is installed, and legacy or scientific formats no ad
# comes in; anything else is unsupported_media before a decoder runs.
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "BMP", "TIFF")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Signatures of the decoded formats that no video container starts with: a file carrying one
# whose header Pillow refuses (cut short, a text chunk that inflates past its limit) is a
# broken image, refused with an image's code, not taken for a video or an unknown format.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
_AVIF_BRANDS = (b"avif", b"avis")


def has_image_signature(head: bytes) -> bool:
    """Whether the file's first 12 bytes are those of a decoded image format (AVIF's ftyp
    box is told from a video's by its brand)."""
    return (
        head.startswith(IMAGE_SIGNATURES)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS)
    )


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied; long side at most WORK_LONG_SIDE
    format: str
    original_mode: str
    width: int  # of the full picture, EXIF orientation applied
    height: int
    warnings: list[str] = field(default_factory=list)
    data: bytes | None = field(default=None, repr=False)  # the file, to decode at full size again
    orientation: int | None = None  # EXIF orientation, already applied to `image`

    def full_image(self) -> Image.Image:
        """The picture at (width, height), 8-bit "L" or "RGB": what a heatmap is drawn over."""
        if self.image.size == (self.width, self.height) or self.data is None:
            return self.image
        im = _open(self.data)
        _load(im)
        return _orient(_eight_bit(im, 1, []), self.orientation)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orient(im: Image.Image, orientation: int | None) -> Image.Image:
    """EXIF orientation applied (as ImageOps.exif_transpose does, on an image without EXIF)."""
    method = _TRANSPOSE.get(orientation or 1)
    return im.transpose(method) if method is not None else im


def _open(data: bytes) -> Image.Image:
    """The image's header read (nothing decoded). The size limit is the caller's
    (`max_pixels`, checked before any decode): Pillow's own warning at 89.5 M pixels would
    refuse images the documented 100 M limit allows; its error (twice that) still holds."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except UnidentifiedImageError as exc:
        if has_image_signature(data[:12]):
            raise MediaError("the image header is cut short or corrupt", "corrupt_image") from exc
        raise MediaError("not a recognised image format", "unsupported_media") from exc
    except Image.DecompressionBombError as exc:
        raise MediaError(f"image too large to decode safely: {exc}", "image_too_large") from exc
    except (OSError, ValueError, SyntaxError, RuntimeError, TypeError) as exc:
        # ValueError: e.g. a PNG text chunk that inflates past Pillow's limit (a text bomb);
        # RuntimeError: the AVIF reader on a broken item; TypeError: a tag of the wrong type.
        raise MediaError(f"cannot read image header: {exc}", "corrupt_image") from exc


def _load(im: Image.Image) -> None:
    try:
        im.seek(0)
        im.load()
    except (OSError, SyntaxError, ValueError, RuntimeError, TypeError) as exc:
        # RuntimeError: AVIF data that does not decode; TypeError: a TIFF whose strip offsets
        # are typed as fractions (Pillow's reader fails on them): both ended as 500s.
        raise MediaError(f"the image data is truncated or corrupt: {exc}", "corrupt_image") from exc


def _is_wide(mode: str) -> bool:
    return mode in ("I", "F") or mode.startswith("I;16")


def wide_range(mode: str, lo: float, hi: float) -> tuple[float, float]:
    """The values a 16/32-bit or float picture shows as black and white, from its mode and
    the range (lo, hi) of its finite pixels.

    16-bit modes use their format's full range (0-65535): a dark 16-bit photo stays dark.
    A 32-bit integer picture ("I") whose values fit 0-255 or 0-65535 is an 8- or 16-bit
    picture in a wider container (Pillow's own L->I conversion, 16-bit data written as int32
    TIFF by other tools), so it gets that range; anything else (negative values, or past
    65535) has no conventional white, and scaling it to 0-65535 or to the int32 range turned
    it white or black, so its own range is stretched to 0-255. A float picture within 0-1
    follows the usual normalised convention; other float data (HDR, measurements) is
    stretched over its range."""
    if mode.startswith("I;16"):
        return 0.0, 65535.0
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if mode == "I" and lo >= 0.0 and hi <= 65535.0:
        return 0.0, 255.0 if hi <= 255.0 else 65535.0
    return lo, hi


def _wide_to_8bit(mode: str, im: Image.Image) -> Callable[[np.ndarray], np.ndarray]:
    """Per-strip scaling of a 16/32-bit or float image to 8 bits (the whole image's range)."""
    if mode.startswith("I;16"):
        # The format's range, whatever the pixels': and Pillow has no extrema for I;16B (a
        # big-endian TIFF was refused 'image has wrong mode').
        black, white = wide_range(mode, 0.0, 65535.0)
    else:
        lo, hi = (float(v) for v in cast(tuple[float, float], im.getextrema()))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = _finite_range(im)  # a NaN or an infinity would black out every pixel
        black, white = wide_range(mode, lo, hi)
    span = white - black or 1.0

    def scale(a: np.ndarray) -> np.ndarray:
        # NaN (no data) and -inf show black, +inf white; nearest 8-bit level. In place: one
        # float64 copy of the strip.
        v = a.astype(np.float64)
        v -= black
        v *= 255.0 / span
        v += 0.5
        np.nan_to_num(v, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        np.clip(v, 0, 255, out=v)
        return v.astype(np.uint8)

    return scale


def _finite_range(im: Image.Image) -> tuple[float, float]:
    """The range of a float image's finite pixels, a strip at a time ((0, 0) when none is)."""
    lo, hi = math.inf, -math.inf
    w, h = im.size
    rows = max(1, STRIP_PIXELS // max(1, w))
    for y in range(0, h, rows):
        a = np.asarray(im.crop((0, y, w, min(y + rows, h))), np.float32)
        finite = a[np.isfinite(a)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


def _eight_bit(im: Image.Image, factor: int, notes: list[str], strip_pixels: int | None = None) -> Image.Image:
    """8-bit L or RGB, transparency over white, reduced by `factor`, one strip of rows at a
    time (of about `strip_pixels`, by default STRIP_PIXELS, WIDE_STRIP_PIXELS for wide or
    transparent pictures)."""
    mode = im.mode
    scale = _wide_to_8bit(mode, im) if _is_wide(mode) else None
    if scale is not None:
        notes.append(f"{mode} image scaled to 8 bits" if mode != "F" else "floating-point image rescaled to 8 bits")
    w, h = im.size
    out_mode = "L" if scale is not None or mode in ("L", "1", "LA", "La") else "RGB"
    # A colour key (PNG tRNS on a grey, RGB or palette picture: "transparency" in info) is
    # transparency too: a grey or RGB logo's keyed-out background was analysed as its key
    # colour (black, magenta) instead of the page behind it.
    key = im.info.get("transparency") if mode not in _ALPHA_MODES else None
    if mode in _ALPHA_MODES or key is not None:
        # Attention models see what a viewer sees: transparency over a white page.
        notes.append("transparent pixels composited over white")
    out = Image.new(out_mode, (max(1, w // factor), max(1, h // factor)))
    if strip_pixels is None:
        plain = scale is None and mode not in _ALPHA_MODES and key is None
        strip_pixels = STRIP_PIXELS if plain else WIDE_STRIP_PIXELS
    rows = max(factor, strip_pixels // max(1, w) // factor * factor)
    for y0 in range(0, out.height * factor, rows):
        strip = im.crop((0, y0, out.width * factor, min(y0 + rows, out.height * factor)))
        if scale is not None:
            raw = np.asarray(strip)
            grey = scale(raw)
            if isinstance(key, int):
                grey[raw == key] = 255
            strip = Image.fromarray(grey, "L")
        elif strip.mode in _ALPHA_MODES or key is not None:
            rgba = strip.convert("RGBA")
            strip = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        strip = strip.convert(out_mode)
        out.paste(strip.reduce(factor) if factor > 1 else strip, (0, y0 // factor))
    return out


def decode_image(source: str | Path | bytes, max_pixels: int) -> DecodedImage:
    """Decode an image file or bytes, refusing anything that cannot be analysed honestly."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data:
        raise MediaError("the file is empty (0 bytes)", "empty_file")
    damage = png_damage(data)  # before Pillow: it refuses a flood of chunks Pillow would walk
    im = _open(data)
    width, height = im.size
    if width * height > max_pixels:
        raise MediaError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}",
            "image_too_large",
        )
    if min(width, height) < MIN_SIDE:
        raise MediaError(f"image is {width}x{height}; both sides must be >= {MIN_SIDE} px", "image_too_small")
    if im.format == "AVIF":  # its stated size is free text; the AV1 stream's is what gets decoded
        for w, h in av1_frame_sizes(data):
            if w * h > max_pixels:
                raise MediaError(
                    f"image says {width}x{height} but holds a {w}x{h} AV1 picture; the limit is {max_pixels:,} pixels",
                    "image_too_large",
                )
    notes: list[str] = []
    frames = _frames(im)
    if frames != 1:
        # GIF/WebP/AVIF animations, multi-page TIFFs, MPO's second picture: the first is the
        # still an ad shows where it cannot play, and the one analysed.
        count = "several" if frames is None else str(frames)
        notes.append(f"{im.format} image with {count} frames (animated or multi-page): the first frame was analysed")
    fmt, mode = im.format or "unknown", im.mode
    orientation, bad_orientation = _orientation(im)
    if bad_orientation is not None:
        notes.append(bad_orientation)
    if im.format == "JPEG" and max(width, height) > WORK_LONG_SIDE:
        # Decode at 1/2, 1/4 or 1/8 scale in the DCT domain, no smaller than the working size.
        target = math.ceil(max(width, height) / WORK_LONG_SIDE)
        im.draft(im.mode, (max(1, width // target), max(1, height // target)))
    _load(im)
    if damage is not None and im.format == "PNG":
        notes.append(damage)
    if im.format == "TIFF" and orientation is not None and 0x0112 not in getattr(im, "tag_v2", {0x0112: 0}):
        # Pillow turns a TIFF upright itself while loading it (and says so by dropping the
        # tag): turning it again showed orientation 6 upside down, at the unturned size.
        if orientation != 1:
            notes.append(f"EXIF orientation {orientation} applied")
        width, height, orientation = *im.size, None
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    # A whole factor, at most the short side: a 16x40000 banner reduced by 20 took 4 columns
    # of padding into every pixel (a grey of 200 came out 160).
    factor = max(1, min(math.ceil(max(im.size) / WORK_LONG_SIDE), min(im.size)))
    small = _eight_bit(im, factor, notes)
    del im
    oriented = _orient(small, orientation)
    if orientation not in (None, 1):
        notes.append(f"EXIF orientation {orientation} applied")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    rgb = oriented.convert("RGB") if oriented.mode != "RGB" else oriented
    return DecodedImage(rgb, fmt, mode, width, height, notes, data, orientation)


def _frames(im: Image.Image) -> int | None:
    """How many frames the file holds; None for "more than one" where counting costs more
    than the decode: Pillow walks a TIFF's pages checking each against all before it (a
    5.7 MB TIFF of 50,000 one-line pages took 45 s to count), and a GIF's frame by frame in
    Python (2,000,000 one-pixel frames in 34 MB: ~7 s). WebP, AVIF and MPO say it in their
    headers. A broken later frame is no reason to refuse the first."""
    try:
        if not getattr(im, "is_animated", False):
            return 1
        return None if im.format in ("TIFF", "GIF") else int(getattr(im, "n_frames", 1))
    except (OSError, EOFError, ValueError, SyntaxError):
        return 1


def _orientation(im: Image.Image) -> tuple[int | None, str | None]:
    """(EXIF orientation 1-8 or None, a note when the tag holds something else). Only an
    integer counts, as for Pillow's own exif_transpose (which turns TIFFs): the tag typed as
    text ('abc') failed the upload with a Python message, and its 9 said 'applied'."""
    try:
        value = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not fail the decode
        return None, None
    if value is None:
        return None, None
    if isinstance(value, int) and not isinstance(value, bool) and (value == 1 or value in _TRANSPOSE):
        return value, None
    shown = value if isinstance(value, int) else repr(str(value)[:20])
    return None, f"EXIF orientation {shown} is not a valid value: ignored"
