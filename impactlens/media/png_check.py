"""Damage Pillow lets through in a PNG whose picture still decodes whole: it checks the CRC
of the chunks before the picture data only, and stops reading at the end of it, so a bad
IDAT checksum or a file cut after the picture (no IEND) was analysed without a word. Such
a picture is analysed (its pixels came out of a complete zlib stream), with a note: some
viewers (libpng-based ones among them) refuse a bad checksum in a critical chunk, so the ad
may not show where it runs.
"""

from __future__ import annotations

import struct
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_damage(data: bytes) -> str | None:
    """A note naming the first damage found in the PNG's chunk structure, or None when every
    chunk's CRC holds and the file ends with IEND. Reads the bytes already in memory; CRC-32
    runs at GB/s."""
    if not data.startswith(_SIGNATURE):
        return None
    pos = len(_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        name = kind.decode("latin-1") if kind.isalpha() else repr(kind)
        if end > len(data):
            return f"the PNG file is cut short inside its {name} chunk: the picture decoded whole and was analysed"
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) != crc:
            return (
                f"the PNG file is damaged (bad checksum in its {name} chunk): the picture decoded whole and was "
                "analysed, but some viewers may refuse to show it"
            )
        if kind == b"IEND":
            return None
        pos = end
    return "the PNG file is cut short (it ends without its IEND chunk): the picture decoded whole and was analysed"
