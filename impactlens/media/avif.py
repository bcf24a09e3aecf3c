"""The real size of an AVIF's pictures, read from their AV1 sequence headers, not decoded.

Pillow reports an AVIF's size from its 'ispe' box, which the file states freely; libavif then
decodes the AV1 frame whatever its size (up to 16384x16384). A 3.4 KB file claiming 64x64 over a
16384x16384 frame passed a 1 MP limit and took 581 MB and 3.9 s to decode. The sequence header
is the AV1 decoder's own statement of the largest frame it will make, so the pixel limit is
checked against it: every item's data (found through 'iloc') and every 'av1C' box's header
(an animated AVIF's track has one).

A parse that fails (a box cut short, an unknown layout) finds nothing, and decoding then
decides; only sizes read in full are reported.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}  # boxes whose children are searched (+ header bytes)
OBU_SEQUENCE_HEADER = 1


def av1_frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """(max width, max height) of every AV1 sequence header found in the file's items."""
    sizes: list[tuple[int, int]] = []
    boxes = dict(_walk(data, 0, len(data)))
    for payload in _av1c_payloads(data):
        sizes += _sequence_sizes(payload[4:])  # av1C: 4 bytes of configuration, then OBUs
    iloc = boxes.get(b"iloc")
    idat = boxes.get(b"idat")
    if iloc is not None:
        for start, length, method in _item_extents(data, *iloc):
            if method == 1 and idat is not None:
                start += idat[0]
            elif method != 0:
                continue
            sizes += _sequence_sizes(data[start : start + min(length or len(data), 4096)])
    return sizes


def _walk(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, tuple[int, int]]]:
    """(type, (payload start, payload end)) of every box, descending into meta/iprp/ipco."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        head = 8
        if size == 1 and at + 16 <= end:
            size, head = struct.unpack(">Q", data[at + 8 : at + 16])[0], 16
        elif size == 0:
            size = end - at
        if size < head or at + size > end:
            return
        yield kind, (at + head, at + size)
        if kind in _CONTAINERS:
            yield from _walk(data, at + head + _CONTAINERS[kind], at + size)
        at += size


def _av1c_payloads(data: bytes) -> Iterator[bytes]:
    """Every 'av1C' box in the metadata: an image item's (meta) or a sequence track's, nested
    in its sample description (moov), found by its type and size, never in the picture data
    (mdat), where those four bytes may occur by chance."""
    for kind, (a, b) in _walk(data, 0, len(data)):
        if kind not in (b"meta", b"moov"):
            continue
        at = data.find(b"av1C", a, b)
        while at != -1:
            size = struct.unpack(">I", data[at - 4 : at])[0] if at - 4 >= a else 0
            if 12 <= size <= b - (at - 4):
                yield data[at + 4 : at - 4 + size]
            at = data.find(b"av1C", at + 4, b)


def _item_extents(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(offset, length, construction method) of the first extent of each item in 'iloc'."""
    r = _Bytes(data, start, end)
    try:
        version = r.read(1)
        r.read(3)
        sizes = r.read(1)
        offset_size, length_size = sizes >> 4, sizes & 15
        sizes = r.read(1)
        base_size, index_size = sizes >> 4, (sizes & 15 if version in (1, 2) else 0)
        count = r.read(2 if version < 2 else 4)
        for _ in range(count):
            r.read(2 if version < 2 else 4)  # item id
            method = r.read(2) & 15 if version in (1, 2) else 0
            r.read(2)  # data reference index
            base = r.read(base_size)
            extents = r.read(2)
            for n in range(extents):
                r.read(index_size)
                offset, length = r.read(offset_size), r.read(length_size)
                if n == 0:
                    yield base + offset, length, method
    except IndexError:
        return


class _Bytes:
    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.at, self.end = data, start, end

    def read(self, n: int) -> int:
        if self.at + n > self.end:
            raise IndexError("cut short")
        value = int.from_bytes(self.data[self.at : self.at + n], "big")
        self.at += n
        return value


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.bit = data, 0

    def f(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.bit >> 3
            if byte >= len(self.data):
                raise IndexError("cut short")
            value = value << 1 | (self.data[byte] >> (7 - (self.bit & 7))) & 1
            self.bit += 1
        return value

    def uvlc(self) -> int:
        zeros = 0
        while not self.f(1):
            zeros += 1
            if zeros >= 32:
                return (1 << 32) - 1
        return self.f(zeros) + (1 << zeros) - 1


def _sequence_sizes(obus: bytes) -> list[tuple[int, int]]:
    """The max frame sizes of the sequence header OBUs at the start of ``obus``."""
    sizes, at = [], 0
    while at < len(obus):
        header = obus[at]
        kind, extension, has_size = (header >> 3) & 15, header & 4, header & 2
        at += 2 if extension else 1
        if not has_size:
            payload = obus[at:]
        else:
            length, shift = 0, 0
            while at < len(obus) and shift < 56:
                length |= (obus[at] & 0x7F) << shift
                shift += 7
                at += 1
                if not obus[at - 1] & 0x80:
                    break
            payload = obus[at : at + length]
            at += length
        if kind == OBU_SEQUENCE_HEADER:
            try:
                sizes.append(_max_frame_size(_Bits(payload)))
            except IndexError:
                pass
        if not has_size:
            break
    return sizes


def _max_frame_size(b: _Bits) -> tuple[int, int]:
    """AV1 specification 5.5.1, up to max_frame_height_minus_1."""
    b.f(3)  # seq_profile
    b.f(1)  # still_picture
    if b.f(1):  # reduced_still_picture_header
        b.f(5)  # seq_level_idx[0]
    else:
        decoder_model = False
        buffer_delay_bits = 0
        if b.f(1):  # timing_info_present_flag
            b.f(32)
            b.f(32)
            if b.f(1):  # equal_picture_interval
                b.uvlc()
            decoder_model = bool(b.f(1))
            if decoder_model:
                buffer_delay_bits = b.f(5) + 1
                b.f(32)
                b.f(5)
                b.f(5)
        initial_display_delay = b.f(1)
        for _ in range(b.f(5) + 1):  # operating points
            b.f(12)
            if b.f(5) > 7:
                b.f(1)
            if decoder_model and b.f(1):
                b.f(buffer_delay_bits)
                b.f(buffer_delay_bits)
                b.f(1)
            if initial_display_delay and b.f(1):
                b.f(4)
    width_bits, height_bits = b.f(4) + 1, b.f(4) + 1
    return b.f(width_bits) + 1, b.f(height_bits) + 1
