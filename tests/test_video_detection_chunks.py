"""Element detection in the video chunk workers: the same detections, AOIs and shares as the
serial path it replaced (detection on the prepared frames in the merge step), a small payload,
and no detector anywhere when detection is off."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from impactlens.engine.elements import auto_aois, detection_instants, track_elements
from impactlens.engine.types import AOI, VideoAnalysis
from impactlens.engine.video import video_attention
from impactlens.media.video_io import iter_samples, probe
from impactlens.models.detectors import Detection, load_detectors
from impactlens.pipeline import LocalVideoAnalyser, StepContext, VideoRunner, video_payload
from impactlens.pipeline.chunks import load_result
from impactlens.pipeline.local import _worker
from impactlens.pipeline.steps import analyse_chunk_step, cleanup_step, merge_step, prepare_step, probe_step
from impactlens.settings import Settings, get_settings
from impactlens.storage import LocalBlobStore
from tests.test_detectors import _grace_hopper
from tests.video_cases import grey_frames, write_video

W, H = 1280, 720  # prepared at 640x360, so the boxes are scaled back to display pixels


def settings(**kw: Any) -> Settings:
    return get_settings().model_copy(update={"variant": "int8", **kw})


def _advert_frames() -> Any:
    """A 1280x720 advert: a title (0-3 s and 30-40 s), a portrait (2-20 s and from 45 s), a
    button that slides across (20-50 s)."""
    backdrop = np.full((H, W, 3), (60, 90, 120), np.uint8)
    titled = Image.fromarray(backdrop)
    ImageDraw.Draw(titled).text((60, 300), "Summer sale", font=ImageFont.load_default(88), fill="white")
    with_title = np.asarray(titled)
    portrait = np.asarray(_grace_hopper().resize((512, 600)))
    font = ImageFont.load_default(48)

    def frame(i: int, t: float) -> np.ndarray:
        out = (with_title if t < 3.0 or 30.0 <= t < 40.0 else backdrop).copy()
        if 2.0 <= t < 20.0 or t >= 45.0:
            out[60:660, 720:1232] = portrait
        if 20.0 <= t < 50.0:
            pil = Image.fromarray(out)
            x = int(40 + 12 * (t - 20.0))
            draw = ImageDraw.Draw(pil)
            draw.rectangle((x, 520, x + 300, 620), fill=(200, 30, 40))
            draw.text((x + 30, 540), "Buy now", font=font, fill="white")
            out = np.asarray(pil)
        return out

    return frame


@pytest.fixture(scope="module")
def long_advert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """62 s at 1 sample a second: 62 instants (0-61 s), more than the 60 detection instants
    allowed, so the capped, evenly spread picks are the ones planned into the chunks."""
    path = tmp_path_factory.mktemp("v") / "advert.mp4"
    return write_video(path, seconds=62.0, fps=5, size=(W, H), frame=_advert_frames())


@pytest.fixture(scope="module")
def short_advert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("v") / "short.mp4"
    return write_video(path, seconds=6.0, fps=10, size=(W, H), frame=_advert_frames())


def serial_elements(path: Path, s: Settings) -> tuple[list[tuple[AOI, Detection]], tuple[int, int]]:
    """The merge step's detection before it moved into the chunks (commit 468b768,
    pipeline/steps.py ``_video_elements``): the picked instants' prepared frames, one
    after another on the main process's detectors, scaled to display pixels, tracked."""
    info = probe(path, s.max_video_seconds, s.max_video_pixels)
    fps = s.video_sample_fps
    samples = list(iter_samples(path, info, fps, s.video_long_side, s.max_video_seconds))
    detectors = load_detectors(s.model_dir, s.threads)
    picks = detection_instants(len(samples), fps)
    fh, fw = samples[0].rgb.shape[:2]
    sx, sy = info.width / fw, info.height / fh
    found = []
    for k in picks:
        dets = detectors.detect(Image.fromarray(samples[k].rgb, "RGB"))
        found.append((float(samples[k].t), [replace(d, x=d.x * sx, y=d.y * sy, w=d.w * sx, h=d.h * sy) for d in dets]))
    step = samples[picks[1]].t - samples[picks[0]].t if len(picks) > 1 else info.duration_s
    return track_elements(found, step, info.duration_s), (fw, fh)


def expected_auto_aois(path: Path, s: Settings, result: VideoAnalysis, out: Path) -> list[Any]:
    """The serial path's AOIs with their shares, computed on this run's own saliency grids."""
    elements, frame = serial_elements(path, s)
    saved = load_result((out / f"{path.stem}.saliency.npz").read_bytes())
    shares = video_attention(saved.t, saved.grids, [a for a, _ in elements], (result.width, result.height), frame)
    return auto_aois(elements, shares)


def test_detection_in_the_pool_workers_equals_the_serial_path(long_advert: Path, tmp_path: Path) -> None:
    s = settings(video_sample_fps=1.0, video_chunk_seconds=10.0)
    load_detectors.cache_clear()
    with LocalVideoAnalyser(s, workers=2) as va:
        result = va.analyse(long_advert, [], tmp_path)
    assert len(result.timeline) == 62 and len(result.chunks) == 7
    assert load_detectors.cache_info().currsize == 0  # the plan was right: nothing detected in merge
    expected = expected_auto_aois(long_advert, s, result, tmp_path)
    kinds = sorted(a.kind for a in expected)
    assert "face" in kinds and kinds.count("text") >= 2  # something real to compare
    assert result.auto_aois == expected  # boxes, confidences, words, spans and shares, bit for bit


def test_detection_in_process_equals_the_serial_path(short_advert: Path, tmp_path: Path) -> None:
    s = settings(video_chunk_seconds=1.5)
    with LocalVideoAnalyser(s, workers=0) as va:
        result = va.analyse(short_advert, [], tmp_path)
    expected = expected_auto_aois(short_advert, s, result, tmp_path)
    assert {a.kind for a in expected} == {"face", "text"}
    assert result.auto_aois == expected


def _steps(s: Settings, path: Path, tmp_path: Path, engine: Any) -> tuple[StepContext, dict[str, Any]]:
    blobs = LocalBlobStore(tmp_path / "blobs", signing_key=b"k" * 32)
    ctx = StepContext(blobs, s, engine)
    payload = prepare_step(probe_step(video_payload("j", {"path": str(path)}, "ad", [], s), ctx), ctx)
    return ctx, payload


def test_chunks_carry_their_planned_instants_and_the_detections_stay_in_the_blobs(
    short_advert: Path, tmp_path: Path
) -> None:
    s = settings(video_chunk_seconds=1.5)
    engine = VideoRunner(s, LocalBlobStore(tmp_path / "unused", signing_key=b"k" * 32), workers=0).engine()
    ctx, payload = _steps(s, short_advert, tmp_path, lambda: engine)
    chunks = payload["chunks"]
    assert [k for c in chunks for k in c["detect"]] == detection_instants(12, 2.0) == [0, 2, 4, 6, 8, 10]
    done = [analyse_chunk_step({**payload, "chunk": c}, ctx)["chunk"] for c in chunks]
    kinds = set()
    for c in done:
        stored = load_result(ctx.blobs.read(c["result_key"])).detections or {}
        assert sorted(stored) == c["detect"]
        kinds |= {d.kind for dets in stored.values() for d in dets}
    assert kinds == {"face", "text"}
    # What a chunk hands back (the Step Functions Map collects these) holds no detections.
    assert max(len(json.dumps(c)) for c in done) < 400
    # A retry after success changes nothing and runs no model.
    retry = StepContext(ctx.blobs, s, lambda: pytest.fail("the models must not run again"))
    again = analyse_chunk_step({**payload, "chunk": chunks[1]}, retry)["chunk"]
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in done[1].items() if k != "seconds"}
    merged = merge_step({**payload, "chunks": done}, StepContext(ctx.blobs, s, lambda: pytest.fail("no models")))
    cleanup_step(payload, ctx)
    assert {a["kind"] for a in merged["result"]["auto_aois"]} == {"face", "text"}


def test_merge_detects_the_instants_no_chunk_covered_as_the_serial_path_did(short_advert: Path, tmp_path: Path) -> None:
    """When the probe's sample count was wrong the plan misses instants; merge covers them."""
    s = settings(video_chunk_seconds=1.5)
    engine = VideoRunner(s, LocalBlobStore(tmp_path / "unused", signing_key=b"k" * 32), workers=0).engine()
    ctx, payload = _steps(s, short_advert, tmp_path, lambda: engine)
    chunks = [{**c, "detect": c["detect"] if c["index"] % 2 else []} for c in payload["chunks"]]
    done = [analyse_chunk_step({**payload, "chunk": c}, ctx)["chunk"] for c in chunks]
    merged = merge_step({**payload, "chunks": done}, ctx)["result"]
    with LocalVideoAnalyser(s, workers=0) as va:
        planned = va.analyse(short_advert, [])
    assert merged["auto_aois"] == [a.model_dump(mode="json") for a in planned.auto_aois]
    assert merged["auto_aois"]


def _worker_state(_: int) -> dict[str, Any]:
    """Runs in a pool worker: what it has loaded."""
    time.sleep(0.3)  # long enough for the other worker to take the next call
    engine = _worker.get("engine")
    det = engine.detectors if engine is not None else None
    return {
        "pid": os.getpid(),
        "loads": load_detectors.cache_info().misses,
        "threads": det.faces.session.get_session_options().intra_op_num_threads if det else None,
    }


@pytest.mark.parametrize("detect", [True, False])
def test_workers_load_the_detectors_once_and_the_main_process_not_at_all(
    short_advert: Path, tmp_path: Path, detect: bool
) -> None:
    load_detectors.cache_clear()
    s = settings(video_chunk_seconds=1.0, detect_elements=detect)
    with LocalVideoAnalyser(s, workers=2) as va:
        result = va.analyse(short_advert, [])
        states = list(va.runner.pool().map(_worker_state, range(4)))
    assert len(result.chunks) == 6
    assert load_detectors.cache_info().currsize == 0  # merge only tracked what the chunks found
    assert {st["loads"] for st in states} == ({1} if detect else {0})
    assert {st["threads"] for st in states} == ({1} if detect else {None})
    assert bool(result.auto_aois) is detect and ("faces" in result.models) is detect


# Presentation times (ms) of variable-frame-rate videos: bursts, long holds, and a last frame
# whose own length the header can only guess (the old plan took it as one average frame).
VFR = {
    "bursts": [0, 100, 150, 700, 1200, 1250, 2100, 2140, 2180, 2900, 3000, 3033],
    "long-last-hold": [0, 40, 80, 1000, 1900, 1950, 2000],
    # 31 s: 63 instants at 2 per second, past the 60 detection instants, so the picks are
    # spread over the whole count and a plan one short moves nearly all of them.
    "past-the-cap": [0, *range(700, 30_000, 1300), 30_300, 30_340, 31_010],
}


@pytest.mark.parametrize(("container", "options"), [("mp4", {"preset": "medium"}), ("mkv", {}), ("ts", {})])
@pytest.mark.parametrize("times", sorted(VFR))
def test_a_variable_frame_rate_plan_names_the_instants_merge_uses(
    tmp_path: Path, times: str, container: str, options: dict[str, str]
) -> None:
    """The streamed plan (each chunk's ``detect`` written as it fills, before decoding ends)
    equals the picks merge takes from the real count, so merge detects nothing itself.
    mp4 with the medium preset has B-frames: the last frame shown is not the last stored."""
    from impactlens.pipeline.detection import planned_count
    from impactlens.pipeline.steps import iter_prepare

    path = write_video(
        tmp_path / f"vfr.{container}", size=(64, 48), frame=grey_frames(64, 48), pts_ms=VFR[times], options=options
    )
    for fps in (1.0, 2.0, 5.0):
        s = settings(video_sample_fps=fps, video_chunk_seconds=2.0)
        blobs = LocalBlobStore(tmp_path / f"blobs{fps}", signing_key=b"k" * 32)
        ctx = StepContext(blobs, s, lambda: pytest.fail("planning needs no model"))
        payload = probe_step(video_payload("j", {"path": str(path)}, "ad", [], s), ctx)
        chunks = list(iter_prepare(payload, ctx))
        count = sum(c["samples"] for c in chunks)
        assert planned_count(probe(path, 600, 10**8), fps) == count, (fps, payload["probe"])
        assert [k for c in chunks for k in c["detect"]] == detection_instants(count, fps), fps


def test_a_variable_frame_rate_video_is_detected_in_the_chunks_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_video(tmp_path / "vfr.mp4", size=(W // 4, H // 4), pts_ms=VFR["long-last-hold"])
    s = settings(video_chunk_seconds=1.0)
    with caplog.at_level("INFO", logger="impactlens.pipeline"), LocalVideoAnalyser(s, workers=0) as va:
        result = va.analyse(path, [])
    assert result.variable_frame_rate and len(result.timeline) == 5  # instants 0-2 s: the frame at 2.0 s counts
    assert not [r for r in caplog.records if "in merge" in r.getMessage()]
