"""The composed saliency graph: one or several backbones feeding one readout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from impactlens.models.checkpoint import load_state_dict
from impactlens.models.readout import BACKBONE_SOURCES, GRID, backbone_to_onnx, readout_taps, saliency_to_onnx
from impactlens.models.sources import package_file

ROOT = Path(__file__).resolve().parents[1]
H, W = GRID


@pytest.fixture(scope="module")
def states() -> dict[str, dict[str, np.ndarray]]:
    return {b: load_state_dict(package_file(BACKBONE_SOURCES[b])) for b in ("mnv2", "lite0")}


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    from impactlens.models.preprocess import saliency_input

    photo = sorted((ROOT / "impactlens" / "data" / "calibration").glob("*.jpg"))[0]
    return saliency_input(Image.open(photo))


def _run(model, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})


def test_two_backbone_readout_equals_the_sum_of_each_backbones_contribution(states, image) -> None:
    # A readout with one linear layer on two stride-8 taps, no blur (sigma ~0) and a flat centre
    # bias: the output must be log_softmax(w1 . mnv2_f8 + w2 . lite0_f8 + b), computed here from
    # each backbone run on its own. Name clashes between the merged graphs would break this.
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (1, 32 + 40, 1, 1)).astype(np.float32)
    readout = {
        "readout.0.weight": w,
        "readout.0.bias": np.array([0.3], np.float32),
        "centre_bias": np.zeros((12, 16), np.float32),
        "blur_sigma": np.array(0.01, np.float32),
        "taps": np.array(["mnv2:f8", "lite0:f8"]),
    }
    (logp,) = _run(saliency_to_onnx(states, readout, {}), image)
    f8 = {}
    for b in ("mnv2", "lite0"):
        graph = backbone_to_onnx(b, states[b], H * 8, W * 8)
        f8[b] = _run(graph, image)[0][0]  # outputs in order f8, f16, f32, head
    z = np.einsum("c,chw->hw", w[0, :32, 0, 0], f8["mnv2"]) + np.einsum("c,chw->hw", w[0, 32:, 0, 0], f8["lite0"]) + 0.3
    expected = z - np.log(np.exp(z - z.max()).sum()) - z.max()
    assert logp.shape == (1, 1, H, W)
    np.testing.assert_allclose(logp[0, 0], expected, atol=2e-4)


def test_readout_files_without_tap_names_are_the_mobilenet_v2_readout() -> None:
    assert readout_taps({}) == ["mnv2:f8", "mnv2:f16", "mnv2:f32", "mnv2:head"]


def test_each_shipped_readout_composes_into_a_density_over_the_grid(states, image) -> None:
    for path in sorted((ROOT / "impactlens" / "models" / "weights").glob("saliency_readout*.npz")):
        with np.load(path) as z:
            weights = {k: z[k] for k in z.files if k != "training_info"}
        (logp,) = _run(saliency_to_onnx(states, weights, {}), image)
        p = np.exp(logp.astype(np.float64))
        assert p.shape == (1, 1, H, W) and p.sum() == pytest.approx(1.0, abs=1e-4), path.name
