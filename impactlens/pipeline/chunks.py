"""Chunk files exchanged through blob storage: sampled frames in, per-frame results out.

Plain ``.npz`` (no pickle, ``allow_pickle=False`` on read), so any process or machine with
numpy can read them and nothing in them can execute code. A chunk result may also carry the
element detections made on its instants (``detections``: JSON text as bytes): they travel in
the blob, not in the step's payload, because text lines are unbounded in number and a long
video's Map output must stay under Step Functions' 256 KB.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MediaError
from ..models.detectors import Detection


@dataclass
class FrameChunk:
    index: np.ndarray  # (n,) int64 sample indices
    t: np.ndarray  # (n,) float64 instants
    frame_time: np.ndarray  # (n,) float64 presentation time of the frame shown
    frames: np.ndarray  # (n, h, w, 3) uint8


@dataclass
class ChunkResult:
    index: np.ndarray
    t: np.ndarray
    memorability: np.ndarray  # (n,) float64
    grids: np.ndarray  # (n, gh, gw) float32, each summing to 1
    # sample index -> faces and text lines found on that frame, in the chunk frames' pixels;
    # None when no detection ran (detection off, or none of the chunk's instants was picked)
    detections: dict[int, list[Detection]] | None = None


def _dump(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _load(data: bytes, names: tuple[str, ...], what: str, optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {n: z[n] for n in names + tuple(o for o in optional if o in z.files)}
    except (OSError, ValueError, KeyError) as exc:
        raise MediaError(f"{what} is unreadable: {exc}", "corrupt_chunk") from exc


def dump_detections(found: dict[int, list[Detection]]) -> bytes:
    """JSON: ``[[sample index, [[kind, x, y, w, h, confidence, text], ...]], ...]``. Floats are
    written with repr, so they read back bit for bit."""
    rows = [[k, [[d.kind, d.x, d.y, d.w, d.h, d.confidence, d.text] for d in dets]] for k, dets in found.items()]
    return json.dumps(rows, separators=(",", ":")).encode()


def _detection(d: list[Any]) -> Detection:
    x, y, w, h, confidence = (float(v) for v in d[1:6])
    return Detection(str(d[0]), x, y, w, h, confidence, None if d[6] is None else str(d[6]))


def load_detections(data: bytes) -> dict[int, list[Detection]]:
    try:
        rows = json.loads(data)
        return {int(k): [_detection(d) for d in dets] for k, dets in rows}
    except (ValueError, TypeError, IndexError) as exc:
        raise MediaError(f"chunk detections are unreadable: {exc}", "corrupt_chunk") from exc


def dump_frames(chunk: FrameChunk) -> bytes:
    return _dump(index=chunk.index, t=chunk.t, frame_time=chunk.frame_time, frames=chunk.frames)


def load_frames(data: bytes) -> FrameChunk:
    return FrameChunk(**_load(data, ("index", "t", "frame_time", "frames"), "frame chunk"))


def dump_result(result: ChunkResult) -> bytes:
    arrays = {"index": result.index, "t": result.t, "memorability": result.memorability, "grids": result.grids}
    if result.detections is not None:
        arrays["detections"] = np.frombuffer(dump_detections(result.detections), np.uint8)
    return _dump(**arrays)


def load_result(data: bytes) -> ChunkResult:
    z = _load(data, ("index", "t", "memorability", "grids"), "chunk result", optional=("detections",))
    found = z.pop("detections", None)
    return ChunkResult(**z, detections=None if found is None else load_detections(found.tobytes()))
