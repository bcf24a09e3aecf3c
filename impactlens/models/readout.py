"""The saliency readout as an ONNX graph: backbone taps -> fixation log-density.

DeepGaze-style: features from several depths of a frozen ImageNet backbone are resized to
the stride-8 grid, read out by 1x1 convolutions, blurred by a fixed Gaussian, added to a
learned centre-bias log-map, and normalised by a softmax over all positions. The weights
come from scripts/train_saliency.py (impactlens/models/weights/saliency_readout.npz).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from .converters import MOBILENET_TAP_CHANNELS, mobilenet_v2_to_onnx
from .graph import GraphBuilder

GRID = (48, 64)  # stride-8 grid of the 384x512 input
TAPS = ("f8", "f16", "f32", "head")


def gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    kernel: np.ndarray = (k / k.sum()).astype(np.float32)
    return kernel


def saliency_to_onnx(
    backbone: Mapping[str, np.ndarray], readout: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> onnx.ModelProto:
    """One graph: image (1,3,384,512) -> log_density (1,1,48,64), summing to 1 after exp."""
    h, w = GRID
    base = mobilenet_v2_to_onnx(backbone, {}, h * 8, w * 8)
    g = GraphBuilder(readout, prefix="readout/")
    g.nodes, g.initializers = list(base.graph.node), list(base.graph.initializer)
    # The first 1x1 convolution runs on each tap at its own resolution and only its small
    # output is resized (the two commute): about 10x less work than resizing the features.
    w0, b0 = readout["readout.0.weight"], readout["readout.0.bias"]
    y, start = "", 0
    for tap in TAPS:
        c = MOBILENET_TAP_CHANNELS[tap]
        part = g.op("Conv", [tap, g.const(w0[:, start : start + c].astype(np.float32))], kernel_shape=[1, 1])
        start += c
        if tap != "f8":
            shape = np.array([1, w0.shape[0], h, w], np.int64)
            part = g.op(
                "Resize", [part, "", "", g.const(shape)], mode="linear", coordinate_transformation_mode="half_pixel"
            )
        y = part if not y else g.op("Add", [y, part])
    y = g.op("Add", [y, g.const(b0.astype(np.float32).reshape(1, -1, 1, 1))])
    n_layers = sum(1 for k in readout if k.startswith("readout.") and k.endswith(".weight"))
    for i in range(1, n_layers):
        y = g.conv(g.relu(y), f"readout.{i}")
    k = gaussian_kernel(float(readout["blur_sigma"]))
    pad = len(k) // 2
    # Edge padding keeps the blur from darkening the borders.
    y = g.op("Pad", [y, g.const(np.array([0, 0, pad, pad, 0, 0, pad, pad], np.int64))], mode="edge")
    y = g.op("Conv", [y, g.const(k.reshape(1, 1, -1, 1))], kernel_shape=[len(k), 1])
    y = g.op("Conv", [y, g.const(k.reshape(1, 1, 1, -1))], kernel_shape=[1, len(k)])
    prior = readout["centre_bias"].astype(np.float32)[None, None]
    prior_up = g.op(
        "Resize",
        [g.const(prior), "", "", g.const(np.array([1, 1, h, w], np.int64))],
        mode="linear",
        coordinate_transformation_mode="half_pixel",
    )
    y = g.op("Add", [y, prior_up])
    flat = g.op("Flatten", [y])
    logp = g.op("LogSoftmax", [flat], axis=1)
    out = g.op("Reshape", [logp, g.const(np.array([1, 1, h, w], np.int64))])
    return g.model([("image", [1, 3, h * 8, w * 8])], [(out, "log_density", [1, 1, h, w])], "saliency", metadata)
