"""Detections at one instant as named element boxes: faces, and text lines grouped into blocks."""

from __future__ import annotations

from collections.abc import Sequence

from ..models.detectors import Detection
from .types import AOI

MAX_FACES = 10
MAX_TEXT_BLOCKS = 10


def _same_block(a: Detection, b: Detection) -> bool:
    """Lines of one block: stacked with a small gap and overlapping columns, or side by side on one line."""
    lh = min(a.h, b.h)
    x_overlap = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    y_gap = max(a.y, b.y) - min(a.y + a.h, b.y + b.h)
    y_overlap = -y_gap
    x_gap = -x_overlap
    stacked = x_overlap > 0 and y_gap < 1.0 * lh and max(a.h, b.h) < 2.0 * lh
    same_line = y_overlap > 0.5 * lh and x_gap < 1.5 * lh
    return stacked or same_line


def text_blocks(lines: Sequence[Detection]) -> list[Detection]:
    """Groups detected text lines into blocks (union-find on _same_block); confidence is area-weighted."""
    parent = list(range(len(lines)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _same_block(lines[i], lines[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[Detection]] = {}
    for i, d in enumerate(lines):
        groups.setdefault(root(i), []).append(d)
    blocks = []
    for members in groups.values():
        x0, y0 = min(d.x for d in members), min(d.y for d in members)
        x1, y1 = max(d.x + d.w for d in members), max(d.y + d.h for d in members)
        weight = sum(d.area for d in members)
        conf = sum(d.confidence * d.area for d in members) / weight if weight else 0.0
        words = [d.text for d in members if d.text]
        blocks.append(Detection("text", x0, y0, x1 - x0, y1 - y0, conf, " ".join(words) if words else None))
    return blocks


def element_boxes(detections: Sequence[Detection]) -> list[tuple[AOI, Detection]]:
    """Named AOIs for faces (``face_1``...) and text blocks (``text_1``...), largest first, capped."""
    faces = sorted((d for d in detections if d.kind == "face"), key=lambda d: -d.area)[:MAX_FACES]
    blocks = sorted(text_blocks([d for d in detections if d.kind == "text"]), key=lambda d: -d.area)
    out = []
    for prefix, items in (("face", faces), ("text", blocks[:MAX_TEXT_BLOCKS])):
        for n, d in enumerate(items, 1):
            out.append((AOI(name=f"{prefix}_{n}", x=d.x, y=d.y, w=d.w, h=d.h), d))
    return out
