"""Image Classifier and Save Image Classifier widgets, with Orange's Test and Score,
Load Model and Predictions."""
import os
import pickle
import shutil
import tempfile

import numpy as np
from Orange.base import Model
from Orange.data import Domain
from Orange.widgets.evaluate.owpredictions import OWPredictions
from Orange.widgets.evaluate.owtestandscore import OWTestAndScore
from Orange.widgets.model.owloadmodel import OWLoadModel
from Orange.widgets.tests import base

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.classifier import (
    Augment, ImageClassifierLearner, ImageClassifierModel, load_classifier)
from orangecontrib.imagelab.widgets.owimageclassifier import OWImageClassifier
from orangecontrib.imagelab.widgets.owsaveimageclassifier import OWSaveImageClassifier
from tests.images import make_truncated_jpeg
from tests.test_classifier_api import (
    SAMPLE, WatchedLearner, check_no_test_image_was_augmented, small_sample)


class TestOWImageClassifier(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.data = small_sample()
        from orangecontrib.imagelab import import_images
        cls.new = import_images(str(SAMPLE / "fashion" / "new")).data[:6]

    def setUp(self):
        self.widget = self.create_widget(OWImageClassifier)

    def fit(self, data, widget=None):
        widget = widget or self.widget
        self.send_signal(widget.Inputs.data, data, widget=widget)
        self.wait_until_finished(widget=widget, timeout=120000)
        return self.get_output(widget.Outputs.model, widget=widget)

    def test_fits_off_the_gui_thread_and_predicts_raw_images(self):
        learner = self.get_output(self.widget.Outputs.learner)
        self.assertIsInstance(learner, ImageClassifierLearner)
        self.send_signal(self.widget.Inputs.data, self.data)
        self.assertIsNotNone(self.widget.task)              # running in the background
        self.wait_until_finished(timeout=120000)
        model = self.get_output(self.widget.Outputs.model)
        self.assertIsInstance(model, ImageClassifierModel)
        self.assertEqual(model.name, "Image Classifier")
        self.assertIn("Trained on 30 images", self.widget.info_label.text())
        self.assertEqual(model(self.new, model.Probs).shape, (6, 5))
        self.widget.send_report()
        self.send_signal(self.widget.Inputs.data, None)
        self.assertIsNone(self.get_output(self.widget.Outputs.model))

    def test_options_reach_the_learner_and_settings_are_literals(self):
        w = self.widget
        w.augment, w.copies, w.rotate, w.seed = True, 3, 15, 5
        w.head_index = 1
        w._head_chosen()
        learner = self.get_output(w.Outputs.learner)
        self.assertEqual((learner.head, learner.copies), ("mlp", 3))
        self.assertEqual(learner.augment, Augment(rotate=15, seed=5))
        settings = w.settingsHandler.pack_data(w)
        self.assertEqual((settings["model_key"], settings["head"]),
                         ("efficientnet-lite0-int8", "mlp"))
        w2 = self.create_widget(OWImageClassifier, stored_settings=settings)
        self.assertEqual(self.get_output(w2.Outputs.learner).augment, learner.augment)
        index = w._models.index("squeezenet")
        w.model_combo.setCurrentIndex(index)
        w.model_combo.activated.emit(index)
        self.assertEqual(self.get_output(w.Outputs.learner).model, "squeezenet")
        w3 = self.create_widget(OWImageClassifier, stored_settings={"model_key": "nope"})
        self.assertTrue(w3.Warning.unknown_model.is_shown())

    def test_cancel_returns_at_once_and_sends_no_model(self):
        w = self.widget
        w.augment, w.copies, w.seed = True, 2, 1234  # copies not cached yet
        w.settings_changed()
        self.send_signal(w.Inputs.data, self.data[:10])
        self.assertIsNotNone(w.task)
        w.cancel_fitting()
        self.assertIsNone(w.task)
        self.assertIn("Cancelled", w.info_label.text())
        self.assertIsNone(self.get_output(w.Outputs.model))
        # Apply starts again (and finishes)
        w.apply()
        self.wait_until_finished(timeout=120000)
        self.assertIsNotNone(self.get_output(w.Outputs.model))

    def test_unreadable_training_images_are_named(self):
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        data = self.data[:12].copy()
        make_truncated_jpeg(os.path.join(folder, "cut.jpg"))
        image = tables.find_image_column(data.domain)
        with data.unlocked(data.metas):
            data[0, image] = os.path.join(folder, "cut.jpg")
        model = self.fit(data)
        self.assertEqual(model.n_images, 11)
        self.assertTrue(self.widget.Warning.skipped.is_shown())
        self.assertIn("cut.jpg (truncated JPEG)", str(self.widget.Warning.skipped))

    def test_data_without_images_is_an_error(self):
        no_images = self.data.transform(Domain([], self.data.domain.class_var))
        self.assertIsNone(self.fit(no_images))
        self.assertTrue(self.widget.Error.data_error.is_shown())

    def test_test_and_score_augments_only_training_folds(self):
        # images -> Image Classifier -> Test and Score (Data and Learner)
        WatchedLearner.log = []
        self.widget.augment, self.widget.copies = True, 2
        self.widget.settings_changed()
        self.widget.create_learner = lambda: WatchedLearner(augment=Augment(), copies=2)
        self.widget.update_learner()
        embedded = self.fit(self.data) and self.get_output(self.widget.Outputs.embedded)
        self.assertEqual(len(embedded), len(self.data))
        self.assertEqual(len(embedded.domain.attributes), 1280)
        WatchedLearner.log = []
        test = self.create_widget(OWTestAndScore)
        test.n_folds = 2  # the third choice: 5 folds
        test.resampling = test.KFold
        self.send_signal(test.Inputs.train_data, embedded, widget=test)
        self.send_signal(test.Inputs.learner, self.get_output(self.widget.Outputs.learner),
                         0, widget=test)
        results = self.get_output(test.Outputs.evaluations_results, widget=test, wait=180000)
        self.assertFalse(test.Error.active)
        self.assertEqual(len(results.folds), 5)
        check_no_test_image_was_augmented(embedded, results, WatchedLearner.log, copies=2)

    def test_pickled_model_works_in_load_model_and_predictions(self):
        model = self.fit(self.data)
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        path = os.path.join(folder, "fashion.pkcls")
        with open(path, "wb") as f:
            pickle.dump(model, f)
        loader = self.create_widget(OWLoadModel)
        loader.add_path(path)
        loader.open_file()
        loaded = self.get_output(loader.Outputs.model, widget=loader)
        self.assertIsInstance(loaded, ImageClassifierModel)

        predictions = self.create_widget(OWPredictions)
        self.send_signal(predictions.Inputs.data, self.new, widget=predictions)
        self.send_signal(predictions.Inputs.predictors, loaded, widget=predictions)
        predictions.shown_probs = predictions.MODEL_PROBS  # "Classes known to the model"
        predictions._update_prediction_delegate()
        predictions._commit_predictions()
        out = self.get_output(predictions.Outputs.annotated, widget=predictions)
        self.assertFalse(predictions.Error.predictor_failed.is_shown())
        np.testing.assert_array_equal(out.get_column(loaded.name), model(self.new))
        probabilities = np.column_stack([out.get_column(f"{loaded.name} ({name})")
                                         for name in model.classes])
        np.testing.assert_allclose(probabilities, model(self.new, model.Probs), atol=1e-6)


class TestOWSaveImageClassifier(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model = ImageClassifierLearner()(small_sample())

    def setUp(self):
        self.widget = self.create_widget(OWSaveImageClassifier)
        self.folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.folder)

    def test_saves_an_onnx_file_in_the_background(self):
        path = os.path.join(self.folder, "fashion.onnx")
        self.widget.filename = path
        self.send_signal(self.widget.Inputs.model, self.model)
        self.assertIn("classes: Bag", self.widget.info_label.text())
        self.widget.save_file()
        self.wait_until_finished(timeout=60000)
        self.assertFalse(self.widget.Error.active)
        self.assertEqual(load_classifier(path).classes, self.model.classes)
        self.assertIn("Saved fashion.onnx", self.widget.info_label.text())
        self.widget.send_report()

    def test_other_models_are_refused(self):
        class Other(Model):
            name = "other"
        self.send_signal(self.widget.Inputs.model, Other())
        self.assertTrue(self.widget.Error.wrong_model.is_shown())
        self.widget.filename = os.path.join(self.folder, "x.onnx")
        self.widget.save_file()
        self.assertFalse(os.path.exists(os.path.join(self.folder, "x.onnx")))
        self.send_signal(self.widget.Inputs.model, None)
        self.assertFalse(self.widget.Error.wrong_model.is_shown())

    def test_a_failed_save_is_shown(self):
        blocker = os.path.join(self.folder, "file")
        open(blocker, "w").close()
        self.widget.filename = os.path.join(blocker, "x.onnx")  # a file is in the way
        self.send_signal(self.widget.Inputs.model, self.model)
        self.widget.save_file()
        self.wait_until_finished(timeout=60000)
        self.assertTrue(self.widget.Error.failed.is_shown())

