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

from ..errors import MediaError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks a PNG may have. Pillow walks every chunk in Python (~2.6 us each, raising and
# catching an error for each unknown one): a 42 MB file of 3.5 M empty chunks took 9 s in
# Pillow and 3.6 s here. Real files stay far below: a 50 MB upload in libpng's 8 KB IDAT
# chunks is 6,400 of them, an APNG two or three per frame.
MAX_CHUNKS = 100_000


def png_damage(data: bytes) -> str | None:
    """A note naming the first damage found in the PNG's chunk structure, or None when every
    chunk's CRC holds and the file ends with IEND. Reads the bytes already in memory; CRC-32
    runs at GB/s. MediaError corrupt_image past ``MAX_CHUNKS`` chunks: call it before Pillow
    opens the file, so such a file costs Pillow nothing."""
    if not data.startswith(_SIGNATURE):
        return None
    view = memoryview(data)  # slices for the CRC without copying an IDAT of tens of MB
    pos = len(_SIGNATURE)
    chunks = 0
    while pos + 8 <= len(data):
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise MediaError(
                f"the PNG file has more than {MAX_CHUNKS:,} chunks (real pictures have far fewer): not analysed",
                "corrupt_image",
            )
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        name = kind.decode("latin-1") if kind.isalpha() else repr(kind)
        if end > len(data):
            return f"the PNG file is cut short inside its {name} chunk: the picture decoded whole and was analysed"
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            return (
                f"the PNG file is damaged (bad checksum in its {name} chunk): the picture decoded whole and was "
                "analysed, but some viewers may refuse to show it"
            )
        if kind == b"IEND":
            return None
        pos = end
    return "the PNG file is cut short (it ends without its IEND chunk): the picture decoded whole and was analysed"
