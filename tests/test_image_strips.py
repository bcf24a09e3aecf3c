"""The 8-bit conversion works a strip of rows at a time (so a 100 MP float picture peaks near
its decoded size, not ~60 MB past it); the strips give exactly the whole picture's result."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from impactlens.media.image_io import STRIP_PIXELS, WIDE_STRIP_PIXELS, _eight_bit

W, H = 301, 203  # odd sizes: the last strip and the reduction's edge are partial


def _ramp() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.random((H, W)) * np.linspace(0.2, 1.0, W)[None, :]


def _float_with_specials() -> Image.Image:
    a = (_ramp() * 3.0 - 1.0).astype(np.float32)  # outside 0-1: stretched over its range
    a[5, 5], a[6, 6], a[7, 7] = np.nan, np.inf, -np.inf
    return Image.fromarray(a, "F")


def _keyed_grey() -> Image.Image:
    im = Image.fromarray((_ramp() * 255).astype(np.uint8), "L")
    im.info["transparency"] = int(np.asarray(im)[10, 10])
    return im


def _rgba() -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (H, W, 4), dtype=np.uint8), "RGBA")


PICTURES: dict[str, Callable[[], Image.Image]] = {
    "float": _float_with_specials,
    "float-0-1": lambda: Image.fromarray(_ramp().astype(np.float32), "F"),
    "int32": lambda: Image.fromarray((_ramp() * 1e7 - 2e6).astype(np.int32), "I"),
    "int32-16-bit": lambda: Image.fromarray((_ramp() * 65535).astype(np.int32), "I"),
    "16-bit": lambda: Image.fromarray((_ramp() * 65535).astype(np.uint16)),  # I;16
    "rgba": _rgba,
    "keyed-grey": _keyed_grey,
    "rgb": lambda: _rgba().convert("RGB"),
}


@pytest.mark.parametrize("factor", [1, 3])
@pytest.mark.parametrize("kind", sorted(PICTURES))
def test_strips_give_the_whole_picture_result_exactly(kind: str, factor: int) -> None:
    im = PICTURES[kind]()
    whole = _eight_bit(im, factor, [], strip_pixels=W * H * 2)
    for pixels in (1, W * 7, W * 50):  # one row (or `factor` rows), 7 rows, 50 rows a strip
        strips = _eight_bit(im, factor, [], strip_pixels=pixels)
        assert strips.mode == whole.mode and strips.size == whole.size
        assert np.array_equal(np.asarray(strips), np.asarray(whole)), (kind, factor, pixels)


def test_wide_and_transparent_pictures_take_the_smaller_strips() -> None:
    """Their strips hold float64 / RGBA copies: at 2 M pixels a strip the 100 MP float
    TIFF peaked at 485 MB RSS, at 256 K pixels 426 MB (decoded frame: 400 MB)."""
    assert WIDE_STRIP_PIXELS * 8 <= STRIP_PIXELS
    assert WIDE_STRIP_PIXELS * 8 * 4 <= 16 << 20  # a strip's float64 copy and a few more: < 16 MB
