"""ImageClassifierLearner and its model: raw images in, honest cross-validation,
pickling, unreadable images, and an ONNX file that a bare onnxruntime process runs."""
import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from Orange.data import Domain, Table
from Orange.evaluation import CA, CrossValidation

from orangecontrib.imagelab import import_images, embed_images, tables
from orangecontrib.imagelab.api.classifier import (
    Augment, ImageClassifierLearner, ImageClassifierModel, UnreadableImagesWarning,
    augment_images, augmented_folder, classify_images, export_onnx, load_classifier)
from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.vectors import portable
from orangecontrib.imagelab.core.vectors.cache import content_hash
from tests.images import make_text_file, make_truncated_jpeg, skimage_sample

SAMPLE = Path(__file__).resolve().parents[1] / "orangecontrib" / "imagelab" / "sample"
PER_CLASS = 6


def small_sample() -> Table:
    """Six photos of each of the five classes of the bundled Fashion-MNIST sample."""
    data = import_images(str(SAMPLE / "fashion" / "labelled")).data
    y = data.Y.astype(int)
    rows = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in range(5)])
    return data[np.sort(rows)]


@pytest.fixture(scope="module")
def sample():
    return small_sample()


@pytest.fixture(scope="module")
def new_photos():
    """New photos in another folder (another origin), without a class."""
    data = import_images(str(SAMPLE / "fashion" / "new")).data
    return data[:8]


@pytest.fixture(scope="module")
def model(sample):
    return ImageClassifierLearner()(sample)


def test_learns_from_raw_images_and_predicts_new_ones(sample, new_photos, model):
    assert isinstance(model, ImageClassifierModel)
    assert model.n_images == len(sample) and not model.skipped
    assert len(model.domain.attributes) == 1280
    assert model.domain.attributes[0].name == "efficientnet-lite0-int8 0001"
    values, probs = model(new_photos, model.ValueProbs)
    assert probs.shape == (8, 5) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    # the new photos were read from their own folder, not the training folder
    embedded = embed_images(new_photos).data
    expected = model.head.probabilities(embedded.X[:, :1280])
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_array_equal(values, expected.argmax(axis=1))
    # on its own training images it is (nearly) always right
    assert (model(sample) == sample.Y).mean() > 0.9


def test_uses_embedding_columns_when_given(model, new_photos):
    embedded = embed_images(new_photos).data
    # point the image column nowhere: the embeddings must be used as they are
    image = tables.find_image_column(embedded.domain)
    gone = embedded.copy()
    with gone.unlocked(gone.metas):
        gone.set_column(image, np.array(["missing.png"] * len(gone), dtype=object))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreadableImagesWarning)
        np.testing.assert_allclose(model(gone, model.Probs), model(new_photos, model.Probs),
                                   atol=1e-6)
    # and a learner can train on an embedded table too
    trained = ImageClassifierLearner()(embed_images(small_sample()).data)
    np.testing.assert_allclose(trained(new_photos, trained.Probs),
                               model(new_photos, model.Probs), atol=1e-6)


class WatchedLearner(ImageClassifierLearner):
    """Records, for every fit, which images were in the training table and
    which images were augmented."""
    log = []

    def embed(self, data, callback=None):
        table, skipped = super().embed(data, callback)
        self._training = tables.image_locations(table)
        return table, skipped

    def augmented_embeddings(self, locations, callback=None):
        arrays = super().augmented_embeddings(locations, callback)
        type(self).log.append({"train": list(self._training), "augmented": list(locations),
                               "copies": arrays.vectors.shape[1], "ok": int(arrays.ok.sum())})
        return arrays


def check_no_test_image_was_augmented(data, results, log, copies):
    locations = np.array(tables.image_locations(data))
    hashes = {loc: content_hash(open(loc, "rb").read()) for loc in locations}
    tests = [set(locations[results.row_indices[fold]]) for fold in results.folds]
    assert len(log) == len(tests) == 5
    for fit in log:
        assert fit["copies"] == copies and fit["ok"] == len(fit["augmented"])
        train = set(fit["train"])
        # the fit's test fold is the complement of its training images
        (test,) = [fold for fold in tests if fold == set(locations) - train]
        augmented = set(fit["augmented"])
        assert augmented == train and not augmented & test
        assert not {hashes[a] for a in augmented} & {hashes[t] for t in test}


def test_cross_validation_augments_only_the_training_folds(sample):
    WatchedLearner.log = []
    learner = WatchedLearner(augment=Augment(), copies=2)
    results = CrossValidation(k=5, random_state=0)(sample, [learner, ImageClassifierLearner()])
    check_no_test_image_was_augmented(sample, results, WatchedLearner.log, copies=2)
    assert CA(results)[0] > 0.6 and CA(results)[1] > 0.6


def test_pickle_round_trip(model, new_photos, tmp_path):
    path = tmp_path / "model.pkcls"
    with open(path, "wb") as f:
        pickle.dump(model, f)
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    assert loaded.original_data is None  # Orange drops the training data
    np.testing.assert_array_equal(loaded(new_photos, loaded.Probs),
                                  model(new_photos, model.Probs))
    assert loaded.classes == model.classes and loaded.backbone == "efficientnet-lite0-int8"


def test_unreadable_images_get_nan_and_a_warning(model, tmp_path):
    make_truncated_jpeg(tmp_path / "cut.jpg")
    make_text_file(tmp_path / "notes.jpg")
    shutil.copy(skimage_sample("chelsea.png"), tmp_path / "cat.png")
    var = tables.image_variable("image", origin=str(tmp_path))
    data = Table.from_list(Domain([], metas=[var]),
                           [["cut.jpg"], ["cat.png"], ["notes.jpg"], ["gone.png"], [""]])
    with pytest.warns(UnreadableImagesWarning, match="cut.jpg") as caught:
        values, probs = model(data, model.ValueProbs)
    text = str(caught[0].message)
    assert "4 of 5 images" in text and "truncated JPEG" in text and "notes.jpg" in text
    assert np.isnan(probs[[0, 2, 3, 4]]).all() and np.isfinite(probs[1]).all()
    assert np.isnan(values[[0, 2, 3, 4]]).all() and not np.isnan(values[1])
    assert [e.reason for e in model.last_skipped][:1] == ["truncated JPEG"]


def test_training_skips_unreadable_images_and_names_them(sample, tmp_path):
    for path in tables.image_locations(sample)[:3]:
        shutil.copy(path, tmp_path / os.path.basename(path))
    make_truncated_jpeg(tmp_path / "cut.jpg")
    var = tables.image_variable("image", origin=str(tmp_path))
    class_var = sample.domain.class_var
    rows = [[c, name] for c, name in zip(["Bag", "Bag", "Dress", "Dress"],
                                          [os.path.basename(p) for p in
                                           tables.image_locations(sample)[:3]] + ["cut.jpg"])]
    data = Table.from_list(Domain([], class_var, [var]), rows)
    model = ImageClassifierLearner()(data)
    assert model.n_images == 3
    assert [(os.path.basename(s.path), s.reason) for s in model.skipped] == \
        [("cut.jpg", "truncated JPEG")]


def test_progress_and_cancel(sample):
    seen = []
    ImageClassifierLearner()(sample[:10], progress_callback=seen.append)
    assert seen[0] == 0 and seen[-1] == 1 and seen == sorted(seen)

    def cancel(fraction):
        if fraction > 0:
            raise Cancelled()

    with pytest.raises(Cancelled):
        ImageClassifierLearner(augment=Augment(seed=7), copies=1)(sample, progress_callback=cancel)


@pytest.mark.parametrize("options, match", [
    ({"model": "resnet"}, "model"), ({"head": "svm"}, "head"), ({"copies": 2}, "augment"),
    ({"augment": Augment()}, "copies"), ({"copies": -1}, "copies"), ({"C": -1}, "C"),
    ({"hidden": (0,)}, "hidden"), ({"random_state": "x"}, "random_state"),
    ({"augment": "flip", "copies": 1}, "augment"),
])
def test_nonsense_options_are_refused_by_name(options, match):
    with pytest.raises(ValueError, match=match):
        ImageClassifierLearner(**options)


def test_data_without_images_or_class_is_refused(sample):
    learner = ImageClassifierLearner()
    assert "categorical" in learner.incompatibility_reason(
        Domain([], None, sample.domain.metas))
    no_images = sample.transform(Domain([], sample.domain.class_var))
    with pytest.raises(ValueError, match="image column"):
        learner(no_images)


def test_orange_preprocessors_apply_to_the_embeddings(sample, new_photos):
    from Orange.preprocess import ProjectPCA
    model = ImageClassifierLearner(preprocessors=[ProjectPCA(n_components=5)])(sample)
    assert len(model.domain.attributes) == 5
    assert model(new_photos, model.Probs).shape == (8, 5)
    with pytest.raises(ValueError, match="Preprocessor"):
        export_onnx(model, "x.onnx")


BARE_RUN = """
import json, runpy, sys
sys.argv = ["portable.py"] + sys.argv[1:]
try:
    runpy.run_path(SCRIPT, run_name="__main__")
except SystemExit:
    pass
loaded = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
print(json.dumps({"modules": loaded}), file=sys.stderr)
"""


def photos_for_equivalence(tmp_path):
    """Real photos: the bundled JPEGs, scikit-image's PNGs, an EXIF-rotated JPEG."""
    from PIL import Image
    paths = sorted(str(p) for p in (SAMPLE / "photos").glob("*.jpg"))[:6]
    paths += [str(skimage_sample(name)) for name in ("chelsea.png", "coffee.png", "camera.png")]
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.open(skimage_sample("astronaut.png")).save(tmp_path / "rotated.jpg", exif=exif)
    return paths + [str(tmp_path / "rotated.jpg")]


def test_exported_file_in_a_bare_onnxruntime_process_gives_the_models_probabilities(
        sample, model, tmp_path):
    path = export_onnx(model, tmp_path / "fashion.onnx")
    photos = photos_for_equivalence(tmp_path)
    script = tmp_path / "elsewhere" / "portable.py"
    script.parent.mkdir()
    shutil.copy(portable.__file__, script)
    code = BARE_RUN.replace("SCRIPT", repr(str(script)))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-I", "-c", code, str(path)] + photos,
                          capture_output=True, text=True, cwd=script.parent, env=env,
                          timeout=120, check=True)
    modules = json.loads(done.stderr.strip().splitlines()[-1])["modules"]
    assert {"numpy", "PIL", "onnxruntime"} <= set(modules)
    assert not [m for m in modules if not m.startswith("_")
                and m not in ("numpy", "PIL", "onnxruntime")], modules
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["image"] for line in lines] == photos
    bare = np.array([line["probabilities"] for line in lines])

    var = tables.image_variable("image")
    images = Table.from_list(Domain([], metas=[var]), [[p] for p in photos])
    orange = model(images, model.Probs)
    np.testing.assert_allclose(bare, orange, atol=1e-4)
    assert [line["class"] for line in lines] == [model.classes[i] for i in orange.argmax(1)]
    # and the same through the API
    np.testing.assert_allclose(classify_images(path, photos).probabilities, orange, atol=1e-4)
    np.testing.assert_allclose(classify_images(model, images).probabilities, orange,
                               atol=1e-9)
    # an MLP head too (in this process; tests/test_classifier_core.py checks its graph)
    mlp = ImageClassifierLearner(head="mlp", hidden=(32,))(sample)
    mlp_path = export_onnx(mlp, tmp_path / "mlp.onnx")
    np.testing.assert_allclose(classify_images(mlp_path, photos).probabilities,
                               mlp(images, mlp.Probs), atol=1e-4)


def test_export_metadata_names_the_snapshot_and_refuses_to_overwrite(sample, tmp_path):
    marked = tables.mark_snapshot(sample, {"name": "fashion-five", "version": 3})
    model = ImageClassifierLearner(augment=Augment(rotate=10), copies=1)(marked)
    path = export_onnx(model, tmp_path / "fashion.onnx")
    classifier = load_classifier(path)
    meta = classifier.metadata
    assert classifier.classes == list(sample.domain.class_var.values)
    assert meta["snapshot_version"] == "3" and meta["snapshot_name"] == "fashion-five"
    assert json.loads(meta["snapshot"])["version"] == 3
    assert json.loads(meta["augmentation"])["rotate"] == 10 and meta["copies"] == "1"
    assert meta["training_images"] == str(len(sample))
    assert meta["augmented_images"] == str(len(sample))
    assert meta["imagelab_version"] and meta["backbone"] == "efficientnet-lite0-int8"
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_onnx(model, path)
    assert path.read_bytes() == before
    export_onnx(model, path, overwrite=True)
    with pytest.raises(ValueError, match="ImageClassifierModel"):
        export_onnx("not a model", tmp_path / "x.onnx")


def test_load_classifier_refuses_other_files(tmp_path):
    from orangecontrib.imagelab.core.models import get_model
    with pytest.raises(ValueError, match="not an Image Lab classifier"):
        load_classifier(get_model("efficientnet-lite0").onnx_path())
    make_text_file(tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        load_classifier(tmp_path / "x.onnx")


def test_classify_images_reports_unreadable_files(model, tmp_path):
    path = export_onnx(model, tmp_path / "m.onnx")
    make_truncated_jpeg(tmp_path / "cut.jpg")
    images = [str(skimage_sample("chelsea.png")), str(tmp_path / "cut.jpg"), None]
    for source in (path, load_classifier(path), model):
        result = classify_images(source, images)
        assert result.predicted[0] in model.classes and result.predicted[1:] == [None, None]
        assert result.error_rows == [1, 2]
        assert result.errors[0].reason == "truncated JPEG"
    with pytest.raises(ValueError, match="list"):
        classify_images(path, str(skimage_sample("chelsea.png")))


def test_augment_images_writes_copies_into_the_cache_only(sample):
    source_folder = SAMPLE / "fashion" / "labelled"
    before = sorted(p.name for p in source_folder.rglob("*"))
    result = augment_images(sample[:3], Augment(), copies=2)
    assert sorted(p.name for p in source_folder.rglob("*")) == before
    data = result.data
    assert len(data) == 6 and result.errors == []
    locations = tables.image_locations(data)
    assert all(Path(loc).parent == augmented_folder() and os.path.exists(loc)
               for loc in locations)
    assert list(data.get_column("augmented from")) == \
        list(np.repeat(tables.image_locations(sample[:3]), 2))
    np.testing.assert_array_equal(data.Y, np.repeat(sample[:3].Y, 2))
    assert json.loads(data.get_column("augmentation")[0])["version"] == 1
    # content-addressed: a second run writes nothing new and names the same files
    again = augment_images(sample[:3], Augment(), copies=2)
    assert tables.image_locations(again.data) == locations
    with pytest.raises(ValueError, match="copies"):
        augment_images(sample, Augment(), copies=0)
