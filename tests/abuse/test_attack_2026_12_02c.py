"""Holes found by attacking what landed on 2026-12-02 from 07:10 UTC (container whitelist,
PNG damage note, page-token charging, refusal log, webhook scrub), one test per behaviour."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import av
import pytest
from PIL import Image

from impactlens.api.throttle import TokenBuckets
from impactlens.db.ratelimit import MAX_DEBT_WINDOWS
from impactlens.errors import MediaError, scrub
from impactlens.media.image_io import decode_image


# Page tokens ---------------------------------------------------------------------------------
def test_in_memory_export_debt_is_capped_like_the_tables() -> None:
    """One export of a large campaign charged its whole cost to the organisation's page bucket
    (TokenBuckets went to -cost), so every member's dashboard waited cost/rate seconds (a
    50,000-asset campaign: 5,000 tokens, 83 min at 1/s). The table limiter caps the same debt
    at MAX_DEBT_WINDOWS windows of a burst; the embedded server must not differ."""
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    rate, burst = 1.0, 10
    assert buckets.take("web:page:org", rate, burst, cost=1_000_000) == 0.0
    wait = buckets.take("web:page:org", rate, burst)  # another member's next page
    assert 0 < wait <= (MAX_DEBT_WINDOWS * burst + 1) / rate


@pytest.mark.parametrize("cost", [0, -5])
def test_a_cost_below_one_cannot_add_tokens(cost: int) -> None:
    """The table limiter counts a cost below 1 as 1; the in-memory one added -cost tokens."""
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    buckets.take("k", 1.0, 2, cost=cost)
    buckets.take("k", 1.0, 2)
    assert buckets.take("k", 1.0, 2) > 0


# PNG -----------------------------------------------------------------------------------------
def _png_with_chunks(n: int, before_idat: bool) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, "PNG")
    sound = buf.getvalue()
    chunk = struct.pack(">I", 0) + b"zzZz" + struct.pack(">I", zlib.crc32(b"zzZz"))
    if before_idat:  # right after IHDR (8 + 25 bytes)
        return sound[:33] + chunk * n + sound[33:]
    return sound[:-12] + chunk * n + sound[-12:]


@pytest.mark.parametrize("before_idat", [False, True])
def test_a_png_of_millions_of_empty_chunks_is_refused_quickly(before_idat: bool) -> None:
    """A 42 MB PNG of 3.5 M empty ancillary chunks around a 64x64 picture took 12.5 s of CPU
    in decode_image (Pillow's chunk loop 9.3 s, the damage walk 3.6 s) in an upload's
    validation slot; a sound file's 40 MB decodes in well under a second."""
    data = _png_with_chunks((40 << 20) // 12, before_idat)
    started = time.process_time()
    with pytest.raises(MediaError) as err:
        decode_image(data, 100_000_000)
    assert time.process_time() - started < 1.5
    assert err.value.code == "corrupt_image"
    assert "chunks" in err.value.message


def test_a_png_with_many_idat_chunks_still_decodes() -> None:
    """The chunk cap leaves room for real files: 20,000 chunks are analysed (with no note)."""
    decoded = decode_image(_png_with_chunks(20_000, False), 100_000_000)
    assert not decoded.warnings


# Webhook / API error scrub -------------------------------------------------------------------
def test_a_server_path_with_a_space_is_scrubbed_whole(tmp_path: Path) -> None:
    """scrub cut a path at its first space: PyAV's own error for a data directory such as
    '/Users/Jane Doe/...' or '.../Application Support/...' reached the API answer and the
    failure webhook as "'<path> Doe/impactlens-data/.../source'" (the rest of the path)."""
    folder = tmp_path / "Jane Doe" / "impactlens-data"
    folder.mkdir(parents=True)
    source = folder / "source"
    source.write_bytes(b"not a video at all" * 10)
    with pytest.raises(av.error.FFmpegError) as err:
        av.open(str(source), format="mov")
    message = str(err.value)
    assert "Doe" in message  # the real message holds the path
    scrubbed = scrub(message)
    assert "Doe" not in scrubbed and "impactlens-data" not in scrubbed and "source" not in scrubbed
    assert "<path>" in scrubbed and "Invalid data" in scrubbed
