"""A PNG damaged where Pillow does not look (a bad checksum in or after the picture data, no
IEND) still decodes whole: it is analysed, with a note saying the file is damaged. A PNG cut
inside its picture data stays refused."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from impactlens.errors import MediaError
from impactlens.media.image_io import decode_image
from tests.api_support import make_world
from tests.media_cases import _encode, photo


def _png() -> bytes:
    return _encode(photo(96, 64), "PNG")


def _chunks(data: bytes) -> dict[bytes, tuple[int, int]]:
    """Chunk type -> (offset, data length) of its first occurrence."""
    found: dict[bytes, tuple[int, int]] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        found.setdefault(data[pos + 4 : pos + 8], (pos, length))
        pos += 12 + length
    return found


def _bad_crc(data: bytes, kind: bytes) -> bytes:
    pos, length = _chunks(data)[kind]
    out = bytearray(data)
    out[pos + 8 + length] ^= 0xFF
    return bytes(out)


def _with_text_after_picture(data: bytes) -> bytes:
    body = b"tEXt" + b"Comment\0made after the picture"
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    iend = _chunks(data)[b"IEND"][0]
    return data[:iend] + chunk + data[iend:]


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(decode_image(data, 10**8).image)


def test_a_sound_png_has_no_note() -> None:
    assert decode_image(_png(), 10**8).warnings == []
    assert decode_image(_with_text_after_picture(_png()), 10**8).warnings == []


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("bad-idat-crc", "bad checksum in its IDAT chunk"),
        ("bad-iend-crc", "bad checksum in its IEND chunk"),
        ("bad-text-crc-after-picture", "bad checksum in its tEXt chunk"),
        ("no-iend", "ends without its IEND chunk"),
        ("cut-inside-iend", "ends without its IEND chunk"),
    ],
)
def test_a_damaged_png_that_decodes_whole_is_analysed_with_a_note(damage: str, words: str) -> None:
    """All five decoded without a word before."""
    good = _png()
    iend = _chunks(good)[b"IEND"][0]
    data = {
        "bad-idat-crc": lambda: _bad_crc(good, b"IDAT"),
        "bad-iend-crc": lambda: _bad_crc(good, b"IEND"),
        "bad-text-crc-after-picture": lambda: _bad_crc(_with_text_after_picture(good), b"tEXt"),
        "no-iend": lambda: good[:iend],
        "cut-inside-iend": lambda: good[: iend + 5],
    }[damage]()
    decoded = decode_image(data, 10**8)
    assert len(decoded.warnings) == 1 and words in decoded.warnings[0], decoded.warnings
    assert np.array_equal(np.asarray(decoded.image), _pixels(good))


def test_a_png_cut_inside_its_picture_data_is_still_refused() -> None:
    good = _png()
    pos, length = _chunks(good)[b"IDAT"]
    with pytest.raises(MediaError) as err:
        decode_image(good[: pos + 8 + length // 2], 10**8)
    assert err.value.code == "corrupt_image"


def test_an_uploaded_png_with_a_bad_checksum_is_analysed_and_its_result_says_so(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    o = world.add_org("acme")
    world.campaign(o)
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, _bad_crc(_png(), b"IDAT"), filename="ad.png")
    assert r.status_code == 202, r.text
    world.run_jobs()
    res = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers)
    assert res.status_code == 200, res.text
    assert any("bad checksum in its IDAT chunk" in w for w in res.json()["analysis"]["warnings"])
