"""The video pipeline on real, generated videos: sampling, chunks, outputs and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest

from impactlens.batch import analyze_paths
from impactlens.engine import AOI
from impactlens.errors import MediaError
from impactlens.media.video_io import iter_samples, probe
from impactlens.pipeline import LocalVideoAnalyser, StepContext, analyse_chunk_step
from impactlens.pipeline.chunks import load_result
from impactlens.settings import Settings, get_settings
from impactlens.storage import LocalBlobStore
from tests.media_cases import jpeg
from tests.video_cases import grey_frames, scene, write_audio_only, write_video

W, H = 320, 240
BOX = (200, 60, 80, 80)  # where the bright object appears, from 2 s on


def settings(**kw: object) -> Settings:
    return get_settings().model_copy(update={"variant": "int8", "video_chunk_seconds": 1.5, **kw})


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("v") / "scene.mp4"
    return write_video(path, seconds=5.0, size=(W, H), frame=scene(W, H, enter_s=2.0, box=BOX))


@pytest.fixture(scope="module")
def analysed(scene_video: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("out")
    aois = [AOI(name="object", x=BOX[0], y=BOX[1], w=BOX[2], h=BOX[3]), AOI(name="empty", x=20, y=60, w=80, h=80)]
    with LocalVideoAnalyser(settings(), workers=0) as va:
        result = va.analyse(scene_video, aois, out)
        leftovers = list(va.blobs.list(""))
    return result, out, leftovers


def test_probe_reads_duration_rate_size_and_audio(tmp_path: Path) -> None:
    path = write_video(tmp_path / "a.mp4", seconds=2.0, fps=25, size=(W, H), audio=True)
    info = probe(path, 600, 10**8)
    assert (info.width, info.height, info.rotation) == (W, H, 0)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.1)
    assert info.has_audio and info.codec == "h264" and not info.variable_frame_rate


def test_timeline_has_one_point_per_sampled_instant(analysed) -> None:
    result, _, _ = analysed
    # 5 s at 30 fps: the last frame is at 4.967 s, so instants 0, 0.5, ... 4.5.
    assert [p.t for p in result.timeline] == pytest.approx([k * 0.5 for k in range(10)])
    assert all(0.0 <= p.memorability <= 1.0 for p in result.timeline)
    assert result.memorability == pytest.approx(np.mean([p.memorability for p in result.timeline]))
    smoothed = np.array([p.smoothed for p in result.timeline])
    raw = np.array([p.memorability for p in result.timeline])
    assert np.abs(np.diff(smoothed)).sum() <= np.abs(np.diff(raw)).sum() + 1e-12


def test_chunks_cover_every_instant_once_at_the_configured_length(analysed) -> None:
    result, _, _ = analysed
    assert [c.samples for c in result.chunks] == [3, 3, 3, 1]  # 1.5 s at 2 fps per chunk
    assert [c.start_s for c in result.chunks] == [0.0, 1.5, 3.0, 4.5]
    assert [c.end_s for c in result.chunks] == [1.5, 3.0, 4.5, 5.0]


def test_attention_on_bright_object_beats_empty_region_once_it_enters(analysed) -> None:
    result, out, _ = analysed
    shares = {a.name: a for a in result.attention}
    assert shares["object"].whole > 1.5 * shares["empty"].whole
    saved = load_result((out / "scene.saliency.npz").read_bytes())
    sx, sy = saved.grids.shape[2] / W, saved.grids.shape[1] / H
    x0, y0, x1, y1 = (int(BOX[0] * sx), int(BOX[1] * sy), int((BOX[0] + BOX[2]) * sx), int((BOX[1] + BOX[3]) * sy))
    mass = saved.grids[:, y0:y1, x0:x1].sum(axis=(1, 2))
    before, after = mass[saved.t < 2.0], mass[saved.t >= 2.0]
    assert after.min() > 1.5 * before.max() and after.mean() > 2 * before.mean()
    # The 3 s window has 2 of its 6 instants with the object on screen; the whole has 6 of 10.
    assert shares["object"].first_3s < shares["object"].first_5s == shares["object"].whole


def test_outputs_are_written_and_nothing_intermediate_is_left(analysed) -> None:
    result, out, leftovers = analysed
    assert leftovers == []
    doc = json.loads((out / "scene.json").read_text())
    assert doc["kind"] == "video" and doc["outputs"]["heatmap_video"] == "scene.heatmap.mp4"
    assert set(doc["timings_s"]) >= {"probe", "prepare_and_analyse", "merge"}
    assert doc["models"]["memorability"]["name"] == "resmem"
    with av.open(str(out / "scene.heatmap.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f for f in c.decode(stream)]
    assert len(frames) == len(result.timeline)
    assert [round(float(f.time), 3) for f in frames] == [p.t for p in result.timeline]
    assert 1 <= len(result.keyframes) <= 5
    for k in result.keyframes:
        assert (out / k.thumbnail).stat().st_size > 1000


def test_chunked_result_equals_unchunked(scene_video: Path) -> None:
    aois = [AOI(name="object", x=BOX[0], y=BOX[1], w=BOX[2], h=BOX[3], start_s=1.0, end_s=4.0)]
    with LocalVideoAnalyser(settings(video_chunk_seconds=1.0), workers=0) as va:
        chunked = va.analyse(scene_video, aois)
    with LocalVideoAnalyser(settings(video_chunk_seconds=60.0), workers=0) as va:
        whole = va.analyse(scene_video, aois)
    assert len(chunked.chunks) == 5 and len(whole.chunks) == 1
    assert [p.model_dump() for p in chunked.timeline] == [p.model_dump() for p in whole.timeline]
    assert chunked.attention == whole.attention
    assert chunked.memorability == whole.memorability


def test_process_pool_runs_are_bit_identical_to_each_other_and_in_process(
    scene_video: Path, analysed, tmp_path: Path
) -> None:
    """Every frame's grid and score is one ONNX Runtime call on the same pixels, whichever
    process and thread count runs it (measured: 1, 2, 4 and 8 intra-op threads give the same
    bits for every model here), and merge concatenates in index order: no reduction runs in
    an order that depends on the pool. Repeated analyses are the same, bit for bit."""
    inline, out, _ = analysed
    aoi = AOI(name="object", x=BOX[0], y=BOX[1], w=BOX[2], h=BOX[3])
    saved = load_result((out / "scene.saliency.npz").read_bytes())
    for run in range(2):  # a fresh pool each time
        with LocalVideoAnalyser(settings(), workers=2) as va:
            pooled = va.analyse(scene_video, [aoi], tmp_path / str(run))
        again = load_result((tmp_path / str(run) / "scene.saliency.npz").read_bytes())
        assert np.array_equal(again.grids, saved.grids) and np.array_equal(again.memorability, saved.memorability)
        assert [p.model_dump() for p in pooled.timeline] == [p.model_dump() for p in inline.timeline]
        assert pooled.attention[0] == inline.attention[0]


def test_variable_frame_rate_samples_the_frame_on_screen(tmp_path: Path) -> None:
    pts = [0, 100, 150, 700, 1200, 1250, 2100]  # ms; frame i is grey level 10 * i
    path = write_video(tmp_path / "vfr.mp4", size=(64, 64), frame=grey_frames(64, 64), pts_ms=pts)
    info = probe(path, 600, 10**8)
    samples = list(iter_samples(path, info, 2.0, 640, 600))
    # Instants 0, .5, 1, 1.5, 2 show frames 2 (t=.15), 3 (t=.7), 3, 5 (t=1.25), 5.
    assert [s.t for s in samples] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert [s.frame_time for s in samples] == pytest.approx([0.0, 0.15, 0.7, 1.25, 1.25])
    levels = [int(round(s.rgb.mean() / 10)) for s in samples]
    assert levels == [0, 2, 3, 5, 5]


# A video whose frames are held 40 to 500 ms; and steady ones: 30 fps, NTSC 29.97 fps in
# milliseconds (steps 33, 33, 34: rounding, not a variable rate).
VFR_MS = [0, 40, 80, 120, 300, 340, 380, 700, 740, 780, 1200, 1240, 1280, 1320, 1360, 1400]
NTSC_MS = [round(i * 1000 / 29.97) for i in range(60)]


@pytest.mark.parametrize(
    ("name", "codec"), [("vfr.mkv", "libx264"), ("vfr.webm", "libvpx-vp9"), ("vfr.mp4", "libx264")]
)
def test_a_variable_frame_rate_is_flagged_in_every_container(tmp_path: Path, name: str, codec: str) -> None:
    """Matroska's average and base rates are both the muxer's nominal rate (30), so a VFR
    MKV/WebM was reported as constant: the packets' timestamps decide."""
    path = write_video(tmp_path / name, size=(64, 64), frame=grey_frames(64, 64), pts_ms=VFR_MS, codec=codec)
    info = probe(path, 600, 10**8)
    assert info.variable_frame_rate and any("variable frame rate" in w for w in info.warnings)


@pytest.mark.parametrize("name", ["cfr.mkv", "cfr.webm", "cfr.mp4", "ntsc.mkv", "ntsc.mp4"])
def test_a_steady_frame_rate_is_not_flagged(tmp_path: Path, name: str) -> None:
    codec = "libvpx-vp9" if name.endswith(".webm") else "libx264"
    pts = NTSC_MS if name.startswith("ntsc") else None
    path = write_video(tmp_path / name, seconds=2.0, size=(64, 64), frame=grey_frames(64, 64), pts_ms=pts, codec=codec)
    info = probe(path, 600, 10**8)
    assert not info.variable_frame_rate and not any("variable" in w for w in info.warnings)


def test_rotated_phone_video_is_analysed_upright(tmp_path: Path) -> None:
    path = write_video(tmp_path / "phone.mp4", seconds=1.0, size=(320, 176), rotation=-90)
    info = probe(path, 600, 10**8)
    assert (info.width, info.height) == (176, 320) and info.rotation == 270
    sample = next(iter(iter_samples(path, info, 2.0, 640, 600)))
    assert sample.rgb.shape == (320, 176, 3)


def test_single_frame_video_gives_one_point(tmp_path: Path) -> None:
    path = write_video(tmp_path / "one.mp4", size=(W, H), pts_ms=[0])
    with LocalVideoAnalyser(settings(), workers=0) as va:
        result = va.analyse(path)
    assert len(result.timeline) == 1 and result.timeline[0].t == 0.0


def test_interlaced_video_is_analysed_with_a_warning(tmp_path: Path) -> None:
    path = write_video(
        tmp_path / "i.mp4", seconds=1.0, size=(W, H), options={"flags": "+ildct+ilme", "x264-params": "interlaced=1"}
    )
    with LocalVideoAnalyser(settings(), workers=0) as va:
        result = va.analyse(path)
    assert any("interlaced" in w for w in result.warnings)
    assert len(result.timeline) == 2


def test_8k_video_is_downscaled_before_analysis(tmp_path: Path) -> None:
    path = write_video(tmp_path / "8k.mp4", size=(7680, 4320), pts_ms=[0, 40])
    info = probe(path, 600, get_settings().max_video_pixels)
    sample = next(iter(iter_samples(path, info, 2.0, 640, 600)))
    assert sample.rgb.shape == (360, 640, 3)
    with pytest.raises(MediaError) as err:
        probe(path, 600, 3840 * 2160)
    assert err.value.code == "video_too_large"


def _bad_case(tmp_path: Path, name: str) -> Path:
    p = tmp_path / f"{name}.mp4"
    if name == "audio_only":
        return write_audio_only(p)
    if name == "empty":
        p.write_bytes(b"")
        return p
    if name == "image_renamed":
        p.write_bytes(jpeg())
        return p
    if name == "not_media":
        p.write_bytes(os.urandom(4096))
        return p
    if name == "no_frames":
        with av.open(str(p), mode="w") as c:
            s = c.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = W, H, "yuv420p"
            c.start_encoding()  # header and an empty track, no frame
        return p
    good = write_video(tmp_path / "good.mp4", seconds=4.0, size=(W, H))
    data = good.read_bytes()
    if name == "truncated":
        p.write_bytes(data[: len(data) // 2])
    elif name == "too_long":
        return good
    return p


@pytest.mark.parametrize(
    ("case", "codes"),
    [
        ("audio_only", {"no_video_stream"}),
        ("empty", {"empty_file"}),
        ("image_renamed", {"not_a_video"}),
        ("not_media", {"unsupported_media", "corrupt_media"}),
        ("no_frames", {"no_video_stream", "empty_video", "unsupported_media", "corrupt_media"}),
        ("truncated", {"corrupt_media", "truncated_media", "unsupported_media"}),
        ("too_long", {"video_too_long"}),
    ],
)
def test_bad_video_gets_a_precise_error_and_leaves_nothing(tmp_path: Path, case: str, codes: set[str]) -> None:
    path = _bad_case(tmp_path, case)
    out = tmp_path / "out"
    with LocalVideoAnalyser(settings(max_video_seconds=3.0), workers=0) as va:
        with pytest.raises(MediaError) as err:
            va.analyse(path, out_dir=out)
        assert list(va.blobs.list("")) == []
    assert err.value.code in codes, err.value.message
    assert not out.exists() or list(out.iterdir()) == []


def test_corrupt_bytes_mid_stream_give_a_result_or_a_timed_error(tmp_path: Path) -> None:
    good = write_video(tmp_path / "good.mp4", seconds=4.0, size=(W, H))
    data = bytearray(good.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 3000] = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / "mid.mp4"
    bad.write_bytes(bytes(data))
    with LocalVideoAnalyser(settings(), workers=0) as va:
        try:
            result = va.analyse(bad)
        except MediaError as exc:
            assert exc.code in {"corrupt_media", "truncated_media"} and " s" in exc.message
        else:
            assert len(result.timeline) == 8


def test_a_failing_chunk_reports_its_time_range(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "b", signing_key=b"k" * 32)
    blobs.put("work/j/chunks/00002.npz", b"not a chunk")
    ctx = StepContext(blobs, settings(), engine=lambda: pytest.fail("the models must not run"))
    chunk = {
        "index": 2,
        "key": "work/j/chunks/00002.npz",
        "first_sample": 6,
        "samples": 3,
        "start_s": 3.0,
        "end_s": 4.5,
    }
    payload = {"work_prefix": "work/j", "options": {"sample_fps": 2.0}, "chunk": chunk}
    with pytest.raises(MediaError) as err:
        analyse_chunk_step(payload, ctx)
    assert "chunk 2 (3.0-4.5 s)" in err.value.message and err.value.code == "corrupt_chunk"
    assert not blobs.exists("work/j/results/00002.npz")


def test_images_and_videos_mix_in_one_call(tmp_path: Path, scene_video: Path) -> None:
    image = tmp_path / "still.jpg"
    image.write_bytes(jpeg())
    renamed = tmp_path / "still-renamed.mp4"
    renamed.write_bytes(jpeg())
    batch = analyze_paths([scene_video, image, renamed], tmp_path / "out", settings=settings(workers=0))
    assert batch.ok, batch.errors
    assert [r.kind for r in batch.results] == ["video", "image", "image"]
    assert any(".mp4" in w for w in batch.results[2].warnings)
    assert (tmp_path / "out" / "scene.heatmap.mp4").exists() and (tmp_path / "out" / "still.heatmap.png").exists()


def test_probing_a_variable_frame_rate_mpeg_ts_does_not_crash_the_process(tmp_path: Path) -> None:
    """probe read the stream's frame rates after closing the container (freed memory): this
    file took the whole process down with SIGSEGV, at upload the API server itself. Probed
    in a child process so a crash fails this test instead of ending the run."""
    import subprocess
    import sys

    pts = [0, 100, 150, 700, 1200, 1250, 2100, 2140, 2180, 2900, 3000, 3033]
    path = write_video(tmp_path / "vfr.ts", size=(64, 64), frame=grey_frames(64, 64), pts_ms=pts)
    code = "import sys; from impactlens.media.video_io import probe; print(probe(sys.argv[1], 600, 10**8).last_frame_s)"
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert float(done.stdout) == pytest.approx(3.033)


def test_a_phone_videos_card_thumbnail_is_upright_at_its_display_aspect(tmp_path: Path) -> None:
    """The card thumbnail was the first coded frame as stored: a phone video lay on its side."""
    import io
    from fractions import Fraction

    from PIL import Image

    from impactlens.media.thumbnail import video_thumbnail

    def half_white(i: int, t: float) -> np.ndarray:
        frame = np.zeros((176, 320, 3), np.uint8)
        frame[:, :160] = 255  # the coded frame's left half
        return frame

    phone = write_video(tmp_path / "phone.mp4", seconds=1.0, size=(320, 176), frame=half_white, rotation=-90)
    with Image.open(io.BytesIO(video_thumbnail(phone))) as im:
        grey = np.asarray(im.convert("L"), np.float64)
    assert grey.shape == (320, 176)  # portrait, as played
    assert grey[:150].mean() > 240 and grey[170:].mean() < 15  # turned 90 degrees clockwise: left is up
    pal = write_video(tmp_path / "pal.mp4", seconds=1.0, size=(720, 576), sample_aspect=Fraction(64, 45))
    with Image.open(io.BytesIO(video_thumbnail(pal))) as im:
        assert im.size == (320, 180)  # 16:9, not 5:4
