"""Torch-free converters: checkpoint tensors (numpy) to ONNX graphs.

ResMem (Needell & Bainbridge) = torchvision ResNet-152 on the raw [0, 1] crop, in parallel
with an AlexNet-like branch, concatenated and read out by an MLP with a sigmoid. We rebuild
exactly that forward pass (eval mode: dropout is the identity). BatchNorm layers are folded
into the preceding convolutions.

MobileNetV2 (torchvision layout) is converted up to its last feature layer, exposing the
intermediate activations the saliency readout consumes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from .graph import GraphBuilder
from .registry import TAP_METADATA

RESNET152_LAYERS = (3, 8, 36, 3)
RESMEM_INPUT = 227


def _bottleneck(g: GraphBuilder, x: str, p: str, stride: int, downsample: bool) -> str:
    y = g.relu(g.conv(x, f"{p}.conv1", bn=f"{p}.bn1"))
    y = g.relu(g.conv(y, f"{p}.conv2", stride=stride, pad=1, bn=f"{p}.bn2"))
    y = g.conv(y, f"{p}.conv3", bn=f"{p}.bn3")
    skip = g.conv(x, f"{p}.downsample.0", stride=stride, bn=f"{p}.downsample.1") if downsample else x
    return g.relu(g.op("Add", [y, skip]))


def _resnet(g: GraphBuilder, x: str, p: str, layers: tuple[int, ...]) -> tuple[str, dict[int, str]]:
    """(the classifier's output, each stage's last activation by stage number)."""
    y = g.relu(g.conv(x, f"{p}.conv1", stride=2, pad=3, bn=f"{p}.bn1"))
    y = g.maxpool(y, 3, 2, 1)
    stages: dict[int, str] = {}
    for li, blocks in enumerate(layers, start=1):
        for bi in range(blocks):
            stride = 2 if (bi == 0 and li > 1) else 1
            y = _bottleneck(g, y, f"{p}.layer{li}.{bi}", stride, downsample=bi == 0)
        stages[li] = y
    y = g.op("Flatten", [g.op("GlobalAveragePool", [y])])
    return g.linear(y, f"{p}.fc"), stages


# Activations of the memorability pass that a saliency readout may read (readout.py,
# "resmem:" taps): name -> (channels, cells per side of the 227 crop).
RESMEM_TAPS = {"l3": (1024, 15), "l4": (2048, 8), "alex": (256, 13)}


def resmem_to_onnx(weights: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> onnx.ModelProto:
    g = GraphBuilder(weights)
    x = "image"
    lrn: dict[str, Any] = {"size": 5, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}
    c = g.maxpool(g.relu(g.conv(x, "conv1", stride=4)), 3, 2)
    c = g.op("LRN", [c], **lrn)
    c = g.maxpool(g.relu(g.conv(c, "conv2", pad=2, groups=2)), 3, 2)
    c = g.op("LRN", [c], **lrn)
    c = g.relu(g.conv(c, "conv3", pad=1, groups=2))
    c = g.relu(g.conv(c, "conv4", pad=1, groups=2))
    conv5 = g.relu(g.conv(c, "conv5", pad=1, groups=2))
    c = g.maxpool(conv5, 3, 2)
    feat = g.op("Flatten", [c])
    resfeat, stages = _resnet(g, x, "features", RESNET152_LAYERS)
    h = g.op("Concat", [feat, resfeat], axis=1)
    for layer in ("fc6", "fc7", "fc8", "fc9", "fc10", "fc11"):
        h = g.relu(g.linear(h, layer))
    score = g.op("Sigmoid", [g.linear(h, "fc12")])
    # The taps are not graph outputs (an output keeps ONNX Runtime from fusing its producer:
    # the score alone ran ~4% slower); their tensor names are recorded so that a session that
    # needs them (runtime.with_tap_outputs) can add them.
    taps = {"l3": stages[3], "l4": stages[4], "alex": conv5}
    metadata = {**metadata, TAP_METADATA: json.dumps(taps)}
    return g.model(
        [("image", ["batch", 3, RESMEM_INPUT, RESMEM_INPUT])],
        [(score, "memorability", ["batch", 1])],
        "resmem",
        metadata,
    )


# torchvision MobileNetV2: (expansion t, channels c, repeats n, stride s)
_MBV2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# Feature taps for saliency: end of the stride-8, stride-16 and stride-32 stages, and the head.
MOBILENET_TAPS = {6: "f8", 13: "f16", 17: "f32", 18: "head"}
MOBILENET_TAP_CHANNELS = {"f8": 32, "f16": 96, "f32": 320, "head": 1280}


def mobilenet_v2_to_onnx(
    weights: Mapping[str, np.ndarray], metadata: Mapping[str, str], height: int, width: int
) -> onnx.ModelProto:
    g = GraphBuilder(weights)
    y = g.relu6(g.conv("image", "features.0.0", stride=2, pad=1, bn="features.0.1"))
    idx, in_ch = 1, 32
    taps: dict[str, str] = {}
    for t, c, n, s in _MBV2_SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            p = f"features.{idx}.conv"
            hidden = in_ch * t
            z, j = y, 0
            if t != 1:
                z = g.relu6(g.conv(z, f"{p}.0.0", bn=f"{p}.0.1"))
                j = 1
            z = g.relu6(g.conv(z, f"{p}.{j}.0", stride=stride, pad=1, groups=hidden, bn=f"{p}.{j}.1"))
            z = g.conv(z, f"{p}.{j + 1}", bn=f"{p}.{j + 2}")
            y = g.op("Add", [y, z]) if (stride == 1 and in_ch == c) else z
            if idx in MOBILENET_TAPS:
                taps[MOBILENET_TAPS[idx]] = y
            idx, in_ch = idx + 1, c
    taps["head"] = g.relu6(g.conv(y, "features.18.0", bn="features.18.1"))
    outs: list[tuple[str, str, Sequence[int | str]]] = []
    for name, stride in (("f8", 8), ("f16", 16), ("f32", 32), ("head", 32)):
        shape: list[int | str] = ["batch", MOBILENET_TAP_CHANNELS[name], height // stride, width // stride]
        outs.append((taps[name], name, shape))
    return g.model([("image", ["batch", 3, height, width])], outs, "mobilenet_v2_features", metadata)


RESNET_TAP_CHANNELS = {"l2": 512, "l3": 1024, "l4": 2048}
RESNET_TAP_STRIDES = {"l2": 8, "l3": 16, "l4": 32}


def resnet152_features_to_onnx(
    weights: Mapping[str, np.ndarray], metadata: Mapping[str, str], height: int, width: int, prefix: str = "features"
) -> onnx.ModelProto:
    """The ResNet-152 trunk (no pooling, no fc), exposing the outputs of stages 2, 3 and 4."""
    g = GraphBuilder(weights)
    y = g.relu(g.conv("image", f"{prefix}.conv1", stride=2, pad=3, bn=f"{prefix}.bn1"))
    y = g.maxpool(y, 3, 2, 1)
    outs: list[tuple[str, str, Sequence[int | str]]] = []
    for li, blocks in enumerate(RESNET152_LAYERS, start=1):
        for bi in range(blocks):
            stride = 2 if (bi == 0 and li > 1) else 1
            y = _bottleneck(g, y, f"{prefix}.layer{li}.{bi}", stride, downsample=bi == 0)
        if li > 1:
            tap = f"l{li}"
            s = RESNET_TAP_STRIDES[tap]
            outs.append((y, tap, ["batch", RESNET_TAP_CHANNELS[tap], height // s, width // s]))
    return g.model([("image", ["batch", 3, height, width])], outs, "resnet152_features", metadata)
