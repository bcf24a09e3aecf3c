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


def _ramp_rgb(width: int, height: int):
    import numpy as np
    from PIL import Image

    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return Image.fromarray(np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], -1).astype(np.uint8), "RGB")


def test_a_large_png_is_worked_on_at_a_bounded_size_and_redrawn_at_full_size():
    import numpy as np

    from impactlens.media.image_io import WORK_LONG_SIDE

    im = _ramp_rgb(WORK_LONG_SIDE * 2 + 100, 300)
    decoded = decode_image(mc._encode(im, "PNG"), LIMIT)
    assert (decoded.width, decoded.height) == im.size
    assert max(decoded.image.size) <= WORK_LONG_SIDE and decoded.image.mode == "RGB"
    assert decoded.image.width == im.width // 3  # reduced by a whole factor
    full = decoded.full_image()
    assert full.size == im.size
    assert np.array_equal(np.asarray(full), np.asarray(im))


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_with_its_orientation():
    import io

    from PIL import Image

    from impactlens.media.image_io import WORK_LONG_SIDE

    im = _ramp_rgb(4400, 3000)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    decoded = decode_image(buf.getvalue(), LIMIT)
    assert (decoded.width, decoded.height) == (3000, 4400)
    assert max(decoded.image.size) <= WORK_LONG_SIDE
    assert decoded.image.width < decoded.image.height
    assert any("EXIF orientation 6" in w for w in decoded.warnings)
    assert decoded.full_image().size == (3000, 4400)


def test_a_large_sixteen_bit_png_is_scaled_not_clipped_at_both_sizes():
    import numpy as np
    from PIL import Image

    row = np.linspace(0, 65535, 4200).astype(np.uint16)
    data = mc._encode(Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (64, 4200)))), "PNG")
    decoded = decode_image(data, LIMIT)
    small = np.asarray(decoded.image)[..., 0]
    full = np.asarray(decoded.full_image())
    assert decoded.full_image().mode == "L" and full.shape == (64, 4200)
    assert full[0, 0] == 0 and full[0, -1] == 255 and 120 < full[0, 2100] < 136
    assert small[0, 0] < 5 and small[0, -1] > 250


def _tiff(arr) -> bytes:
    from PIL import Image

    return mc._encode(Image.fromarray(arr), "TIFF")


def _ramp(lo: float, hi: float, dtype: str):
    import numpy as np

    return np.tile(np.linspace(lo, hi, 64), (20, 1)).astype(dtype)


@pytest.mark.parametrize(
    ("arr", "black", "white"),
    [
        (_ramp(0, 4_000_000, "int32"), 0, 4_000_000),  # past 16 bits: its own range
        (_ramp(-1000, 1000, "int32"), -1000, 1000),  # signed: its own range
        (_ramp(0, 60_000, "int32"), 0, 65535),  # a 16-bit picture in an int32 file
        (_ramp(0, 200, "int32"), 0, 255),  # an 8-bit picture in an int32 file
        (_ramp(0, 0.5, "float32"), 0, 1),  # normalised float
        (_ramp(-3, 7, "float32"), -3, 7),  # other float data: its own range
        (_ramp(0, 30_000, "uint16"), 0, 65535),  # 16-bit: the format's range, dark stays dark
    ],
    ids=["int32-wide", "int32-signed", "int32-16bit", "int32-8bit", "float-0-1", "float-other", "uint16-dark"],
)
def test_wide_tiffs_map_their_real_range_to_8_bits(arr, black, white):
    import numpy as np

    decoded = decode_image(_tiff(arr), LIMIT)
    got = np.asarray(decoded.image)
    expected = np.clip(np.floor((arr.astype(np.float64) - black) * (255.0 / (white - black)) + 0.5), 0, 255)
    assert np.array_equal(got[..., 0], expected) and np.array_equal(got[..., 0], got[..., 2])
    assert decoded.full_image().size == (64, 20)
    assert any("8 bits" in w for w in decoded.warnings), decoded.warnings


def test_a_sixteen_bit_png_keeps_its_formats_range():
    import numpy as np
    from PIL import Image

    arr = _ramp(0, 30_000, "uint16")
    decoded = decode_image(mc._encode(Image.fromarray(arr), "PNG"), LIMIT)
    assert decoded.original_mode == "I;16"
    assert np.asarray(decoded.image)[0, -1, 0] == round(30_000 * 255 / 65535)  # 117: dark stays dark
