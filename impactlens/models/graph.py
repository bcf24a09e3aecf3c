"""A small ONNX graph builder for the converters (conv nets written as plain ops)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
BN_EPS = 1e-5


class GraphBuilder:
    """Collects nodes and initializers; each method returns the name of its output."""

    def __init__(self, weights: Mapping[str, np.ndarray], prefix: str = "") -> None:
        self.weights = weights
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._ids = itertools.count()

    def _name(self, hint: str) -> str:
        return f"{self.prefix}{hint}_{next(self._ids)}"

    def const(self, array: np.ndarray, hint: str = "c") -> str:
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, **attrs: Any) -> str:
        out = self._name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def conv(
        self,
        x: str,
        prefix: str,
        *,
        stride: int = 1,
        pad: int = 0,
        groups: int = 1,
        bn: str | None = None,
        dilation: int = 1,
    ) -> str:
        """Conv2d from ``prefix.weight``/``prefix.bias``, with a following BatchNorm folded in."""
        w = self.weights[f"{prefix}.weight"].astype(np.float64)
        b = self.weights.get(f"{prefix}.bias")
        bias = np.zeros(w.shape[0]) if b is None else b.astype(np.float64)
        if bn is not None:
            gamma = self.weights[f"{bn}.weight"].astype(np.float64)
            beta = self.weights[f"{bn}.bias"].astype(np.float64)
            mean = self.weights[f"{bn}.running_mean"].astype(np.float64)
            var = self.weights[f"{bn}.running_var"].astype(np.float64)
            scale = gamma / np.sqrt(var + BN_EPS)
            w = w * scale[:, None, None, None]
            bias = (bias - mean) * scale + beta
        k = w.shape[2:]
        return self.op(
            "Conv",
            [x, self.const(w.astype(np.float32), "w"), self.const(bias.astype(np.float32), "b")],
            hint=prefix,
            kernel_shape=list(k),
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
            group=groups,
            dilations=[dilation, dilation],
        )

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def relu6(self, x: str) -> str:
        return self.op("Clip", [x, self.const(np.array(0, np.float32)), self.const(np.array(6, np.float32))])

    def maxpool(self, x: str, kernel: int, stride: int, pad: int = 0) -> str:
        return self.op("MaxPool", [x], kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4)

    def linear(self, x: str, prefix: str) -> str:
        w = self.weights[f"{prefix}.weight"].astype(np.float32)
        b = self.weights[f"{prefix}.bias"].astype(np.float32)
        return self.op("Gemm", [x, self.const(w, "w"), self.const(b, "b")], transB=1)

    def model(
        self,
        inputs: Sequence[tuple[str, Sequence[int | str]]],
        outputs: Sequence[tuple[str, str, Sequence[int | str]]],
        name: str,
        metadata: Mapping[str, str] | None = None,
    ) -> onnx.ModelProto:
        """``outputs`` are (internal tensor, public name, shape); identity nodes rename them."""
        for internal, public, _ in outputs:
            self.nodes.append(helper.make_node("Identity", [internal], [public], name=public))
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
            [helper.make_tensor_value_info(p, TensorProto.FLOAT, list(s)) for _, p, s in outputs],
            [],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        del graph
        # Move the weights in one at a time: make_graph + make_model would hold three copies
        # (1.5 GB for ResMem) where this holds one.
        self.initializers.reverse()
        while self.initializers:
            model.graph.initializer.append(self.initializers.pop())
        model.ir_version = 8
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model, full_check=False)
        return model
