"""The saliency readout as an ONNX graph: backbone taps -> fixation log-density.

DeepGaze-style: features from several depths of a frozen ImageNet backbone are resized to
the stride-8 grid, read out by 1x1 convolutions, blurred by a fixed Gaussian, added to a
learned centre-bias log-map, and normalised by a softmax over all positions. The weights
come from scripts/train_saliency.py (impactlens/models/weights/saliency_readout*.npz); each
file names the backbone taps it reads (``taps``: "lite0:f8", ...; files without it are the
MobileNetV2 readout of version 1). Several backbones can feed one readout: their graphs are
merged, names prefixed by the backbone's.

"resmem:" taps are not a backbone in this graph: they are activations of the memorability
model's own pass (converters.RESMEM_TAPS: its ResNet-152's stages 3 and 4 and its AlexNet
branch's conv5, on resmem's 227x227 centre crop), fed in as extra inputs, so the saliency
model that reads them costs no second backbone. Each is moved from the crop onto a square
grid over the whole image (``resmem_frame_matrix``, as scripts/saliency_resmem.py made the
training features) and then resized to the image's grid like any coarse tap.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from .converters import RESMEM_TAPS, mobilenet_v2_to_onnx
from .efficientnet import efficientnet_lite_to_onnx
from .graph import GraphBuilder
from .preprocess import RESMEM_CROP, RESMEM_RESIZE
from .sources import EFFICIENTNET_LITE, MOBILENET

GRID = (48, 64)  # stride-8 grid of the nominal 384x512 input (training features; a 4:3 image)
TAPS = ("f8", "f16", "f32", "head")
# Bumped whenever the composed graph changes for the same weights (2: free input size, context convolutions).
GRAPH_VERSION = "2"
LEGACY_TAPS = tuple(f"mnv2:{t}" for t in TAPS)
# Registered saliency model name -> its readout weights in impactlens/models/weights/.
READOUT_FILES = {
    "mnv2-readout": "saliency_readout.npz",
    "lite0-readout": "saliency_readout_lite0.npz",
    "lite1-readout": "saliency_readout_lite1.npz",
    "lite1-resmem-readout": "saliency_readout_lite1_resmem.npz",
}
MEMORABILITY_TAP = "resmem"  # the "backbone" name of taps read from the memorability pass
# Cells per side of the square whole-image grid each resmem tap is moved onto.
RESMEM_FRAME_CELLS = {"l3": 16, "l4": 8, "alex": 16}
BACKBONE_SOURCES = {"mnv2": MOBILENET, **{f"lite{n}": src for n, src in EFFICIENTNET_LITE.items()}}


def readout_taps(readout: Mapping[str, np.ndarray]) -> list[str]:
    return [str(t) for t in readout["taps"]] if "taps" in readout else list(LEGACY_TAPS)


def readout_backbones(readout: Mapping[str, np.ndarray]) -> list[str]:
    """Backbone names ("mnv2", "lite0", ...) in the order the readout's taps use them."""
    return [b for b in dict.fromkeys(t.split(":")[0] for t in readout_taps(readout)) if b != MEMORABILITY_TAP]


def memorability_taps(readout: Mapping[str, np.ndarray]) -> list[str]:
    """The memorability-pass activations ("l3", ...) the readout reads, in its order."""
    return [t.split(":")[1] for t in readout_taps(readout) if t.startswith(f"{MEMORABILITY_TAP}:")]


def resmem_frame_matrix(src: int, n: int) -> np.ndarray:
    """(n, src): bilinear weights from `src` cells across resmem's centre crop to `n` cells across
    the whole image (squashed square, as resmem sees it); cells beyond the crop take its edge."""
    off = int(round((RESMEM_RESIZE - RESMEM_CROP) / 2.0))
    centres = (np.arange(n) + 0.5) * RESMEM_RESIZE / n - off  # crop pixels
    f = np.clip(centres * src / RESMEM_CROP - 0.5, 0, src - 1)
    lo = np.floor(f).astype(int)
    hi = np.minimum(lo + 1, src - 1)
    m = np.zeros((n, src), np.float32)
    m[np.arange(n), lo] += 1 - (f - lo)
    m[np.arange(n), hi] += f - lo
    return m


def backbone_to_onnx(name: str, weights: Mapping[str, np.ndarray], height: int, width: int) -> onnx.ModelProto:
    if name == "mnv2":
        return mobilenet_v2_to_onnx(weights, {}, height, width)
    if name.startswith("lite"):
        return efficientnet_lite_to_onnx(weights, {}, height, width)
    raise KeyError(f"unknown saliency backbone {name!r}")


def _prefixed(graph: onnx.GraphProto, prefix: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The graph's nodes and initializers with every name but the image input prefixed."""

    def rename(n: str) -> str:
        return n if n in ("image", "") else prefix + n

    nodes = []
    for node in graph.node:
        new = onnx.NodeProto()
        new.CopyFrom(node)
        new.name = rename(node.name)
        new.input[:] = [rename(i) for i in node.input]
        new.output[:] = [rename(o) for o in node.output]
        nodes.append(new)
    inits = []
    for init in graph.initializer:
        t = onnx.TensorProto()
        t.CopyFrom(init)
        t.name = rename(init.name)
        inits.append(t)
    return nodes, inits


def gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    kernel: np.ndarray = (k / k.sum()).astype(np.float32)
    return kernel


def saliency_to_onnx(
    backbones: Mapping[str, Mapping[str, np.ndarray]], readout: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> onnx.ModelProto:
    """One graph: image (1,3,H,W) -> log_density (1,1,H/8,W/8), summing to 1 after exp.

    H and W are free (multiples of 32; preprocess.saliency_size keeps the image's aspect ratio
    at about 384x512's area), so a portrait creative is not squashed into a landscape input.
    The backbones' "same" padding is the same for every multiple of 32, so building them at
    the nominal GRID size and declaring the input symbolic is exact. ``backbones`` maps each
    backbone the readout names to its checkpoint tensors.
    """
    h, w = GRID
    g = GraphBuilder(readout, prefix="readout/")
    # The stride-8 grid's (rows, columns), read from the input at run time.
    grid_hw = g.op("Div", [g.op("Shape", ["image"], start=2), g.const(np.array([8, 8], np.int64))])
    channels: dict[str, int] = {}
    for name in readout_backbones(readout):
        base = backbone_to_onnx(name, backbones[name], h * 8, w * 8)
        nodes, inits = _prefixed(base.graph, f"{name}/")
        g.nodes += nodes
        g.initializers += inits
        for out in base.graph.output:
            channels[f"{name}:{out.name}"] = out.type.tensor_type.shape.dim[1].dim_value
    # The first 1x1 convolution runs on each tap at its own resolution and only its small
    # output is resized (the two commute): about 10x less work than resizing the features.
    w0, b0 = readout["readout.0.weight"], readout["readout.0.bias"]
    y, start = "", 0
    inputs: list[tuple[str, list[int | str]]] = [("image", [1, 3, "height", "width"])]
    for t in memorability_taps(readout):
        c, src = RESMEM_TAPS[t]
        channels[f"{MEMORABILITY_TAP}:{t}"] = c
        inputs.append((f"{MEMORABILITY_TAP}_{t}", [1, c, src, src]))
    for tap in readout_taps(readout):
        c = channels[tap]
        edge = tap.replace(":", "/") if not tap.startswith(f"{MEMORABILITY_TAP}:") else tap.replace(":", "_")
        part = g.op("Conv", [edge, g.const(w0[:, start : start + c].astype(np.float32))], kernel_shape=[1, 1])
        start += c
        if tap.startswith(f"{MEMORABILITY_TAP}:"):
            # Crop cells -> whole-image cells, after the 1x1 convolution (they commute).
            t = tap.split(":")[1]
            m = resmem_frame_matrix(RESMEM_TAPS[t][1], RESMEM_FRAME_CELLS[t])
            part = g.op("MatMul", [g.const(m), g.op("MatMul", [part, g.const(np.ascontiguousarray(m.T))])])
        if not tap.endswith(":f8"):
            shape = g.op("Concat", [g.const(np.array([1, w0.shape[0]], np.int64)), grid_hw], axis=0)
            part = g.op("Resize", [part, "", "", shape], mode="linear", coordinate_transformation_mode="half_pixel")
        y = part if not y else g.op("Add", [y, part])
    y = g.op("Add", [y, g.const(b0.astype(np.float32).reshape(1, -1, 1, 1))])
    # Optional 3x3 context convolutions (edge-padded, as trained with replicate padding).
    for j, d in enumerate(int(x) for x in readout.get("context_dilation", np.zeros(0, np.int64))):
        pads = g.const(np.array([0, 0, d, d, 0, 0, d, d], np.int64))
        y = g.conv(g.op("Pad", [g.relu(y), pads], mode="edge"), f"context.{j}", dilation=d)
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
        [g.const(prior), "", "", g.op("Concat", [g.const(np.array([1, 1], np.int64)), grid_hw], axis=0)],
        mode="linear",
        coordinate_transformation_mode="half_pixel",
    )
    y = g.op("Add", [y, prior_up])
    flat = g.op("Flatten", [y])
    logp = g.op("LogSoftmax", [flat], axis=1)
    out = g.op("Reshape", [logp, g.op("Shape", [y])])
    outputs: list[tuple[str, str, list[int | str]]] = [(out, "log_density", [1, 1, "rows", "cols"])]
    return g.model(inputs, outputs, "saliency", metadata)
