"""A tiny helper to write ONNX graphs with ``onnx.helper`` (no torch, no converter)."""
from typing import Dict, List, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Collects nodes and initializers; ``node`` returns the output's name.

    Every model graph takes ``image``: a ``(n, size, size, 3)`` uint8 batch of
    RGB pixels, so the pre-processing (scaling, channel order, layout) lives
    in the graph and is run by onnxruntime's threads, not by Python.
    """

    def __init__(self):
        self.nodes: List[onnx.NodeProto] = []
        self.initializers: List[onnx.TensorProto] = []
        self._counter = 0

    def name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def const(self, array, prefix: str = "const") -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: Sequence[str], *, output: str = None,
             **attrs) -> str:
        output = output or self.name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [output],
                                           name=self.name(op), **attrs))
        return output

    def conv(self, x: str, weight: np.ndarray, bias: np.ndarray, *, stride=1,
             pads=(0, 0, 0, 0), group=1) -> str:
        """``pads`` as ONNX orders them: (top, left, bottom, right)."""
        weight = np.ascontiguousarray(weight, dtype=np.float32)
        return self.node(
            "Conv", [x, self.const(weight, "w"), self.const(bias.astype(np.float32), "b")],
            kernel_shape=list(weight.shape[2:]), strides=[stride, stride],
            pads=list(pads), group=group)

    def relu6(self, x: str) -> str:
        return self.node("Clip", [x, self.const(np.float32(0), "lo"),
                                  self.const(np.float32(6), "hi")])

    def uint8_nhwc_to_float_nchw(self, x: str, *, mean, scale, bgr=False) -> str:
        """(n, h, w, 3) uint8 -> (n, 3, h, w) float32 ``(x - mean) * scale``."""
        x = self.node("Cast", [x], to=TensorProto.FLOAT)
        x = self.node("Transpose", [x], perm=[0, 3, 1, 2])
        if bgr:
            x = self.node("Gather", [x, self.const(np.array([2, 1, 0], np.int64), "bgr")],
                          axis=1)
        mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        scale = np.asarray(scale, np.float32).reshape(1, -1, 1, 1)
        x = self.node("Sub", [x, self.const(mean, "mean")])
        return self.node("Mul", [x, self.const(scale, "scale")])

    def model(self, inputs: Dict[str, tuple], outputs: Dict[str, tuple],
              doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "imagelab",
            [helper.make_tensor_value_info(name, TensorProto.UINT8, shape)
             for name, shape in inputs.items()],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
             for name, shape in outputs.items()],
            self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="orange3-imagelab", doc_string=doc)
        model.ir_version = 8  # readable by onnxruntime >= 1.14
        onnx.checker.check_model(model)
        return model


def fold_batchnorm(weight: np.ndarray, gamma, beta, mean, var, eps: float,
                   bias=None):
    """Conv weight (out, in, kh, kw) and bias with a following BatchNorm folded in."""
    factor = gamma / np.sqrt(var + eps)
    folded_weight = weight * factor[:, None, None, None]
    bias = np.zeros_like(mean) if bias is None else bias
    folded_bias = beta + (bias - mean) * factor
    return folded_weight.astype(np.float32), folded_bias.astype(np.float32)


def same_pads(size: int, kernel: int, stride: int):
    """TensorFlow's "SAME" padding for a static input size: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
