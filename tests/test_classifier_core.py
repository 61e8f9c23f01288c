"""The classifier's head, its ONNX graph, and the portable reference loader (no Orange)."""
import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from orangecontrib.imagelab.core.models import get_model
from orangecontrib.imagelab.core.pixels.decoding import load_array
from orangecontrib.imagelab.core.vectors import classifier, portable
from tests.images import skimage_sample


def blobs(n_classes=3, n=60, d=12, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.normal(0, 3, (n_classes, d))
    return centres[y] + rng.normal(0, 1, (n, d)) * rng.uniform(0.5, 5, d), y


@pytest.mark.parametrize("kind, n_classes", [("logistic", 3), ("logistic", 2),
                                             ("mlp", 3), ("mlp", 2)])
def test_head_matches_scikit_learn(kind, n_classes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    x, y = blobs(n_classes)
    head = classifier.train_head(x, y, n_classes=n_classes, kind=kind, C=0.5, hidden=(8,))
    z = (x - x.mean(0)) / x.std(0)
    reference = LogisticRegression(C=0.5, max_iter=1000, random_state=0) if kind == "logistic" \
        else MLPClassifier((8,), alpha=2.0, max_iter=300, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(z, y)
    np.testing.assert_allclose(head.probabilities(x), reference.predict_proba(z), atol=1e-9)
    assert head.output == ("sigmoid" if n_classes == 2 else "softmax")


def test_unseen_classes_get_zero_and_nan_rows_stay_nan():
    x, y = blobs(2)
    head = classifier.train_head(x, y * 2, n_classes=4)      # classes 0 and 2 of 4
    probs = head.probabilities(np.vstack([x[:3], np.full((1, x.shape[1]), np.nan)]))
    assert probs.shape == (4, 4)
    np.testing.assert_allclose(probs[:3].sum(axis=1), 1)
    assert (probs[:3, [1, 3]] == 0).all() and np.isnan(probs[3]).all()


@pytest.mark.parametrize("options, match", [
    ({"kind": "svm"}, "head"), ({"C": 0}, "C"), ({"C": float("inf")}, "C"),
    ({"hidden": ()}, "hidden"), ({"hidden": (0,)}, "hidden"), ({"hidden": 5}, "hidden"),
])
def test_head_options_are_checked(options, match):
    x, y = blobs()
    with pytest.raises(ValueError, match=match):
        classifier.train_head(x, y, n_classes=3, **options)


def test_head_refuses_one_class_and_nan_features():
    x, y = blobs()
    with pytest.raises(ValueError, match="single class"):
        classifier.train_head(x, np.zeros(len(x)), n_classes=3)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classifier.train_head(x, y, n_classes=3)


@pytest.mark.parametrize("kind, n_classes, seen", [("logistic", 3, 3), ("mlp", 2, 2),
                                                   ("logistic", 4, 3)])
def test_onnx_graph_is_backbone_plus_head(tmp_path, kind, n_classes, seen):
    spec = get_model("efficientnet-lite0")
    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (12, 224, 224, 3), dtype=np.uint8)
    features, _ = spec.run(images)
    y = np.arange(12) % seen
    head = classifier.train_head(features, y, n_classes=n_classes, kind=kind, hidden=(16,))
    names = [f"class {i}" for i in range(n_classes)]
    path = classifier.export_onnx(spec, head, tmp_path / "model.onnx", classes=names,
                                  metadata={"snapshot": {"name": "s", "version": 2}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["features", "probabilities"]
    (probs,) = session.run(["probabilities"], {"image": images})
    np.testing.assert_allclose(probs, head.probabilities(features), atol=1e-5)
    meta = portable.read_metadata(session)
    assert json.loads(meta["classes"]) == names
    assert meta["input_size"] == "224" and json.loads(meta["mean"]) == [127.0] * 3
    assert json.loads(meta["std"]) == [128.0] * 3
    assert meta["backbone"] == "efficientnet-lite0" and meta["head"] == kind
    assert json.loads(meta["snapshot"]) == {"name": "s", "version": 2}
    assert "def load_image" in meta["reference_loader"] and "draft" in meta["preprocessing"]
    # the ImageNet logits branch is gone: smaller than the backbone alone
    assert path.stat().st_size < spec.onnx_path().stat().st_size
    assert not list(tmp_path.glob(".*tmp"))  # written atomically


def test_onnx_metadata_of_a_bgr_backbone(tmp_path):
    spec = get_model("squeezenet")
    features = np.random.default_rng(0).normal(size=(10, spec.dimension)).astype(np.float32)
    head = classifier.train_head(features, np.arange(10) % 2, n_classes=2)
    model = classifier.build_onnx(spec, head, classes=["a", "b"])
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["channel_order_in_graph"] == "BGR"
    assert json.loads(meta["mean"]) == pytest.approx([103.939, 116.779, 123.68])
    with pytest.raises(ValueError, match="classes"):
        classifier.build_onnx(spec, head, classes=["a"])
    with pytest.raises(ValueError, match=".onnx"):
        classifier.export_onnx(spec, head, tmp_path / "model.bin", classes=["a", "b"])


def real_and_odd_images(folder):
    """Real photos in the modes and layouts the loaders must agree on."""
    cat = Image.open(skimage_sample("chelsea.png")).convert("RGB")
    paths = [skimage_sample(name) for name in
             ("chelsea.png", "coffee.png", "camera.png", "rocket.jpg", "astronaut.png")]
    rotated = folder / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° when displayed
    cat.save(rotated, quality=90, exif=exif)
    cat.convert("CMYK").save(folder / "cmyk.jpg")
    rgba = cat.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(cat.size))
    rgba.save(folder / "alpha.png")
    cat.convert("P", palette=Image.ADAPTIVE).save(folder / "palette.png", transparency=0)
    grey16 = (np.asarray(cat.convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(grey16).save(folder / "grey16.png")
    cat.resize((40, 30)).save(folder / "small.jpg")  # upscaled, no draft
    return [str(p) for p in paths] + [str(folder / name) for name in (
        "rotated.jpg", "cmyk.jpg", "alpha.png", "palette.png", "grey16.png", "small.jpg")]


def test_the_orange_side_decodes_exactly_as_the_portable_loader(tmp_path):
    for path in real_and_odd_images(tmp_path):
        expected = portable.load_image(path, 224)
        np.testing.assert_array_equal(classifier.load_pixels(path, 224), expected,
                                      err_msg=path)
        with open(path, "rb") as f:
            data = f.read()
        np.testing.assert_array_equal(classifier.load_pixels(path, 224, data), expected)
        # and close to what Image Embedding's pipeline makes (it may scale JPEGs finer)
        assert np.abs(load_array(path, size=(224, 224)).astype(int) - expected).mean() < 3
    rotated = portable.load_image(str(tmp_path / "rotated.jpg"), 224)
    upright = portable.load_image(str(skimage_sample("chelsea.png")), 224)
    assert np.abs(rotated.astype(int) - upright).mean() > 20  # really turned


def test_the_orange_side_refuses_what_the_pipeline_refuses(tmp_path):
    from orangecontrib.imagelab.core.errors import ImageError
    from tests.images import make_truncated_jpeg, make_zero_byte
    with pytest.raises(ImageError, match="truncated"):
        classifier.load_pixels(str(make_truncated_jpeg(tmp_path / "cut.jpg")), 224)
    with pytest.raises(ImageError, match="empty"):
        classifier.load_pixels(str(make_zero_byte(tmp_path / "empty.png")), 224)
