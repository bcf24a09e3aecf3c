"""The media path attacked on 2026-12-03: wide-range pictures, broken and odd files, through
the API (a precise 4xx JSON error, nothing stored) and the analysis itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from impactlens.media.thumbnail import image_thumbnail
from tests.api_support import World, make_world
from tests.media_cases import _encode, photo


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


def _grey() -> np.ndarray:
    """An 8-bit grey photo holding both 0 and 255, so a stretch over its range is exact."""
    g = np.asarray(photo(96, 64).convert("L")).copy()
    g[0, 0], g[0, 1] = 0, 255
    return g


# The same picture in wide containers, each at the scale its range says it is in.
WIDE = {
    "int32-past-16-bits": lambda g: _encode(Image.fromarray(g.astype(np.int32) * 16000), "TIFF"),
    "int32-signed": lambda g: _encode(Image.fromarray(g.astype(np.int32) * 1000 - 100_000), "TIFF"),
    "int32-16-bit-values": lambda g: _encode(Image.fromarray(g.astype(np.int32) * 257), "TIFF"),
    "float32-0-1": lambda g: _encode(Image.fromarray(g.astype(np.float32) / 255), "TIFF"),
    "png-16-bit": lambda g: _encode(Image.fromarray(g.astype(np.uint16) * 257), "PNG"),
}


def _analysed(world: World, data: bytes, name: str) -> dict[str, Any]:
    o = world.orgs["acme"]
    asset = world.asset(o, name)["asset"]
    r = world.upload(o, asset, data, filename=name)
    assert r.status_code == 202, r.text
    world.run_jobs()
    res = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers)
    assert res.status_code == 200, res.text
    a = res.json()["analysis"]
    return {k: a[k] for k in ("memorability", "saliency_peaks", "focus", "clutter", "auto_aois", "width", "height")}


@pytest.mark.parametrize("kind", sorted(WIDE))
def test_a_wide_range_picture_is_analysed_and_thumbnailed_as_the_8_bit_picture_it_holds(
    world: World, kind: str
) -> None:
    g = _grey()
    twin = _encode(Image.fromarray(g, "L"), "PNG")
    wide = WIDE[kind](g)
    assert _analysed(world, wide, f"{kind}.tif") == _analysed(world, twin, "twin.png")
    assert image_thumbnail(wide) == image_thumbnail(twin)


def _refused(world: World, data: bytes, status: int, code: str) -> dict[str, Any]:
    """Uploads ``data``: refused with (status, code) as JSON, nothing stored or queued."""
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, data, filename="upload.bin")
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert list(world.services.blobs.list("orgs/")) == []
    assert world.services.table.query("JOBQ#queued", index="GSI1").items == []
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["status"] == "awaiting_upload"
    return dict(r.json()["error"])


def _done(world: World, data: bytes, name: str = "upload.bin") -> dict[str, Any]:
    """Uploads ``data`` and runs its job: the stored analysis."""
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, data, filename=name)
    assert r.status_code == 202, r.text
    world.run_jobs()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "done", got
    return dict(world.client.get(f"/v1/assets/{asset}/results", headers=o.headers).json()["analysis"])


@pytest.mark.parametrize("codec", ["libx264", "libx265"])
def test_a_bare_video_stream_without_timestamps_is_refused_as_unsupported(
    world: World, tmp_path: Path, codec: str
) -> None:
    """A raw .h264/.hevc stream has no timestamps; it was refused as an empty video."""
    from tests.video_cases import write_video

    fmt = "h264" if codec == "libx264" else "hevc"
    data = write_video(tmp_path / f"v.{fmt}", seconds=1.0, size=(96, 64), codec=codec, fmt=fmt).read_bytes()
    error = _refused(world, data, 415, "unsupported_media")
    assert "no timestamps" in error["message"] and "MP4" in error["message"]


def test_audio_with_cover_art_is_refused_as_having_no_video(world: World, tmp_path: Path) -> None:
    from tests.video_cases import write_cover_art_audio

    error = _refused(world, write_cover_art_audio(tmp_path / "song.m4a").read_bytes(), 415, "no_video_stream")
    assert "cover picture" in error["message"]


def test_the_largest_video_stream_is_analysed_not_a_preview_track(world: World, tmp_path: Path) -> None:
    from tests.video_cases import write_two_video_streams

    data = write_two_video_streams(tmp_path / "two.mkv", small=(16, 16), large=(96, 64)).read_bytes()
    a = _done(world, data)
    assert (a["width"], a["height"]) == (96, 64)


def test_a_video_whose_first_frame_is_late_is_not_refused_as_truncated(world: World, tmp_path: Path) -> None:
    """Matroska writes its end time as the duration: first frame at 5 s, last at 5.8 s said
    5.9 s, against 0.9 s of packets: refused 422 truncated_media before."""
    from tests.video_cases import grey_frames, write_video

    pts = [5000 + 100 * i for i in range(9)]
    path = write_video(tmp_path / "late.mkv", size=(96, 64), frame=grey_frames(96, 64), pts_ms=pts, codec="ffv1")
    a = _done(world, path.read_bytes())
    assert a["duration_s"] == pytest.approx(0.9, abs=0.11) and len(a["timeline"]) == 2


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "size", "rotation"),
    [
        ("h264-10bit.mp4", "libx264", "yuv420p10le", (96, 64), None),
        ("hevc-10bit.mp4", "libx265", "yuv420p10le", (96, 64), None),
        ("vp9-alpha.webm", "libvpx-vp9", "yuva420p", (96, 64), None),
        ("odd-97x65.mkv", "ffv1", "yuv444p", (97, 65), None),
        ("odd-rotated.mp4", "mpeg4", "yuv420p", (98, 66), 90),
        ("grey.mkv", "ffv1", "gray", (96, 64), None),
    ],
)
def test_unusual_but_valid_videos_are_analysed_upright_at_their_display_size(
    world: World, tmp_path: Path, name: str, codec: str, pix_fmt: str, size: tuple[int, int], rotation: int | None
) -> None:
    from tests.video_cases import write_video

    path = write_video(tmp_path / name, seconds=1.0, fps=10, size=size, codec=codec, pix_fmt=pix_fmt, rotation=rotation)
    a = _done(world, path.read_bytes())
    shown = size[::-1] if rotation in (90, -90, 270) else size
    assert (a["width"], a["height"]) == shown and len(a["timeline"]) == 2


@pytest.mark.parametrize(("fmt", "keep"), [("AVIF", 0.5), ("PNG", 40), ("TIFF", 40), ("GIF", 40)])
def test_a_cut_image_upload_is_a_corrupt_image(world: World, fmt: str, keep: float) -> None:
    """A cut AVIF was sniffed as a video (its ftyp box) and refused corrupt_media; a PNG,
    TIFF or GIF cut inside its header was 415 'not a recognised image format'."""
    data = _encode(photo(320, 240), fmt)
    _refused(world, data[: int(keep if keep > 1 else len(data) * keep)], 422, "corrupt_image")


def test_a_stream_that_grows_past_the_frame_limit_mid_way_fails_its_job(tmp_path: Path) -> None:
    """Two MPEG-TS files joined: 8 s at 320x240 (all the probe looks at), then 2048x2048
    frames, past this server's 1 MP limit. Decoding went on at 4 MP a frame (at the 8K limit
    a splice to 8192x8192 decodes 100 MB frames, several in flight per decoder thread); the
    job now stops at the first such frame, and no result is stored."""
    from tests.video_cases import grey_frames, write_video

    world = make_world(tmp_path, max_video_pixels=1_000_000)
    o = world.add_org("acme")
    world.campaign(o)
    small = write_video(tmp_path / "a.ts", size=(320, 240), frame=grey_frames(320, 240), pts_ms=[*range(0, 8000, 200)])
    large = write_video(tmp_path / "b.ts", size=(2048, 2048), frame=grey_frames(2048, 2048), pts_ms=[8000, 8500])
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, small.read_bytes() + large.read_bytes(), "spliced.ts").status_code == 202
    world.run_jobs()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "failed" and got["error"]["code"] == "video_too_large", got
    assert "2048x2048 at 8.00 s" in got["error"]["message"]
    assert not [b.key for b in world.services.blobs.list(f"orgs/acme/assets/{asset}/results/")]


def test_non_square_pixels_are_analysed_at_the_width_a_player_shows(world: World, tmp_path: Path) -> None:
    """A 720x576 broadcast master flagged 16:9 (sample aspect 64:45) is shown 1024x576: it was
    analysed squeezed at 720x576, and AOIs drawn on the player landed off target."""
    from fractions import Fraction

    from impactlens.media.video_io import iter_samples, probe
    from tests.video_cases import write_video

    path = write_video(tmp_path / "pal.mp4", seconds=1.0, fps=10, size=(720, 576), sample_aspect=Fraction(64, 45))
    info = probe(path, 600, 10**8)
    assert (info.width, info.height, info.coded_width) == (1024, 576, 720)
    assert next(iter(iter_samples(path, info, 2.0, 640, 600))).rgb.shape == (360, 640, 3)
    a = _done(world, path.read_bytes())
    assert (a["width"], a["height"]) == (1024, 576)
    assert any("non-square pixels" in w for w in a["warnings"])


def test_videos_joined_with_restarting_timestamps_are_refused_not_half_analysed(world: World, tmp_path: Path) -> None:
    """Two 4 s MPEG-TS files joined (each starts again at 0): the upload's length check saw
    4 s and the analysis silently covered the first video only. Joining many parts, each
    within the plan's limit, had the job decode any length. Refused at upload now, and by the
    decode too (a file that reached a job before)."""
    from impactlens.errors import MediaError
    from impactlens.media.video_io import iter_samples, probe
    from tests.video_cases import grey_frames, write_video

    parts = [
        write_video(tmp_path / f"{i}.ts", seconds=4, fps=10, size=(96, 64), frame=grey_frames(96, 64)) for i in (0, 1)
    ]
    joined = tmp_path / "reel.ts"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    error = _refused(world, joined.read_bytes(), 422, "corrupt_media")
    assert "jump back" in error["message"]
    with pytest.raises(MediaError) as err:
        list(iter_samples(joined, probe(joined, 600, 10**8), 2.0, 640, 600))
    assert err.value.code == "corrupt_media" and "jump back from 3.90 s to 0.00 s" in err.value.message


def test_a_photo_whose_orientation_tag_is_text_is_accepted_and_analysed(world: World) -> None:
    """Was 422 invalid_request 'invalid literal for int() with base 10: 'abc''."""
    from tests.test_image_io import _raw_orientation_exif

    data = _encode(photo(64, 48), "JPEG", exif=_raw_orientation_exif(2, 4, b"abc\0"))
    a = _done(world, data)
    assert (a["width"], a["height"]) == (64, 48)
    assert a["warnings"] == ["EXIF orientation 'abc' is not a valid value: ignored"]


def _avif_pointing_at_no_item() -> bytes:
    data = bytearray(_encode(photo(48, 40), "AVIF"))
    at = data.find(b"pitm") + 8  # box type, version and flags, then the primary item's id
    data[at : at + 2] = b"\x77\x77"
    return bytes(data)


def _avif_with_zeroed_picture() -> bytes:
    data = bytearray(_encode(photo(48, 40), "AVIF"))
    at = data.find(b"mdat") + 4
    data[at:] = bytes(len(data) - at)
    return bytes(data)


def _tiff_with_fractional_strip_offsets() -> bytes:
    import struct

    data = bytearray(_encode(photo(48, 40), "TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        if struct.unpack("<H", data[entry : entry + 2])[0] == 273:  # StripOffsets
            data[entry + 2 : entry + 4] = struct.pack("<H", 5)  # typed RATIONAL
    return bytes(data)


@pytest.mark.parametrize(
    "make", [_avif_pointing_at_no_item, _avif_with_zeroed_picture, _tiff_with_fractional_strip_offsets]
)
def test_files_that_break_pillows_readers_are_corrupt_images_not_server_errors(world: World, make: Any) -> None:
    """Found by fuzzing decode_image: Pillow's AVIF reader raises RuntimeError (at open or
    at load) and its TIFF reader TypeError, which left as 500s (the sniff's open too)."""
    from impactlens.errors import MediaError
    from impactlens.media.image_io import decode_image

    with pytest.raises(MediaError) as err:
        decode_image(make(), 100_000_000)
    assert err.value.code == "corrupt_image"
    _refused(world, make(), 422, "corrupt_image")


def test_a_video_in_a_codec_without_a_decoder_is_unsupported_not_a_server_error(world: World, tmp_path: Path) -> None:
    """Found by fuzzing: a Matroska track whose codec id FFmpeg does not know has no codec
    context, and reading its size raised AttributeError (500)."""
    from tests.video_cases import write_video

    mkv = write_video(tmp_path / "v.mkv", seconds=1.0, size=(64, 48), codec="ffv1").read_bytes()
    assert mkv.count(b"V_FFV1") == 1
    error = _refused(world, mkv.replace(b"V_FFV1", b"V_QQQ1"), 415, "unsupported_media")
    assert "codec" in error["message"]
