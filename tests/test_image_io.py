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


def _oriented(fmt: str, orientation: int, size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    kw = {"lossless": True} if fmt == "WEBP" else {"quality": 95} if fmt == "JPEG" else {}
    return mc._encode(mc.photo(*size), fmt, exif=exif.tobytes(), **kw)


def _upright(data: bytes):
    """Pillow's own reading of the file as displayed (its TIFF reader turns it while loading)."""
    import io

    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_shown_upright_once(fmt: str, orientation: int) -> None:
    """TIFF was turned twice (Pillow turns it while loading): orientation 6 came out upside
    down at the stored 64x48 instead of 48x64."""
    import numpy as np

    data = _oriented(fmt, orientation)
    decoded = decode_image(data, LIMIT)
    want = _upright(data)
    assert (decoded.height, decoded.width) == want.shape[:2] == ((64, 48) if orientation >= 5 else (48, 64))
    assert np.array_equal(np.asarray(decoded.image), want)
    assert any(f"EXIF orientation {orientation} applied" in w for w in decoded.warnings) is (orientation != 1)


def test_a_large_oriented_tiff_is_redrawn_upright_at_full_size() -> None:
    import numpy as np

    data = _oriented("TIFF", 6, size=(2100, 40))  # reduced for the analysis, redrawn for the heatmap
    decoded = decode_image(data, LIMIT)
    assert (decoded.width, decoded.height) == (40, 2100) and decoded.image.size == (20, 1050)
    assert np.array_equal(np.asarray(decoded.full_image().convert("RGB")), _upright(data))


def test_an_invalid_exif_orientation_is_ignored_and_said_so() -> None:
    decoded = decode_image(_oriented("JPEG", 9), LIMIT)
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.warnings == ["EXIF orientation 9 is not a valid value: ignored"]


@pytest.mark.parametrize("size", [(16, 40_000), (50_000, 16), (17, 2049)])
def test_an_extreme_aspect_ratio_is_reduced_without_padding(size: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    decoded = decode_image(mc._encode(Image.new("RGB", size, (200, 120, 40)), "PNG"), LIMIT)
    assert (decoded.width, decoded.height) == size
    assert np.array_equal(np.unique(np.asarray(decoded.image).reshape(-1, 3), axis=0), [[200, 120, 40]])


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "TIFF", "GIF"])
@pytest.mark.parametrize("keep", [40, 0.5, 0.9])
def test_a_cut_image_is_corrupt_whichever_part_is_missing(fmt: str, keep: float) -> None:
    """A header cut short was 'not a recognised image format' (PNG, TIFF, GIF: 415)."""
    data = mc._encode(mc.photo(320, 240), fmt)
    with pytest.raises(MediaError) as err:
        decode_image(data[: int(keep if keep > 1 else len(data) * keep)], LIMIT)
    assert err.value.code == "corrupt_image", err.value.message


def test_every_frame_count_note_names_the_format_and_the_first_frame() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    mc.photo(64, 48).save(buf, "TIFF", save_all=True, append_images=[mc.photo(64, 48, 1)])
    decoded = decode_image(buf.getvalue(), LIMIT)
    assert decoded.warnings == ["TIFF image with several frames (animated or multi-page): the first frame was analysed"]
    assert decode_image(mc.animated_gif(), LIMIT).warnings[0].startswith("GIF image with several frames")
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 2


def test_a_tiff_of_fifty_thousand_pages_is_not_counted_page_by_page():
    """Counting walked every page against all before it: 45 s for this 5.7 MB upload."""
    import time

    data = mc.many_page_tiff(50_000)
    start = time.perf_counter()
    decoded = decode_image(data, LIMIT)
    assert time.perf_counter() - start < 5.0
    assert decoded.warnings == ["TIFF image with several frames (animated or multi-page): the first frame was analysed"]


def _raw_orientation_exif(field_type: int, count: int, value: bytes) -> bytes:
    """An EXIF block whose one tag is the orientation, with the given TIFF field type."""
    import struct

    entry = struct.pack("<HHI", 0x0112, field_type, count) + value.ljust(4, b"\0")[:4]
    return b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0)


@pytest.mark.parametrize(
    ("field_type", "count", "value", "shown"),
    [(2, 4, b"abc\0", "'abc'"), (7, 4, b"\x06\0\0\0", "\"b'"), (4, 1, (2**31).to_bytes(4, "little"), "2147483648")],
    ids=["text", "undefined-bytes", "huge"],
)
def test_an_orientation_tag_of_the_wrong_type_is_ignored_not_a_failure(field_type, count, value, shown) -> None:
    """The tag typed as text failed the decode: the API answered 422 invalid_request 'invalid
    literal for int()' for an analysable picture."""
    data = mc._encode(mc.photo(64, 48), "JPEG", exif=_raw_orientation_exif(field_type, count, value))
    decoded = decode_image(data, LIMIT)
    assert (decoded.width, decoded.height) == (64, 48)
    [note] = decoded.warnings
    assert note.startswith(f"EXIF orientation {shown}") and note.endswith("is not a valid value: ignored")


@pytest.mark.parametrize("size", [(64, 48), (33, 17), (1000, 16)])
def test_an_avifs_av1_picture_size_is_read_without_decoding(size: tuple[int, int]) -> None:
    import io

    from PIL import Image

    from impactlens.media.avif import av1_frame_sizes

    assert set(av1_frame_sizes(mc._encode(mc.photo(*size), "AVIF"))) == {size}
    frames = [mc.photo(*size, seed=i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "AVIF", save_all=True, append_images=frames[1:])  # a sequence: its track's av1C
    assert set(av1_frame_sizes(buf.getvalue())) == {size}
    assert av1_frame_sizes(mc._encode(mc.photo(*size), "PNG")) == []
    assert Image.open(io.BytesIO(buf.getvalue())).size == size


def test_an_avif_understating_its_size_is_refused_before_its_picture_is_decoded() -> None:
    """Its 'ispe' box said 64x64 over a 2048x2048 frame: Pillow reported 64x64, libavif decoded
    the whole frame and a 64x64 corner was analysed (at 16384x16384: 581 MB, 3.9 s)."""
    import struct

    from PIL import Image

    data = bytearray(mc._encode(Image.new("RGB", (2048, 2048), (200, 120, 40)), "AVIF", quality=30, speed=10))
    at = data.index(b"ispe")
    data[at + 8 : at + 16] = struct.pack(">II", 64, 64)
    with pytest.raises(MediaError) as err:
        decode_image(bytes(data), 1_000_000)
    assert err.value.code == "image_too_large" and "2048x2048 AV1 picture" in err.value.message
    assert decode_image(bytes(data), 2048 * 2048).width == 64  # within the limit: Pillow's size stands


@pytest.mark.parametrize(
    ("mode", "key", "fg", "want"),
    [
        ("RGB", (255, 0, 255), (10, 120, 200), (10, 120, 200)),
        ("L", 0, 90, (90, 90, 90)),
        ("I;16", 0, 30000, (117,) * 3),
    ],
)
def test_a_colour_keyed_png_shows_its_keyed_out_background_as_white(mode, key, fg, want) -> None:
    """A PNG's tRNS colour key on a grey or RGB picture: the keyed-out background of a logo was
    analysed as its key colour (magenta, black) instead of the page behind it."""
    import numpy as np
    from PIL import Image

    im = Image.new(mode, (64, 48), key)
    im.paste(Image.new(mode, (32, 48), fg), (32, 0))
    decoded = decode_image(mc._encode(im, "PNG", transparency=key), LIMIT)
    arr = np.asarray(decoded.image)
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[0, -1]) == want
    assert "transparent pixels composited over white" in decoded.warnings
