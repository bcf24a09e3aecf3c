"""Which FFmpeg demuxer may read an uploaded video: decided from the file's first bytes by
us, before FFmpeg sees it. Left to FFmpeg's own probing, any of its ~300 demuxers could
read an upload: the concat demuxer (a text file "ffconcat version 1.0" naming other files)
decoded a file next to the upload in its place, and hls, image2 or the subtitle demuxers
open or parse what a product for ad videos never needs. Only the documented containers
are opened, each with its own demuxer forced (no probing) and FFmpeg's format and protocol
whitelists as a second lock (a demuxer that opens another input passes them on).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MediaError
from .image_io import IMAGE_FORMATS, has_image_signature

# Demuxer (as FFmpeg names it for av.open's format=) -> what users call the container.
DEMUXERS = {
    "mov": "MP4/MOV/3GP",
    "matroska": "MKV/WebM",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    "mpeg": "MPEG-PS",
    "asf": "WMV",
}
FORMAT_WHITELIST = ",".join(DEMUXERS)
# The upload is a local file; nothing it names may be fetched over any other protocol.
PROTOCOL_WHITELIST = "file"
SUPPORTED = "MP4, MOV, MKV, WebM, AVI, MPEG-TS, MPEG-PS or WMV"

_ISO_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_HEAD = 1024


def _mpegts(head: bytes, size: int) -> bool:
    """Sync bytes 0x47 at three packet starts: 188-byte TS, 192-byte M2TS (.mts, a 4-byte
    timestamp first), 204-byte TS with error-correction bytes. A file shorter than three
    packets must be whole packets."""
    for packet, first in ((188, 0), (192, 4), (204, 0)):
        starts = [first + k * packet for k in range(3) if first + k * packet < len(head)]
        if starts and all(head[i] == 0x47 for i in starts) and (len(starts) == 3 or size % packet == 0):
            return True
    return False


def sniff_demuxer(path: str | Path) -> str | None:
    """The whitelisted demuxer for the file's signature, or None when it has none of them."""
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(_HEAD)
    if head[4:8] in _ISO_BOXES:
        return "mov"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if head.startswith(_ASF_GUID):
        return "asf"
    if _mpegts(head, p.stat().st_size):
        return "mpegts"
    return None


def demuxer_for(path: str | Path) -> str:
    """The demuxer to force, or MediaError: not_a_video for a still image, unsupported_media
    for a bare stream (no container, so no timestamps) and for anything else."""
    demuxer = sniff_demuxer(path)
    if demuxer is not None:
        return demuxer
    with Path(path).open("rb") as f:
        head = f.read(16)
    if has_image_signature(head):
        raise MediaError("this is a still image, not a video", "not_a_video")
    if head.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")):
        # H.264/HEVC Annex B or an MPEG video elementary stream: frames without timestamps.
        raise MediaError(
            f"the video has no timestamps (a bare video stream, not in a container): upload it as {SUPPORTED}",
            "unsupported_media",
        )
    if Path(path).suffix == "":
        # An upload's spool file has no name to go by: it was neither a readable image nor a
        # video container, and the message must not send an image's owner to the video formats.
        raise MediaError(
            f"neither a recognised image format nor a video container: images are accepted as "
            f"{', '.join(IMAGE_FORMATS)}, videos as {SUPPORTED}",
            "unsupported_media",
        )
    raise MediaError(f"not a recognised video container: videos are accepted as {SUPPORTED}", "unsupported_media")
