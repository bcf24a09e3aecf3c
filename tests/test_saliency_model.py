"""The composed saliency graph: one or several backbones feeding one readout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from impactlens.models.checkpoint import load_state_dict
from impactlens.models.converters import RESMEM_TAPS
from impactlens.models.readout import (
    BACKBONE_SOURCES,
    backbone_to_onnx,
    memorability_taps,
    readout_backbones,
    readout_taps,
    saliency_to_onnx,
)
from impactlens.models.sources import package_file

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.parametrize("size", [(1024, 768), (256, 256), (1080, 1920), (728, 90)])
def test_two_backbone_readout_equals_the_sum_of_each_backbones_contribution(states, size) -> None:
    # A readout with one linear layer on two stride-8 taps, no blur (sigma ~0) and a flat centre
    # bias: the output must be log_softmax(w1 . mnv2_f8 + w2 . lite0_f8 + b), computed here from
    # each backbone run on its own, built for exactly this input size (its own "same" padding).
    # Name clashes between the merged graphs, or a graph that only works at 512x384, break this.
    from impactlens.models.preprocess import saliency_input

    photo = Image.open(sorted((ROOT / "impactlens" / "data" / "calibration").glob("*.jpg"))[0])
    image = saliency_input(photo.convert("RGB").resize(size))
    h, w = image.shape[2] // 8, image.shape[3] // 8
    rng = np.random.default_rng(0)
    wt = rng.normal(0, 0.05, (1, 32 + 40, 1, 1)).astype(np.float32)
    readout = {
        "readout.0.weight": wt,
        "readout.0.bias": np.array([0.3], np.float32),
        "centre_bias": np.zeros((12, 16), np.float32),
        "blur_sigma": np.array(0.01, np.float32),
        "taps": np.array(["mnv2:f8", "lite0:f8"]),
    }
    (logp,) = _run(saliency_to_onnx(states, readout, {}), image)
    f8 = {}
    for b in ("mnv2", "lite0"):
        graph = backbone_to_onnx(b, states[b], h * 8, w * 8)
        f8[b] = _run(graph, image)[0][0]  # outputs in order f8, f16, f32, head
    z = np.einsum("c,chw->hw", wt[0, :32, 0, 0], f8["mnv2"])
    z = z + np.einsum("c,chw->hw", wt[0, 32:, 0, 0], f8["lite0"]) + 0.3
    expected = z - np.log(np.exp(z - z.max()).sum()) - z.max()
    assert logp.shape == (1, 1, h, w)
    np.testing.assert_allclose(logp[0, 0], expected, atol=2e-4)


def test_readout_files_without_tap_names_are_the_mobilenet_v2_readout() -> None:
    assert readout_taps({}) == ["mnv2:f8", "mnv2:f16", "mnv2:f32", "mnv2:head"]


def test_each_shipped_readout_composes_into_a_density_over_the_grid(states, image) -> None:
    for path in sorted((ROOT / "impactlens" / "models" / "weights").glob("saliency_readout*.npz")):
        with np.load(path) as z:
            weights = {k: z[k] for k in z.files if k != "training_info"}
        needed = {
            b: states.get(b) or load_state_dict(package_file(BACKBONE_SOURCES[b])) for b in readout_backbones(weights)
        }
        sess = ort.InferenceSession(
            saliency_to_onnx(needed, weights, {}).SerializeToString(), providers=["CPUExecutionProvider"]
        )
        feeds = {"image": image}
        for t in memorability_taps(weights):  # activations of the memorability pass, as it would give them
            c, n = RESMEM_TAPS[t]
            feeds[f"resmem_{t}"] = np.random.default_rng(0).random((1, c, n, n), np.float32)
        (logp,) = sess.run(None, feeds)
        p = np.exp(logp.astype(np.float64))
        assert p.shape == (1, 1, image.shape[2] // 8, image.shape[3] // 8), path.name
        assert p.sum() == pytest.approx(1.0, abs=1e-4), path.name


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1024, 768, (512, 384)),
        (256, 256, (448, 448)),
        (1080, 1920, (320, 576)),
        (1920, 1080, (576, 320)),
        (728, 90, (896, 224)),
        (90, 728, (224, 896)),
        (1, 1, (448, 448)),
    ],
)
def test_saliency_input_keeps_the_aspect_ratio_at_about_the_same_area(width, height, expected) -> None:
    from impactlens.models.preprocess import SALIENCY_AREA, saliency_input, saliency_size

    size = saliency_size(width, height)
    assert size == expected and size[0] % 32 == 0 and size[1] % 32 == 0
    assert 0.85 < size[0] * size[1] / SALIENCY_AREA < 1.15
    assert saliency_input(Image.new("RGB", (width, height))).shape == (1, 3, size[1], size[0])


def _conv3(x: np.ndarray, w: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """3x3 convolution with dilation d on edge-padded input (what torch's replicate padding does)."""
    xp = np.pad(x, ((0, 0), (d, d), (d, d)), mode="edge")
    h, wd = x.shape[1:]
    out = np.zeros((w.shape[0], h, wd)) + b[:, None, None]
    for ky in range(3):
        for kx in range(3):
            out += np.einsum("oi,ihw->ohw", w[:, :, ky, kx], xp[:, ky * d : ky * d + h, kx * d : kx * d + wd])
    return out


def test_a_context_readout_runs_dilated_3x3_convolutions_on_edge_padded_maps(states) -> None:
    rng = np.random.default_rng(1)
    readout = {
        "readout.0.weight": rng.normal(0, 0.05, (4, 40, 1, 1)).astype(np.float32),
        "readout.0.bias": np.full(4, 0.2, np.float32),
        "context.0.weight": rng.normal(0, 0.3, (3, 4, 3, 3)).astype(np.float32),
        "context.0.bias": rng.normal(0, 0.1, 3).astype(np.float32),
        "context.1.weight": rng.normal(0, 0.3, (3, 3, 3, 3)).astype(np.float32),
        "context.1.bias": rng.normal(0, 0.1, 3).astype(np.float32),
        "context_dilation": np.array([1, 2], np.int64),
        "readout.1.weight": rng.normal(0, 0.5, (1, 3, 1, 1)).astype(np.float32),
        "readout.1.bias": np.zeros(1, np.float32),
        "centre_bias": np.zeros((12, 16), np.float32),
        "blur_sigma": np.array(0.01, np.float32),
        "taps": np.array(["lite0:f8"]),
    }
    x = rng.normal(0, 1, (1, 3, 576, 320)).astype(np.float32)
    (logp,) = _run(saliency_to_onnx(states, readout, {}), x)
    f8 = _run(backbone_to_onnx("lite0", states["lite0"], 576, 320), x)[0][0].astype(np.float64)
    y = np.einsum("oc,chw->ohw", readout["readout.0.weight"][:, :, 0, 0], f8) + 0.2
    y = _conv3(np.maximum(y, 0), readout["context.0.weight"], readout["context.0.bias"], 1)
    y = _conv3(np.maximum(y, 0), readout["context.1.weight"], readout["context.1.bias"], 2)
    z = np.einsum("c,chw->hw", readout["readout.1.weight"][0, :, 0, 0], np.maximum(y, 0))
    expected = z - z.max() - np.log(np.exp(z - z.max()).sum())
    assert logp.shape == (1, 1, 72, 40)
    np.testing.assert_allclose(logp[0, 0], expected, atol=2e-4)
