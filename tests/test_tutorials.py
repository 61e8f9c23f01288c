"""The tutorial workflows load with Orange's own reader and run to completion headless.

Each workflow runs through Orange's signal manager (offscreen) until every
widget is idle; then its outputs are checked, and the saving widgets are made
to save into a temporary home folder (the tutorials name "~/Image Lab/...").
"""
import json
import os
from importlib.metadata import entry_points

import numpy as np
import pytest
from AnyQt.QtCore import Qt
from AnyQt.QtTest import QTest
from AnyQt.QtWidgets import QApplication
from orangecanvas.scheme import Scheme
from orangecanvas.scheme.readwrite import scheme_load

import Orange.evaluation
from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.snapshots import list_snapshots, load_snapshot, verify
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
    assert files == ["clean-labelled-set.ows", "clean-scraped-photos.ows",
                     "crop-boxes-and-train.ows", "explore-photos.ows",
                     "label-freeze-train.ows", "sort-new-photos.ows",
                     "subset-and-download.ows", "train-share-classifier.ows"]
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


def label_with_key(widget, view_index, avoid=None):
    """Make ``view_index`` current and press the key of a class other than its label."""
    widget.view.set_current(view_index)
    current = widget.book.label(int(widget.rows[view_index]))
    number = next(i for i, c in enumerate(widget.book.classes, start=1)
                  if c not in (current, avoid))
    QTest.keyClick(widget.view, Qt.Key_0 + number)
    return widget.book.classes[number - 1]


def test_label_freeze_train_tutorial_trains_on_a_snapshot_and_refreezes_a_clone(app, home):
    run = headless.run_workflow(tutorial("label-freeze-train.ows"), timeout=400)
    try:
        assert run.finished and not run.messages("error")
        label, snap = run.widgets["Label Images"], run.widgets["Snapshot"]
        test_and_score = run.widgets["Test and Score"]
        assert label.progress_label.text() == "200 of 200 labelled"
        # Nothing is trained before the set is frozen.
        assert run.outputs().get(("Snapshot", "Snapshot")) is None
        assert test_and_score.data is None

        # Label by keyboard: one photo gets another class, by hand.
        label_with_key(label, 0)
        assert run.wait()
        labelled = run.outputs()[("Label Images", "Labelled")]
        assert len(labelled) == 200
        assert list(labelled.get_column("labelled by")).count(1) == 1  # "hand"

        # Save in Snapshot: a version in ~/Image Lab/snapshots, and the model's
        # data is that version; Test and Score's report names it.
        snap.freeze()
        assert run.wait(timeout=400)
        assert not snap.Error.active
        frozen = run.outputs()[("Snapshot", "Snapshot")]
        first = tables.snapshot_info(frozen)
        folder = home / "Image Lab" / "snapshots"
        assert first["name"] == "fashion" and first["path"].startswith(str(folder))
        assert tables.snapshot_info(test_and_score.data)["version"] == first["version"]
        (slot,) = test_and_score.learners.values()
        accuracy = Orange.evaluation.CA(slot.results.value)[0]
        assert accuracy > 0.8, accuracy
        test_and_score.create_report_html()
        assert f"fashion @ {first['version']}" in test_and_score.report_html

        # Clone -> fix two labels -> Snapshot v2: a second version whose
        # manifest names the first as its parent.
        clone = run.outputs()[("Snapshot", "Clone")]
        assert tables.parent_info(clone)["version"] == first["version"]
        fix, snap2 = run.widgets["Fix Labels"], run.widgets["Snapshot v2"]
        assert fix.progress_label.text() == "200 of 200 labelled"
        label_with_key(fix, 10)
        label_with_key(fix, 20)
        assert run.wait()
        snap2.freeze()
        assert run.wait(timeout=400)
        assert not snap2.Error.active
        # Snapshot v2's output has no link here: its chosen version is the new one.
        name, version = snap2.chosen.split("/")
        second = {"version": version, "path": str(folder / name / version)}
        assert name == "fashion" and second["version"] != first["version"]
        assert f"parent {first['version']}" in snap2.info_label.text()
        with open(os.path.join(second["path"], "datapackage.json"), encoding="utf-8") as f:
            assert json.load(f)["parent"] == first["version"]
        history = [(v.version, v.parent) for v in list_snapshots(folder)]
        assert history == [(first["version"], None), (second["version"], first["version"])]
        assert verify(second["path"]).ok and verify(first["path"]).ok
    finally:
        run.close()


def test_clean_labelled_set_tutorial_fixes_suspect_labels_and_freezes(app, home):
    run = headless.run_workflow(tutorial("clean-labelled-set.ows"), timeout=400)
    try:
        assert run.finished and not run.messages("error")
        outputs = run.outputs()
        every = outputs[("Image Issues", "All")]
        clean = outputs[("Image Issues", "Clean")]
        issues = run.widgets["Image Issues"]
        assert len(every) == 200 and 100 < len(clean) < 200
        assert issues.report_result.counts["grayscale"] == 200  # found, but unticked
        assert issues.report_result.counts["label_errors"] > 0

        # Image Grid colours by issue; the issue names only the ticked issues.
        grid = run.widgets["Issues by Colour"]
        assert grid.color_var is not None and grid.color_var.name == "issue"
        issue = every.domain["issue"]
        shown = {issue.values[int(v)] for v in every.get_column(issue)}
        assert "grayscale" not in shown and "label error" not in shown and "none" in shown

        # Fix Labels shows the clean photos whose label disagrees with the suggestion.
        fix = run.widgets["Fix Labels"]
        assert fix.filter == "disagree" and fix.compare_column.name == "suggested label"
        suggested = clean.get_column("suggested label")
        suspects = np.flatnonzero(suggested != clean.Y)
        assert len(suspects) > 0 and list(fix.rows) == list(suspects)

        # Select them all and accept the suggestions in one click (one undo step).
        QTest.keyClick(fix.view, Qt.Key_A, Qt.ControlModifier)
        fix.accept_compared()
        assert run.wait()
        assert len(fix.rows) == 0
        labelled = run.outputs()[("Fix Labels", "Labelled")]
        assert list(labelled.get_column("labelled by")).count(1) == len(suspects)
        assert np.all(labelled.Y == labelled.get_column("suggested label"))
        fix.undo()
        assert list(fix.rows) == list(suspects)
        fix.redo()
        assert run.wait()

        snap = run.widgets["Snapshot"]
        snap.freeze()
        assert run.wait(timeout=400)
        assert not snap.Error.active
        path = home / "Image Lab" / "snapshots" / snap.chosen
        frozen = load_snapshot(path)  # what Snapshot outputs (no link here)
        info = tables.snapshot_info(frozen)
        assert info["name"] == "fashion-clean" and len(frozen) == len(clean)
        assert np.all(frozen.Y == frozen.get_column("suggested label"))
        assert verify(info["path"]).ok
    finally:
        run.close()
