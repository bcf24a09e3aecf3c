"""Decoding of every kind of broken or unusual image an upload can be."""

import pytest

from impactlens.errors import MediaError
from impactlens.media.image_io import decode_image
from tests import media_cases as mc

LIMIT = 100_000_000


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"this is a text file, not an image\n" * 10, "unsupported_media"),
        (mc.truncated_jpeg(), "corrupt_image"),
        (mc.huge_png_header(), "image_too_large"),
    ],
    ids=["zero-size", "not-an-image", "truncated", "30000x30000"],
)
def test_unreadable_inputs_raise_a_media_error_with_a_precise_code(data, code):
    with pytest.raises(MediaError) as err:
        decode_image(data, LIMIT)
    assert err.value.code == code


def test_a_one_pixel_image_is_refused_as_too_small():
    from PIL import Image

    with pytest.raises(MediaError) as err:
        decode_image(mc._encode(Image.new("RGB", (1, 1)), "PNG"), LIMIT)
    assert err.value.code == "image_too_small"


def test_the_pixel_limit_comes_from_the_caller():
    with pytest.raises(MediaError) as err:
        decode_image(mc.jpeg(), max_pixels=320 * 240 - 1)
    assert err.value.code == "image_too_large"


@pytest.mark.parametrize(
    ("data", "mode", "size", "warning"),
    [
        (mc.cmyk_jpeg(), "CMYK", (320, 240), "CMYK"),
        (mc.png16(), "I;16", (200, 100), "8 bits"),
        (mc.palette_alpha_png(), "P", (64, 48), "transparent"),
        (mc.animated_gif(), "P", (80, 60), "first frame"),
        (mc.exif_rotated_jpeg(), "RGB", (240, 320), "EXIF orientation 6"),
    ],
    ids=["cmyk", "16-bit", "palette+alpha", "animated-gif", "exif-rotated"],
)
def test_unusual_images_decode_to_rgb_with_a_note(data, mode, size, warning):
    decoded = decode_image(data, LIMIT)
    assert decoded.image.mode == "RGB"
    assert decoded.original_mode.startswith(mode[:3])
    assert (decoded.width, decoded.height) == size == decoded.image.size
    assert any(warning in w for w in decoded.warnings), decoded.warnings


def test_sixteen_bit_values_are_scaled_not_clipped():
    import numpy as np

    arr = np.asarray(decode_image(mc.png16(), LIMIT).image)
    assert arr[0, 0, 0] == 0 and arr[-1, -1, 0] == 255
    assert 100 < arr[50, 100, 0] < 160  # mid-ramp stays mid-grey
