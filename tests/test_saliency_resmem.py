"""The saliency readout that reads the memorability pass (lite1-resmem-readout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from impactlens.engine.image import ImageEngine
from impactlens.errors import ConfigurationError
from impactlens.media.image_io import decode_image
from impactlens.models.converters import RESMEM_TAPS
from impactlens.models.readout import (
    RESMEM_FRAME_CELLS,
    memorability_taps,
    readout_backbones,
    resmem_frame_matrix,
    saliency_to_onnx,
)
from impactlens.models.runtime import load_memorability, load_saliency
from impactlens.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = sorted((ROOT / "impactlens" / "data" / "calibration").glob("*.jpg"))


def _bilinear(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): half-pixel bilinear resize with edge clamping (ONNX Resize 'linear')."""
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(x).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - (x - lo)
    m[np.arange(n_out), hi] += x - lo
    return m


def test_the_frame_matrix_spreads_crop_cells_over_the_whole_image_and_keeps_constants() -> None:
    for t, (_, src) in RESMEM_TAPS.items():
        m = resmem_frame_matrix(src, RESMEM_FRAME_CELLS[t])
        np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-6)  # a constant map stays constant
        assert (m >= 0).all()
        # Cells left of the crop (it starts 14 of 256 px in) take its first cell; the order holds.
        assert m[0, 0] == 1.0 and m[-1, -1] == 1.0
        centre = m @ np.arange(src)
        assert (np.diff(centre) >= 0).all()


def test_a_resmem_tap_reaches_the_grid_framed_then_resized(tmp_path: Path) -> None:
    # One linear layer on the l4 tap only, no blur, flat centre bias: the graph's output must be
    # log_softmax(resize(frame(w . l4)) + b), computed here with plain matrices.
    rng = np.random.default_rng(1)
    c, src = RESMEM_TAPS["l4"]
    wt = rng.normal(0, 0.05, (1, c, 1, 1)).astype(np.float32)
    readout = {
        "readout.0.weight": wt,
        "readout.0.bias": np.array([0.2], np.float32),
        "centre_bias": np.zeros((12, 16), np.float32),
        "blur_sigma": np.array(0.01, np.float32),
        "taps": np.array(["resmem:l4"]),
    }
    assert readout_backbones(readout) == [] and memorability_taps(readout) == ["l4"]
    sess = ort.InferenceSession(
        saliency_to_onnx({}, readout, {}).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feeds = {"image": np.zeros((1, 3, 320, 576), np.float32), "resmem_l4": rng.random((1, c, src, src), np.float32)}
    (logp,) = sess.run(None, feeds)
    z = np.einsum("c,chw->hw", wt[0, :, 0, 0].astype(np.float64), feeds["resmem_l4"][0].astype(np.float64))
    m = resmem_frame_matrix(src, RESMEM_FRAME_CELLS["l4"]).astype(np.float64)
    z = _bilinear(8, 40) @ (m @ z @ m.T) @ _bilinear(8, 72).T + 0.2
    expected = z - z.max() - np.log(np.exp(z - z.max()).sum())
    assert logp.shape == (1, 1, 40, 72)
    np.testing.assert_allclose(logp[0, 0], expected, atol=2e-4)


@pytest.fixture(scope="module")
def models():
    s = get_settings()
    mem = load_memorability("resmem", "int8", s.model_dir, 1, taps=True)
    sal = load_saliency("lite1-resmem-readout", "int8", s.model_dir, 1)
    return mem, sal


def test_the_memorability_pass_hands_out_the_taps_and_the_same_score(models) -> None:
    mem, _ = models
    image = Image.open(PHOTOS[0]).convert("RGB")
    score, taps, _ = mem.predict_with_taps(image)
    assert score == mem.predict(image)[0]
    assert {t: a.shape for t, a in taps.items()} == {t: (1, c, n, n) for t, (c, n) in RESMEM_TAPS.items()}


def test_saliency_alone_runs_the_memorability_pass_itself_and_equals_the_shared_pass(models) -> None:
    mem, sal = models
    image = Image.open(PHOTOS[1]).convert("RGB")
    alone, _ = sal.predict(image)
    _, taps, _ = mem.predict_with_taps(image)
    shared, _ = sal.predict(image, taps)
    np.testing.assert_array_equal(alone, shared)
    assert alone.sum() == pytest.approx(1.0, abs=1e-5)
    # The taps matter: another photograph's pass gives another map.
    _, other, _ = mem.predict_with_taps(Image.open(PHOTOS[2]).convert("RGB"))
    assert np.abs(sal.predict(image, other)[0] - alone).max() > 1e-4


def test_the_engine_shares_one_memorability_pass_with_saliency_in_both_lane_modes(models) -> None:
    mem, sal = models
    s = get_settings()
    decoded = decode_image(PHOTOS[3], s.max_image_pixels)
    expected, _ = sal.predict(decoded.image)
    for parallel in (True, False):
        engine = ImageEngine(mem, sal, s.model_dir, None, parallel=parallel)
        outcome = engine.analyse(decoded, [], "photo.jpg")
        np.testing.assert_array_equal(outcome.grid, expected)
        assert outcome.analysis.memorability == pytest.approx(min(1.0, max(0.0, mem.predict(decoded.image)[0])))
        score, grid = engine.score_frame(decoded.image)
        np.testing.assert_array_equal(grid, expected)


def test_an_engine_refuses_a_resmem_readout_beside_a_memorability_session_without_its_taps(models) -> None:
    _, sal = models
    s = get_settings()
    plain = load_memorability("resmem", "int8", s.model_dir, 1)  # the default: the score only
    assert plain.tap_names == []
    with pytest.raises(ConfigurationError, match="lite1-readout"):
        ImageEngine(plain, sal, s.model_dir, None)


def test_the_default_memorability_session_computes_only_the_score_and_the_same_one(models) -> None:
    # The taps are outputs only for sessions that ask for them: as graph outputs they keep
    # ONNX Runtime from fusing their producers, and the score alone ran ~4% slower.
    mem, _ = models
    s = get_settings()
    plain = load_memorability("resmem", "int8", s.model_dir, 1)
    assert [o.name for o in plain.session.get_outputs()] == ["memorability"]
    image = Image.open(PHOTOS[4]).convert("RGB")
    assert plain.predict(image)[0] == pytest.approx(mem.predict(image)[0], abs=1e-6)


def test_int8_taps_are_the_fp32_activations_after_their_relu(models) -> None:
    # The INT8 build folds the ReLU after ResMem's conv5 into its quantisation, so the tensor
    # the alex tap names is pre-ReLU there; the tap applies the ReLU (relative error 1.08 without).
    mem8, _ = models
    mem32 = load_memorability("resmem", "fp32", get_settings().model_dir, 1, taps=True)
    image = Image.open(PHOTOS[5]).convert("RGB")
    _, a, _ = mem32.predict_with_taps(image)
    _, b, _ = mem8.predict_with_taps(image)
    rel = {t: float(np.linalg.norm(a[t] - b[t]) / np.linalg.norm(a[t])) for t in a}
    assert (b["alex"] >= 0).all() and rel["alex"] < 0.05, rel
    assert rel["l3"] < 0.5 and rel["l4"] < 0.5, rel  # the deep stages carry INT8's rounding
