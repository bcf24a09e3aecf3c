"""Real media files for the bad-input cases, made with Pillow (and by hand where Pillow won't)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def photo(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, np.full_like(xx, 90.0)], -1)
    noise = rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def jpeg(im: Image.Image | None = None) -> bytes:
    return _encode(im or photo(), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    data = jpeg()
    return data[: len(data) // 2]


def huge_png_header(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG signature + IHDR announcing a huge image, with a tiny (bogus) IDAT."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def cmyk_jpeg() -> bytes:
    return _encode(photo().convert("CMYK"), "JPEG")


def png16() -> bytes:
    arr = (np.linspace(0, 65535, 200 * 100).reshape(100, 200)).astype(np.uint16)
    return _encode(Image.fromarray(arr), "PNG")


def palette_alpha_png() -> bytes:
    im = photo(64, 48).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _encode(im, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [photo(80, 60, seed=i).convert("P") for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def exif_rotated_jpeg() -> bytes:
    """Stored 320x240 landscape, EXIF orientation 6: displayed as 240x320 portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(photo(320, 240), "JPEG", exif=exif.tobytes())


def many_page_tiff(pages: int) -> bytes:
    """A TIFF whose one small page's IFD is repeated ``pages`` times in a chain: ~114 bytes a
    page, so a 5.7 MB file holds 50,000 pages."""
    data = bytearray(_encode(Image.new("L", (64, 48), 7), "TIFF"))
    first = struct.unpack("<I", data[4:8])[0]
    entries = struct.unpack("<H", data[first : first + 2])[0]
    ifd = bytes(data[first : first + 2 + 12 * entries])
    out = bytearray(data[:first])
    size = len(ifd) + 4
    for i in range(pages):
        following = len(data[:first]) + (i + 1) * size if i < pages - 1 else 0
        out += ifd + struct.pack("<I", following)
    return bytes(out)
