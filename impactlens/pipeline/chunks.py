"""Chunk files exchanged through blob storage: sampled frames in, per-frame results out.

Plain ``.npz`` (no pickle, ``allow_pickle=False`` on read), so any process or machine with
numpy can read them and nothing in them can execute code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ..errors import MediaError


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


def _dump(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def _load(data: bytes, names: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {n: z[n] for n in names}
    except (OSError, ValueError, KeyError) as exc:
        raise MediaError(f"{what} is unreadable: {exc}", "corrupt_chunk") from exc


def dump_frames(chunk: FrameChunk) -> bytes:
    return _dump(index=chunk.index, t=chunk.t, frame_time=chunk.frame_time, frames=chunk.frames)


def load_frames(data: bytes) -> FrameChunk:
    return FrameChunk(**_load(data, ("index", "t", "frame_time", "frames"), "frame chunk"))


def dump_result(result: ChunkResult) -> bytes:
    return _dump(index=result.index, t=result.t, memorability=result.memorability, grids=result.grids)


def load_result(data: bytes) -> ChunkResult:
    return ChunkResult(**_load(data, ("index", "t", "memorability", "grids"), "chunk result"))
