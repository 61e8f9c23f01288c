"""Predictions to Folders, and sort_predictions on the real output of Orange's
Predictions widget for a real learner (LogisticRegression)."""
import csv
import hashlib
import shutil
import tempfile
from pathlib import Path

import numpy as np
from Orange.classification import LogisticRegressionLearner
from Orange.data import Domain
from Orange.widgets.evaluate.owpredictions import OWPredictions
from Orange.widgets.tests import base

from orangecontrib.imagelab import SortReport, sort_predictions
from orangecontrib.imagelab.api.saving import find_prediction_columns
from orangecontrib.imagelab.widgets.owpredictionstofolders import OWPredictionsToFolders
from tests.test_save_api import image_table


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class TestOWPredictionsToFolders(base.WidgetTest):
    """The real chain: train LogisticRegression on image features, run Orange's
    Predictions widget, sort its output (API and widget)."""

    def setUp(self):
        self.widget = self.create_widget(OWPredictionsToFolders)

    def predictions(self, tmp_path, with_class):
        names = [f"{c}_{i}.jpg" for c in ("red", "green", "blue") for i in range(6)]
        classes = [n.split("_")[0] for n in names]
        train = image_table(Path(tmp_path) / "train", names, classes)
        model = LogisticRegressionLearner()(train)
        new_names = ["new.red.1.jpg", "new.green.jpg", "new.blue.jpg", "new.red.2.jpg",
                     "grey.jpg"]
        new_classes = ["red", "green", "blue", "red", "grey"]
        new = image_table(Path(tmp_path) / "new", new_names, new_classes)
        if not with_class:
            new = new.transform(Domain(new.domain.attributes, None, new.domain.metas))
        widget = self.create_widget(OWPredictions)
        self.send_signal(widget.Inputs.data, new, widget=widget)
        self.send_signal(widget.Inputs.predictors, model, widget=widget)
        if not with_class:
            # New photos have no class: Predictions shows no probabilities
            # until the user picks "Classes known to the model".
            self.assertEqual(find_prediction_columns(
                self.get_output(widget.Outputs.selected_predictions, widget=widget).domain
            )[0][1], {})
            widget.controls.shown_probs.setCurrentIndex(widget.MODEL_PROBS)
            widget.controls.shown_probs.activated.emit(widget.MODEL_PROBS)
            widget.shown_probs = widget.MODEL_PROBS
            widget._update_prediction_delegate()
            widget._commit_predictions()
        return self.get_output(widget.Outputs.selected_predictions, widget=widget)

    def test_sort_real_predictions(self):
        tmp_path = Path(self.tmpdir())
        data = self.predictions(tmp_path, with_class=False)
        pred_var, probs = find_prediction_columns(data.domain)[0]
        self.assertEqual(pred_var.name, "logistic regression")
        self.assertEqual(set(probs), {"red", "green", "blue"})
        conf = np.array([data.get_column(probs[v])[i]
                         for i, v in enumerate(pred_var.values[int(c)]
                                               for c in data.get_column(pred_var))])
        high, low = float(np.sort(conf)[-3]), float(np.sort(conf)[1])
        out = tmp_path / "sorted"
        result = sort_predictions(data, out, min_confidence=high, review_below=low)
        self.assertIsInstance(result, SortReport)
        self.assertEqual(result.counts, {"sorted": 3, "review": 1, "rejected": 1})
        self.assertEqual(len(result.sorted), 3)
        self.assertEqual(len(result.review), 1)
        self.assertEqual(len(result.rejected), 1)
        for row in result.sorted:
            folder = Path(str(row["saved as"])).parent.name
            self.assertEqual(folder, str(row["logistic regression"]))
            self.assertGreaterEqual(float(row["confidence"]), high)
        review_path = Path(str(result.review[0]["saved as"]))
        self.assertEqual(review_path.parent.name, "_review")
        self.assertTrue(str(result.rejected[0]["status"]).startswith("rejected: confidence"))
        self.assertEqual(result.rejected.get_column("saved as")[0], "")
        # names with several dots stay whole; files are byte-identical
        saved_names = sorted(p.name for p in out.rglob("*.jpg"))
        self.assertEqual(len(saved_names), 4)
        for row in list(result.sorted) + list(result.review):
            dest = Path(str(row["saved as"]))
            self.assertEqual(dest.name, Path(str(row["image"])).name)
            self.assertEqual(sha(dest), sha(tmp_path / "new" / str(row["image"])))
        with open(out / "manifest.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 4)
        self.assertIn("_review", {r["label"] for r in rows})

        # a rerun writes nothing twice
        again = sort_predictions(data, out, min_confidence=high, review_below=low)
        self.assertEqual(len(again.saved), 0)
        self.assertEqual(len(again.already_present), 4)
        self.assertEqual(sorted(p.name for p in out.rglob("*.jpg")), saved_names)

        # at most one image per folder, the most confident
        capped = sort_predictions(data, tmp_path / "capped", max_images=1)
        per_folder = {}
        for row in capped.sorted:
            per_folder.setdefault(str(row["logistic regression"]), []).append(row)
        self.assertTrue(all(len(rows) == 1 for rows in per_folder.values()))
        self.assertTrue(any("max_images" in str(r["status"]) for r in capped.rejected))

    def test_with_class_and_without_probabilities(self):
        tmp_path = Path(self.tmpdir())
        data = self.predictions(tmp_path, with_class=True)
        result = sort_predictions(data, tmp_path / "all")
        self.assertEqual(result.counts["sorted"], 5)
        # the class column is not mistaken for the prediction
        self.assertEqual(result.prediction_column, "logistic regression")
        stripped = data.transform(Domain(
            data.domain.attributes, data.domain.class_vars,
            [m for m in data.domain.metas if not m.is_continuous]))
        with self.assertRaisesRegex(ValueError, "Classes known to the model"):
            sort_predictions(stripped, tmp_path / "x", min_confidence=0.5)
        flat = sort_predictions(stripped, tmp_path / "no_probs")
        self.assertEqual(flat.counts["sorted"], 5)
        self.assertTrue(np.isnan(flat.confidence).all())

    def tmpdir(self):
        path = tempfile.mkdtemp(prefix="imagelab-sort-")
        self.addCleanup(shutil.rmtree, path, True)
        return path

    # ------------------------------------------------------------ the widget

    def test_widget_sorts_into_folders_and_sends_outputs(self):
        tmp_path = Path(self.tmpdir())
        data = self.predictions(tmp_path, with_class=False)
        w = self.widget
        self.send_signal(w.Inputs.predictions, data)
        self.assertEqual(w.prediction_column.name, "logistic regression")
        self.assertFalse(w.auto_save)
        self.assertIsNone(self.get_output(w.Outputs.sorted))
        w.min_confidence, w.use_review, w.review_below = 0, False, 0
        w._options_changed()
        self.assertIn("5 to class folders", w.plan_label.text())
        w.set_folder(str(tmp_path / "out"))
        self.assertFalse((tmp_path / "out").exists())
        w.commit.now()
        self.wait_until_finished()
        sorted_ = self.get_output(w.Outputs.sorted)
        self.assertEqual(len(sorted_), 5)
        self.assertIsNone(self.get_output(w.Outputs.review))
        self.assertEqual(len(list((tmp_path / "out").rglob("*.jpg"))), 5)
        self.assertIn("5 saved", w.info_label.text())

        # thresholds: everything above 101 % impossible -> all to review
        w.min_confidence, w.use_review, w.review_below = 100, True, 0
        w._options_changed()
        w.set_folder(str(tmp_path / "review"))
        w.commit.now()
        self.wait_until_finished()
        review = self.get_output(w.Outputs.review)
        self.assertEqual(len(review), 5)
        self.assertEqual({p.parent.name for p in (tmp_path / "review").rglob("*.jpg")},
                         {"_review"})
        w.use_review = False
        w._options_changed()
        self.assertIn("5 left out", w.plan_label.text())
        w.send_report()

    def test_widget_without_probabilities_warns_and_missing_files(self):
        tmp_path = Path(self.tmpdir())
        data = self.predictions(tmp_path, with_class=True)
        stripped = data.transform(Domain(
            data.domain.attributes, data.domain.class_vars,
            [m for m in data.domain.metas if not m.is_continuous]))
        (tmp_path / "new" / "grey.jpg").unlink()
        w = self.widget
        self.send_signal(w.Inputs.predictions, stripped)
        self.assertTrue(w.Warning.no_probabilities.is_shown())
        w.set_folder(str(tmp_path / "out"))
        w.commit.now()
        self.wait_until_finished()
        self.assertIn("1 of 5 files skipped: new/grey.jpg (file not found)",
                      str(w.Warning.skipped))
        sorted_ = self.get_output(w.Outputs.sorted)
        self.assertEqual(len(sorted_), 5)
        self.assertIn("skipped: file not found", list(sorted_.get_column("status")))

    def test_widget_rejects_tables_without_predictions(self):
        tmp_path = Path(self.tmpdir())
        plain = image_table(tmp_path, ["a.jpg"], ["red"])
        self.send_signal(self.widget.Inputs.predictions, plain)
        self.assertTrue(self.widget.Error.no_predictions.is_shown())
        self.send_signal(self.widget.Inputs.predictions, None)
        self.assertFalse(self.widget.Error.no_predictions.is_shown())

    # -- issue 17, items 3, 9 and 11

    def test_widget_saves_again_after_the_folder_was_emptied(self):
        from AnyQt.QtWidgets import QPushButton
        tmp_path = Path(self.tmpdir())
        data = self.predictions(tmp_path, with_class=True)
        w = self.widget
        self.send_signal(w.Inputs.predictions, data)
        w.min_confidence, w.use_review = 0, False
        w.set_folder(str(tmp_path / "out"))
        save, = [b for b in w.buttonsArea.findChildren(QPushButton) if b.text() == "Save"]
        for _ in range(2):
            save.click()
            self.wait_until_finished()
            self.assertEqual(len(list((tmp_path / "out").rglob("*.jpg"))), 5)
            self.assertIn("5 saved", w.info_label.text())
            shutil.rmtree(tmp_path / "out")  # the user empties the folder
            self.assertTrue(save.isEnabled())

    def test_contexts_stay_small_on_wide_tables(self):
        import pickle
        from tests.test_owsaveimages import embedding_table
        data = embedding_table()  # 1,000 numbers; categorical metas count as predictions
        w = self.widget
        self.send_signal(w.Inputs.predictions, data)
        w.prediction_column = data.domain["group"]
        settings = w.settingsHandler.pack_data(w)
        self.assertLess(len(pickle.dumps(settings)), 2000)
        w2 = self.create_widget(OWPredictionsToFolders, stored_settings=settings)
        self.send_signal(w2.Inputs.predictions, data, widget=w2)
        self.assertIs(w2.prediction_column, data.domain["group"])

    def test_a_full_disk_is_an_error_that_names_it(self):
        from orangecontrib.imagelab.api.saving import SaveReport, SortReport
        report = SaveReport(folder="/media/usb/out", n_inputs=3,
                            stopped="the disk holding /media/usb/out is full")
        self.widget.on_done(SortReport(save=report, prediction_column="p", decisions=[],
                                       confidence=np.array([])))
        self.assertIn("Saving stopped: the disk holding /media/usb/out is full",
                      str(self.widget.Error.stopped))
