"""The tutorial workflows load with Orange's own reader and run to completion headless.

Each workflow runs through Orange's signal manager (offscreen) until every
widget is idle; then its outputs are checked, and the saving widgets are made
to save into a temporary home folder (the tutorials name "~/Image Lab/...").
"""
import os
from importlib.metadata import entry_points

import numpy as np
import pytest
from AnyQt.QtWidgets import QApplication
from orangecanvas.scheme import Scheme
from orangecanvas.scheme.readwrite import scheme_load

import Orange.evaluation
from orangecontrib.imagelab.tutorials import headless, main_tutorial


@pytest.fixture(scope="module")
def app():
    return QApplication.instance() or QApplication([])


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def tutorial(name):
    return os.path.join(headless.TUTORIALS_DIR, name)


def test_tutorials_are_registered_and_found():
    names = {ep.value for ep in entry_points(group="orange.widgets.tutorials")}
    assert "orangecontrib.imagelab.tutorials" in names
    files = [os.path.basename(p) for p in headless.tutorial_paths()]
    assert files == ["clean-scraped-photos.ows", "crop-boxes-and-train.ows",
                     "explore-photos.ows", "sort-new-photos.ows", "subset-and-download.ows",
                     "train-share-classifier.ows"]
    assert os.path.exists(main_tutorial())


@pytest.mark.parametrize("path", headless.tutorial_paths(), ids=os.path.basename)
def test_tutorial_loads_with_every_node_and_link_resolved(app, path):
    registry = headless.widget_registry()
    errors = []
    scheme = Scheme()
    with open(path, "rb") as f:
        scheme_load(scheme, f, registry=registry, error_handler=errors.append)
    assert not errors
    assert scheme.nodes and scheme.links and scheme.annotations
    for node in scheme.nodes:
        assert registry.has_widget(node.description.qualified_name)
    for link in scheme.links:
        assert link.source_channel in link.source_node.description.outputs
        assert link.sink_channel in link.sink_node.description.inputs
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Settings are literals; Orange's Predictions context (and Load Model's file,
    # a RecentPath) are the exceptions.
    expected_pickles = {"sort-new-photos.ows": 1, "train-share-classifier.ows": 2}.get(
        os.path.basename(path), 0)
    assert text.count('format="pickle"') == expected_pickles


def test_explore_tutorial_runs_and_saves_a_marked_group(app, home):
    run = headless.run_workflow(tutorial("explore-photos.ows"), timeout=300)
    try:
        assert run.finished and not run.messages("error")
        outputs = run.outputs()
        images = outputs[("Import Images", "Data")]
        embedded = outputs[("Image Embedding", "Embeddings")]
        assert len(images) == len(embedded) == 200
        assert len(embedded.domain.attributes) == 1280
        assert embedded.domain.class_var.name == "category"

        grid, save = run.widgets["Image Grid"], run.widgets["Save Images"]
        grid.view.select([0, 1, 2, 3])
        assert run.wait()
        selected = run.outputs()[("Image Grid", "Selected Images")]
        assert len(selected) == 4
        save.commit.now()
        assert run.wait()
        assert not save.Error.active
        target = home / "Image Lab" / "saved images"
        written = [p for p in target.rglob("*.png")]
        assert len(written) == 4
        assert (target / "manifest.csv").exists()
    finally:
        run.close()


def test_sort_tutorial_learns_predicts_and_sorts_into_folders(app, home):
    run = headless.run_workflow(tutorial("sort-new-photos.ows"), timeout=400)
    try:
        assert run.finished and not run.messages("error")
        outputs = run.outputs()
        assert len(outputs[("Embed Labelled", "Embeddings")]) == 200
        assert len(outputs[("Embed New", "Embeddings")]) == 40

        # Test and Score: cross-validated accuracy and AUC on the sample.
        test_and_score = run.widgets["Test and Score"]
        (slot,) = test_and_score.learners.values()
        results = slot.results.value
        accuracy = Orange.evaluation.CA(results)[0]
        auc = Orange.evaluation.AUC(results)[0]
        assert accuracy > 0.8 and auc > 0.9, (accuracy, auc)

        # Predictions carry probabilities, so the sorter has confidences.
        folders = run.widgets["Predictions to Folders"]
        assert not folders.Warning.no_probabilities.is_shown()
        folders.commit.now()
        assert run.wait()
        assert not folders.Error.active
        target = home / "Image Lab" / "sorted photos"
        report = folders.result
        assert len(report.sorted) + len(report.rejected or []) + \
            len(report.review or []) == 40
        class_folders = {p.name for p in target.iterdir() if p.is_dir()}
        assert class_folders <= {"T-shirt", "Trouser", "Dress", "Sneaker", "Bag", "_review"}
        written = list(target.rglob("*.png"))
        assert len(written) == len(report.sorted) + len(report.review or [])
        assert len(report.sorted) >= 20
        review = run.outputs().get(("Predictions to Folders", "Review"))
        assert (review is None) == (not report.review)
    finally:
        run.close()


def test_clean_tutorial_keeps_the_cat_photos(app, home):
    run = headless.run_workflow(tutorial("clean-scraped-photos.ows"), timeout=300)
    try:
        assert run.finished and not run.messages("error")
        outputs = run.outputs()
        matched = outputs[("Image Labels", "Matched")]
        names = sorted(matched.get_column("image name"))
        assert names == ["cat", "cat-crop", "cat-mirrored"]
        labelled = outputs[("Image Labels", "Labelled Images")]
        assert len(labelled) == 12
    finally:
        run.close()


def test_crop_boxes_tutorial_crops_embeds_and_learns(app, home):
    run = headless.run_workflow(tutorial("crop-boxes-and-train.ows"), timeout=300)
    try:
        assert run.finished and not run.messages("error")
        outputs = run.outputs()
        boxes = outputs[("Photos with Boxes", "Boxes")]
        crops = outputs[("Crop Boxes", "Crops")]
        assert len(boxes) == len(crops) == 90
        assert crops.domain.class_var.values == ("T-shirt", "Trouser", "Dress", "Sneaker",
                                                 "Bag")
        assert len(outputs[("Image Embedding", "Embeddings")]) == 90
        viewer = run.widgets["Photos and Boxes"]
        for _ in range(100):   # box sizes are read in the viewer's own thread
            if viewer.box_overlay.display is not None:
                break
            run.wait(timeout=0.2, settle=0.1)
        assert viewer.box_overlay.display.n_boxes() == 90
        (slot,) = run.widgets["Test and Score"].learners.values()
        results = slot.results.value
        accuracy = Orange.evaluation.CA(results)[0]
        auc = Orange.evaluation.AUC(results)[0]
        assert accuracy > 0.75 and auc > 0.9, (accuracy, auc)
    finally:
        run.close()


def test_a_tampered_workflow_opens_with_settings_reset_and_warnings(app, tmp_path):
    """Orange's own workflow reader builds the widgets from a tampered .ows (the
    check itself is tested on every widget in test_widget_settings.py)."""
    tampered = {
        "owimagegrid": "{'cell_size': 'big', 'auto_commit': 'yes'}",
        "owimageembedding": "{'wavelet_levels': 999, 'feature_sets': 'all'}",
        "owimagelabels": "{'threshold': 250, 'model': 'resnet', 'top_k': 'five'}",
        "owimportimages": "{'recent_paths': 'photos/', 'check_full': 'no'}",
        "owimageviewer": "{'cell_size': -5, 'selection': {'a': 1}}",
    }
    titles = {"owimagegrid": "Image Grid", "owimageembedding": "Image Embedding",
              "owimagelabels": "Image Labels", "owimportimages": "Import Images",
              "owimageviewer": "Image Viewer"}
    nodes, properties = [], []
    for i, (module, values) in enumerate(tampered.items()):
        title = titles[module]
        qualified = f"orangecontrib.imagelab.widgets.{module}.OW{title.replace(' ', '')}"
        nodes.append(f'<node id="{i}" name="{title}" qualified_name="{qualified}" '
                     f'project_name="orange3-imagelab" version="" title="{title}" '
                     f'position="({100 * i}, 0)" />')
        properties.append(f'<properties node_id="{i}" format="literal">{values}</properties>')
    path = tmp_path / "tampered.ows"
    path.write_text(
        "<?xml version='1.0' encoding='utf-8'?>\n"
        '<scheme version="2.0" title="tampered" description="">\n'
        f"<nodes>{''.join(nodes)}</nodes><links /><annotations />\n"
        f"<node_properties>{''.join(properties)}</node_properties></scheme>\n",
        encoding="utf-8")
    run = headless.run_workflow(str(path), timeout=60)
    try:
        warnings = run.messages("warning")
        for title in titles.values():
            widget = run.widgets[title]
            assert widget.settings_rejected, title
            assert any("reset to their defaults" in text for text in warnings[title]), title
        assert run.widgets["Image Grid"].cell_size == 96
        assert run.widgets["Image Labels"].threshold == 50
        assert run.widgets["Image Labels"].model == "efficientnet-lite0"
        assert run.widgets["Import Images"].recent_paths == []
    finally:
        run.close()


def test_subset_tutorial_downloads_crops_and_learns_offline(app, home):
    """Dataset Subset -> Download Images -> Crop Boxes -> Image Embedding ->
    Logistic Regression -> Test and Score on the bundled Open Images-format
    sample, whose URLs are relative file URLs: no network."""
    run = headless.run_workflow(tutorial("subset-and-download.ows"), timeout=300)
    try:
        assert run.finished and not run.messages("error")
        assert not run.messages("warning")
        outputs = run.outputs()
        images = outputs[("Dataset Subset", "Images")]
        boxes = outputs[("Download Images", "Boxes")]
        download = run.widgets["Download Images"].result
        assert len(images) == len(download.data) == 47 and not download.failed
        assert len(boxes) == len(outputs[("Crop Boxes", "Crops")]) == 67
        folder = home / "Image Lab" / "downloaded subset"
        assert len(list(folder.glob("*.jpg"))) == 47
        crops = outputs[("Crop Boxes", "Crops")]
        assert crops.domain.class_var.values == ("Dress", "Footwear", "Handbag")
        (slot,) = run.widgets["Test and Score"].learners.values()
        results = slot.results.value
        accuracy = Orange.evaluation.CA(results)[0]
        assert accuracy > 0.8, accuracy
    finally:
        run.close()


def test_train_share_tutorial_cross_validates_saves_loads_and_sorts(app, home):
    run = headless.run_workflow(tutorial("train-share-classifier.ows"), timeout=400)
    try:
        assert run.finished and not run.messages("error")
        outputs = run.outputs()
        embedded = outputs[("Image Classifier", "Embedded Images")]
        assert len(embedded) == 200 and len(embedded.domain.attributes) == 1280
        model = outputs[("Image Classifier", "Model")]
        assert model.n_images == 200 and model.n_augmented == 400

        # Test and Score: the learner with augmentation, cross-validated
        test_and_score = run.widgets["Test and Score"]
        (slot,) = test_and_score.learners.values()
        results = slot.results.value
        assert len(results.folds) == 5  # the default: 5 folds
        accuracy = Orange.evaluation.CA(results)[0]
        assert accuracy > 0.8, accuracy

        # Save Image Classifier writes one ONNX file
        save = run.widgets["Save Image Classifier"]
        target = home / "Image Lab" / "fashion.onnx"
        save.filename = str(target)
        save.save_file()
        assert run.wait()
        from orangecontrib.imagelab import classify_images, load_classifier
        assert not save.Error.active and load_classifier(target).classes == model.classes

        # the shared (pickled) model predicts the new photos through Orange's Predictions
        shared = outputs[("Shared Model", "Model")]
        assert shared.classes == model.classes
        folders = run.widgets["Predictions to Folders"]
        assert not folders.Warning.no_probabilities.is_shown()
        folders.commit.now()
        assert run.wait()
        assert not folders.Error.active
        report = folders.result
        assert len(report.sorted) + len(report.rejected or []) + \
            len(report.review or []) == 40
        assert len(report.sorted) >= 20
        written = list((home / "Image Lab" / "sorted photos").rglob("*.png"))
        assert len(written) == len(report.sorted) + len(report.review or [])
        # the saved file agrees with the model that was saved
        new = outputs[("New Photos", "Data")]
        np.testing.assert_allclose(classify_images(target, new).probabilities,
                                   model(new, model.Probs), atol=1e-4)
    finally:
        run.close()
