"""The video pipeline's steps: plain functions, JSON payload in, JSON payload out, idempotent.

The same functions run in the local executor (fan-out over a process pool) and, in the
cloud, one per Lambda invocation under Step Functions (analyse_chunk is the Map item).
Every step reads and writes through the blob store in ``StepContext``, so a chunk written
by one process can be analysed by another.

Payload fields: ``job`` (id), ``source`` ({"path": ...} or {"blob": key}), ``name`` (what
the result calls the source), ``work_prefix`` (intermediate blobs), ``output_prefix``
(final blobs), ``options`` (sample_fps, chunk_seconds, long_side, smoothing_s), ``aois``;
steps add ``probe``, ``chunks`` (each gains ``result_key``), ``timings`` and ``result``. A chunk
descriptor's ``detect`` lists the instants its worker runs the element detectors on
(pipeline/detection.py); the detections themselves travel in the chunk's result blob.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from PIL import Image

from ..engine.elements import auto_aois
from ..engine.image import ImageEngine, model_infos, percentile_of
from ..engine.types import AOI, ChunkSpan, VideoAnalysis
from ..engine.video import keyframe_entries, pick_keyframes, timeline, video_attention
from ..errors import ImpactLensError, MediaError
from ..media.video_io import VideoInfo, iter_samples, probe
from ..media.video_out import HeatmapVideoWriter, concat_segments, thumbnail_jpeg
from ..settings import Settings
from ..storage.base import BlobStore
from .chunks import ChunkResult, FrameChunk, dump_frames, dump_result, load_frames, load_result
from .detection import Found, detect_in_chunk, plan_detections, planned_count, video_elements

Payload = dict[str, Any]
Progress = Callable[[str, int, int], None]


def no_progress(step: str, done: int, total: int) -> None:
    return None


@dataclass
class StepContext:
    blobs: BlobStore
    settings: Settings
    engine: Callable[[], ImageEngine]  # called only by the step that needs the models
    progress: Progress = no_progress
    scratch: str = field(default_factory=tempfile.gettempdir)


def video_options(settings: Settings) -> dict[str, float]:
    return {
        "sample_fps": settings.video_sample_fps,
        "chunk_seconds": settings.video_chunk_seconds,
        "long_side": settings.video_long_side,
        "smoothing_s": settings.video_smoothing_s,
    }


def max_seconds(payload: Payload, settings: Settings) -> float:
    """The length limit for this video: the server's, or the plan's (``options.max_seconds``)
    when lower. Decoding stops there whatever the header claims."""
    return min(settings.max_video_seconds, float(payload.get("options", {}).get("max_seconds", math.inf)))


def _timed(payload: Payload, step: str, start: float) -> dict[str, float]:
    timings = dict(payload.get("timings", {}))
    timings[step] = time.perf_counter() - start
    return timings


@contextlib.contextmanager
def source_path(payload: Payload, ctx: StepContext) -> Iterator[str]:
    """A local file for the source: the path itself, or the blob copied to scratch space."""
    src = payload["source"]
    if "path" in src:
        yield str(src["path"])
        return
    fd, tmp = tempfile.mkstemp(suffix=".video", dir=ctx.scratch)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in ctx.blobs.get(src["blob"]):
                f.write(part)
        yield tmp
    finally:
        os.unlink(tmp)


def probe_step(payload: Payload, ctx: StepContext) -> Payload:
    start = time.perf_counter()
    s = ctx.settings
    with source_path(payload, ctx) as path:
        info = probe(path, max_seconds(payload, s), s.max_video_pixels)
    ctx.progress("probe", 1, 1)
    return {**payload, "probe": info.to_dict(), "timings": _timed(payload, "probe", start)}


def chunk_key(payload: Payload, index: int, kind: str) -> str:
    return f"{payload['work_prefix']}/{kind}/{index:05d}.npz"


def iter_prepare(payload: Payload, ctx: StepContext) -> Iterator[dict[str, Any]]:
    """Decode once, sample, downscale, and write each chunk as soon as it is full."""
    info = VideoInfo.from_dict(payload["probe"])
    opts = payload["options"]
    fps = float(opts["sample_fps"])
    per_chunk = max(1, round(float(opts["chunk_seconds"]) * fps))
    planned = planned_count(info, fps)
    pending: list[Any] = []

    def flush(chunk_index: int) -> dict[str, Any]:
        frames = FrameChunk(
            index=np.array([f.index for f in pending], np.int64),
            t=np.array([f.t for f in pending], np.float64),
            frame_time=np.array([f.frame_time for f in pending], np.float64),
            frames=np.stack([f.rgb for f in pending]),
        )
        key = chunk_key(payload, chunk_index, "chunks")
        ctx.blobs.put(key, dump_frames(frames), "application/octet-stream")
        desc = {
            "index": chunk_index,
            "key": key,
            "first_sample": int(frames.index[0]),
            "samples": len(pending),
            "start_s": float(frames.t[0]),
            "end_s": float(frames.index[-1] + 1) / fps,
        }
        plan_detections([desc], planned, fps, ctx.settings)  # prepare_step re-plans from the real count
        pending.clear()
        return desc

    with source_path(payload, ctx) as path:
        samples = iter_samples(
            path, info, fps, int(opts["long_side"]), max_seconds(payload, ctx.settings), ctx.settings.max_video_pixels
        )
        for sample in samples:
            pending.append(sample)
            ctx.progress("prepare", sample.index + 1, max(planned, sample.index + 1))
            if len(pending) == per_chunk:
                yield flush(sample.index // per_chunk)
        if pending:
            yield flush(pending[0].index // per_chunk)


def prepare_step(payload: Payload, ctx: StepContext) -> Payload:
    start = time.perf_counter()
    chunks = list(iter_prepare(payload, ctx))
    plan_detections(chunks, sum(c["samples"] for c in chunks), float(payload["options"]["sample_fps"]), ctx.settings)
    return {**payload, "chunks": chunks, "timings": _timed(payload, "prepare", start)}


def _span(chunk: dict[str, Any]) -> str:
    return f"chunk {chunk['index']} ({chunk['start_s']:.1f}-{chunk['end_s']:.1f} s)"


def _render_segment(result: ChunkResult, frames: FrameChunk, fps: float, ctx: StepContext, key: str) -> None:
    fd, tmp = tempfile.mkstemp(suffix=".mp4", dir=ctx.scratch)
    os.close(fd)
    try:
        h, w = frames.frames.shape[1:3]
        with HeatmapVideoWriter(tmp, w, h, fps) as writer:
            for rgb, grid in zip(frames.frames, result.grids, strict=True):
                writer.write(rgb, grid)
        with open(tmp, "rb") as f:
            ctx.blobs.put(key, f, "video/mp4")
    finally:
        os.unlink(tmp)


def analyse_chunk_step(payload: Payload, ctx: StepContext) -> Payload:
    """Scores every frame of ``payload["chunk"]`` and renders its heatmap segment.

    The result blob is written last, so its presence means the chunk is complete and a
    retry after success does nothing.
    """
    chunk = dict(payload["chunk"])
    key = chunk_key(payload, chunk["index"], "results")
    segment = f"{payload['work_prefix']}/segments/{chunk['index']:05d}.mp4"
    start = time.perf_counter()
    if not ctx.blobs.exists(key):
        try:
            frames = load_frames(ctx.blobs.read(chunk["key"]))
            engine = ctx.engine()
            scores, grids = [], []
            for rgb in frames.frames:
                score, grid = engine.score_frame(Image.fromarray(rgb, "RGB"))
                scores.append(score)
                grids.append(grid.astype(np.float32))
            found = detect_in_chunk(frames, [int(k) for k in chunk.get("detect", [])], engine, ctx.settings)
            result = ChunkResult(frames.index, frames.t, np.array(scores, np.float64), np.stack(grids), found)
            _render_segment(result, frames, float(payload["options"]["sample_fps"]), ctx, segment)
            ctx.blobs.put(key, dump_result(result), "application/octet-stream")
        except ImpactLensError as exc:
            raise MediaError(f"{_span(chunk)}: {exc.message}", exc.code) from exc
        except (OSError, ValueError, RuntimeError, av.error.FFmpegError) as exc:
            raise MediaError(f"{_span(chunk)}: analysis failed: {exc}", "chunk_failed") from exc
    chunk["result_key"] = key
    chunk["segment_key"] = segment
    chunk["seconds"] = time.perf_counter() - start
    return {**payload, "chunk": chunk}


def _ordered_results(payload: Payload, ctx: StepContext) -> tuple[list[dict[str, Any]], ChunkResult, Found]:
    chunks = sorted(payload["chunks"], key=lambda c: c["index"])
    parts = [load_result(ctx.blobs.read(c["result_key"])) for c in chunks]
    merged = ChunkResult(
        index=np.concatenate([p.index for p in parts]),
        t=np.concatenate([p.t for p in parts]),
        memorability=np.concatenate([p.memorability for p in parts]),
        grids=np.concatenate([p.grids for p in parts]),
    )
    if not np.array_equal(merged.index, np.arange(len(merged.index))):
        raise MediaError("chunk results do not cover the sampled instants exactly once", "chunk_mismatch")
    found: Found = {k: dets for p in parts for k, dets in (p.detections or {}).items()}
    return chunks, merged, found


def merge_step(payload: Payload, ctx: StepContext) -> Payload:
    """Concatenates chunk results in time order, summarises, renders the heatmap video."""
    start = time.perf_counter()
    info = VideoInfo.from_dict(payload["probe"])
    opts = payload["options"]
    fps = float(opts["sample_fps"])
    chunks, r, found = _ordered_results(payload, ctx)
    aois = [AOI.model_validate(a) for a in payload.get("aois", [])]
    first = load_frames(ctx.blobs.read(chunks[0]["key"]))
    frame_size = (int(first.frames.shape[2]), int(first.frames.shape[1]))
    del first
    picks = pick_keyframes(r.t, r.memorability, info.duration_s)
    prefix = payload["output_prefix"]
    names = {"heatmap_video": "heatmap.mp4", "saliency": "saliency.npz"}
    thumbs = [f"keyframes/{n + 1:02d}.jpg" for n in range(len(picks))]
    for c in chunks:
        wanted = [k for k in picks if c["first_sample"] <= k < c["first_sample"] + c["samples"]]
        if wanted:
            part = load_frames(ctx.blobs.read(c["key"]))
            for k in wanted:
                jpeg = thumbnail_jpeg(part.frames[k - c["first_sample"]], r.grids[k])
                ctx.blobs.put(f"{prefix}/{thumbs[picks.index(k)]}", jpeg, "image/jpeg")
    with tempfile.TemporaryDirectory(dir=ctx.scratch) as tmp:
        local = []
        for c in chunks:
            local.append(os.path.join(tmp, f"{c['index']:05d}.mp4"))
            with open(local[-1], "wb") as f:
                for part_bytes in ctx.blobs.get(c["segment_key"]):
                    f.write(part_bytes)
        joined = os.path.join(tmp, "heatmap.mp4")
        concat_segments(local, joined)
        with open(joined, "rb") as f:
            ctx.blobs.put(f"{prefix}/{names['heatmap_video']}", f, "video/mp4")
    elements = video_elements(chunks, r.t, found, info, frame_size, fps, ctx)
    ctx.progress("merge", 1, 1)
    ctx.blobs.put(f"{prefix}/{names['saliency']}", dump_result(r), "application/octet-stream")
    points = timeline(r.t, r.memorability, fps, float(opts["smoothing_s"]))
    overall = float(r.memorability.mean())
    peak = int(np.argmax(r.memorability))
    timings = _timed(payload, "merge", start)
    analysis = VideoAnalysis(
        source=payload.get("name", ""),
        width=info.width,
        height=info.height,
        container=info.container,
        codec=info.codec,
        duration_s=info.duration_s,
        fps=info.fps,
        variable_frame_rate=info.variable_frame_rate,
        rotation=info.rotation,
        has_audio=info.has_audio,
        sample_fps=fps,
        smoothing_s=float(opts["smoothing_s"]),
        memorability=overall,
        memorability_percentile=percentile_of(overall),
        memorability_first_3s=float(r.memorability[r.t < 3.0].mean()),
        memorability_peak=points[peak],
        timeline=points,
        attention=video_attention(r.t, r.grids, aois, (info.width, info.height), frame_size),
        keyframes=keyframe_entries(r.t, r.memorability, picks, thumbs),
        chunks=[
            ChunkSpan(index=c["index"], start_s=c["start_s"], end_s=c["end_s"], samples=c["samples"]) for c in chunks
        ],
        models=model_infos(ctx.settings),
        timings_s={**timings, "analyse_cpu": float(sum(c.get("seconds", 0.0) for c in chunks))},
        warnings=list(info.warnings),
        outputs=names,
        auto_aois=auto_aois(
            elements,
            video_attention(r.t, r.grids, [a for a, _ in elements], (info.width, info.height), frame_size),
        ),
    )
    ctx.blobs.put(f"{prefix}/analysis.json", analysis.model_dump_json(indent=2).encode(), "application/json")
    return {**payload, "timings": timings, "result": analysis.model_dump(mode="json")}


def cleanup_step(payload: Payload, ctx: StepContext) -> Payload:
    """Deletes the intermediate blobs (safe to run twice, and after a failure)."""
    for blob in list(ctx.blobs.list(payload["work_prefix"] + "/")):
        ctx.blobs.delete(blob.key)
    return payload
