"""The image engine end to end on the real models."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from impactlens import AOI, analyze_image, analyze_paths
from impactlens.cli import main
from impactlens.media.image_io import decode_image
from tests import media_cases as mc
from tests.conftest import SAMPLES


def _scene(width=480, height=320, obj=(340, 40, 90, 90)):
    """Flat grey scene with a single high-contrast face-like object in a corner."""
    arr = np.full((height, width, 3), 128, np.uint8)
    x, y, w, h = obj
    arr[y : y + h, x : x + w] = (255, 40, 40)
    arr[y + 20 : y + 35, x + 20 : x + 35] = 0
    arr[y + 20 : y + 35, x + 55 : x + 70] = 0
    return Image.fromarray(arr)


def test_analysis_returns_scores_in_range_and_records_the_models(engine, tmp_path):
    result = analyze_image(SAMPLES[0], engine=engine)
    assert 0.0 <= result.memorability <= 1.0
    assert 0.0 <= result.memorability_percentile <= 100.0
    assert result.models["memorability"].variant == "int8"
    assert result.models["memorability"].sha256 and len(result.models["memorability"].sha256) == 64
    assert "non-commercial" in result.models["memorability"].licence
    assert result.timings_s["memorability"] > 0 and result.timings_s["saliency"] > 0
    assert 1 <= len(result.saliency_peaks) <= 5
    assert result.saliency_peaks[0].relative_density == pytest.approx(1.0)


def test_attention_share_on_a_salient_object_beats_an_empty_region(engine, tmp_path):
    path = tmp_path / "scene.png"
    _scene().save(path)
    aois = [AOI(name="object", x=340, y=40, w=90, h=90), AOI(name="empty", x=30, y=200, w=90, h=90)]
    result = analyze_image(path, aois, engine=engine)
    shares = {a.name: a for a in result.attention}
    assert shares["object"].share > 2 * shares["empty"].share
    assert shares["object"].area_fraction == pytest.approx(90 * 90 / (480 * 320))


def test_aoi_shares_of_a_partition_sum_to_one(engine, tmp_path):
    path = tmp_path / "scene.png"
    _scene().save(path)
    halves = [AOI(name="left", x=0, y=0, w=240, h=320), AOI(name="right", x=240, y=0, w=240, h=320)]
    result = analyze_image(path, halves, engine=engine)
    assert sum(a.share for a in result.attention) == pytest.approx(1.0, abs=1e-4)


def test_outputs_are_a_16_bit_map_at_input_resolution_and_a_blended_heatmap(tmp_path):
    batch = analyze_paths([SAMPLES[1]], tmp_path, variant="int8")
    assert batch.ok
    stem = SAMPLES[1].stem
    w, h = Image.open(SAMPLES[1]).size
    sal = Image.open(tmp_path / f"{stem}.saliency.png")
    assert sal.mode.startswith("I;16") and sal.size == (w, h)
    values = np.asarray(sal)
    assert values.max() == 65535 and values.min() < 65535 // 4
    heat = Image.open(tmp_path / f"{stem}.heatmap.png")
    assert heat.mode == "RGB" and heat.size == (w, h)
    assert not np.array_equal(np.asarray(heat), np.asarray(Image.open(SAMPLES[1]).convert("RGB")))
    data = json.loads((tmp_path / f"{stem}.json").read_text())
    assert data["outputs"] == {"saliency": f"{stem}.saliency.png", "heatmap": f"{stem}.heatmap.png"}
    assert not list(tmp_path.glob("*.tmp"))


def test_exif_rotation_is_applied_before_analysis(engine, tmp_path):
    path = tmp_path / "rotated.jpg"
    path.write_bytes(mc.exif_rotated_jpeg())
    result = analyze_image(path, engine=engine)
    assert (result.width, result.height) == (240, 320)
    assert any("EXIF" in w for w in result.warnings)


def test_one_bad_file_does_not_stop_the_batch_and_the_exit_code_says_so(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(mc.truncated_jpeg())
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    code = main(
        [
            "analyze",
            str(SAMPLES[0]),
            str(bad),
            str(empty),
            str(SAMPLES[2]),
            "--out",
            str(out),
            "--aoi",
            "centre=100,100,50,50",
        ]
    )
    assert code == 1
    assert sorted(p.name for p in out.glob("*.json")) == sorted(f"{p.stem}.json" for p in (SAMPLES[0], SAMPLES[2]))
    err = capsys.readouterr().err
    assert "broken.jpg: FAILED [corrupt_image]" in err and "empty.png: FAILED [empty_file]" in err
    assert not (out / "broken.json").exists()


def test_a_clean_batch_exits_zero_and_a_malformed_aoi_exits_two(tmp_path):
    assert main(["analyze", str(SAMPLES[0]), "--out", str(tmp_path), "--variant", "fp32"]) == 0
    assert main(["analyze", str(SAMPLES[0]), "--out", str(tmp_path), "--aoi", "logo=1,2,3"]) == 2


def test_fp32_and_int8_agree_closely(engine, engine_fp32):
    decoded = decode_image(SAMPLES[0], 10**8)
    a = engine.analyse(decoded, [], "x").analysis.memorability
    b = engine_fp32.analyse(decoded, [], "x").analysis.memorability
    assert abs(a - b) < 0.08


def test_the_runtime_never_imports_torch():
    code = (
        "import sys, impactlens\n"
        "from impactlens.engine import ImageEngine\n"
        "from impactlens.settings import get_settings\n"
        f"impactlens.analyze_image({str(SAMPLES[0])!r})\n"
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("crop", [None, (87, 0, 425, 600)], ids=["photograph", "9:16 story cut from it"])
def test_a_portrait_photographs_saliency_peak_is_on_the_face(engine, crop):
    # Regression: the previous readouts (1x1 convolutions only, trained on squashed inputs) put
    # this portrait's strongest cell on its bottom edge (row 0.98 of the grid, 2-16x the 99th
    # percentile), squashed to 512x384 or not; lite1-readout-3 (context convolutions) finds the face.
    from tests.test_detectors import HOPPER_FACE, _grace_hopper

    photo = _grace_hopper()
    image = photo.crop(crop) if crop else photo
    grid, _ = engine.saliency.predict(image)
    rows, cols = grid.shape
    assert (rows, cols) == ((72, 40) if crop else (60, 52))  # the input kept the image's shape
    r, c = np.unravel_index(int(grid.argmax()), grid.shape)
    x = (c + 0.5) / cols * image.width + (crop[0] if crop else 0)
    y = (r + 0.5) / rows * image.height
    fx, fy, fw, fh = HOPPER_FACE
    assert fx <= x <= fx + fw and fy <= y <= fy + fh, (x, y)


def test_score_frame_on_two_lanes_equals_the_models_called_in_turn(engine):
    image = Image.open(SAMPLES[0]).convert("RGB")
    score, grid = engine.score_frame(image)
    assert score == pytest.approx(min(1.0, max(0.0, engine.memorability.predict(image)[0])), abs=1e-6)
    np.testing.assert_allclose(grid, engine.saliency.predict(image)[0], rtol=1e-5, atol=1e-9)


def test_each_lane_session_gets_half_the_cores_when_threads_are_left_to_the_engine(engine, monkeypatch):
    import os

    from impactlens.engine.image import lane_threads

    sessions = [engine.memorability.session, engine.saliency.session]
    assert all(s.get_session_options().intra_op_num_threads == lane_threads() for s in sessions)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert lane_threads() == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert lane_threads() == 1


def test_a_one_thread_engine_runs_one_lane_as_the_video_pool_workers_ask():
    from impactlens.engine.image import ImageEngine
    from impactlens.settings import get_settings

    single = ImageEngine.from_settings(get_settings().model_copy(update={"threads": 1}), "int8")
    assert not single.parallel  # two workers on two cores: a second lane each would oversubscribe
    assert ImageEngine.from_settings(get_settings().model_copy(update={"threads": 0}), "int8").parallel
    image = Image.open(SAMPLES[0]).convert("RGB")
    score, grid = single.score_frame(image)
    assert 0.0 <= score <= 1.0 and grid.sum() == pytest.approx(1.0, abs=1e-5)
