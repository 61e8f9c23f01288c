"""The Image Embedding widget: outputs, skipped rows, settings, URLs, cancel."""
import functools
import http.server
import threading

import numpy as np
from Orange.data import Domain, StringVariable, Table
from Orange.widgets.tests import base

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimageembedding import HAND_MADE, OWImageEmbedding
from tests.images import make_image, make_truncated_jpeg, skimage_sample


def image_table(values, origin=None):
    var = tables.image_variable("image", origin)
    return Table.from_list(Domain([], metas=[var]), [[v] for v in values])


class TestOWImageEmbedding(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tempfile
        cls.tmp = tempfile.mkdtemp()
        for i in range(3):
            make_image(f"{cls.tmp}/img{i}.jpg", size=(80, 60), noise=40, seed=i)
        make_truncated_jpeg(f"{cls.tmp}/bad.jpg")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                    directory=cls.tmp)
        handler.log_message = lambda *args: None
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        cls.server_thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.server_thread.start()
        cls.url = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        super().tearDownClass()

    def setUp(self):
        self.widget = self.create_widget(OWImageEmbedding)

    def embed(self, data, widget=None):
        widget = widget or self.widget
        self.send_signal(widget.Inputs.images, data, widget=widget)
        self.wait_until_finished(widget=widget, timeout=60000)
        return (self.get_output(widget.Outputs.embeddings, widget=widget),
                self.get_output(widget.Outputs.skipped, widget=widget))

    def test_embeds_and_skips(self):
        data = image_table(["img0.jpg", "img1.jpg", "bad.jpg", "missing.jpg", "img2.jpg"],
                           origin=self.tmp)
        out, skipped = self.embed(data)
        self.assertEqual(len(out), 3)
        self.assertEqual(len(out.domain.attributes), 1280)
        self.assertEqual(out.domain.attributes[0].name, "efficientnet-lite0-int8 0001")
        self.assertTrue(np.isfinite(out.X).all())
        self.assertEqual(len(skipped), 2)
        self.assertEqual(list(skipped.get_column("reason")),
                         ["truncated JPEG", "file not found"])
        self.assertTrue(self.widget.Warning.skipped.is_shown())
        self.assertIn("2 of 5 images skipped: ", str(self.widget.Warning.skipped))
        self.assertIn("bad.jpg (truncated JPEG)", str(self.widget.Warning.skipped))
        self.widget.send_report()
        self.widget.on_partial_result((5, 10, 2.5))
        self.assertEqual(self.widget.info_label.text(), "5 of 10 images, 2.5 images/s")
        self.send_signal(self.widget.Inputs.images, None)
        self.assertIsNone(self.get_output(self.widget.Outputs.embeddings))
        self.assertFalse(self.widget.Warning.skipped.is_shown())

    def test_urls_http_and_file(self):
        data = image_table([f"{self.url}/img0.jpg", f"{self.url}/nothing-here.jpg",
                            f"file://{self.tmp}/img1.jpg",
                            "http://127.0.0.1:1/unreachable.jpg"])
        out, skipped = self.embed(data)
        self.assertEqual(len(out), 2)
        self.assertEqual(len(skipped), 2)
        reasons = list(skipped.get_column("reason"))
        self.assertEqual(reasons[0], "HTTP 404 (Not Found)")
        self.assertTrue(reasons[1].startswith("cannot connect"), reasons[1])
        # the same image by path and by URL has the same embedding
        local, _ = self.embed(image_table([f"{self.tmp}/img0.jpg"]))
        np.testing.assert_array_equal(local.X[0], out.X[0])

    def test_model_by_key_and_hand_made_features(self):
        data = image_table(["img0.jpg", "img1.jpg"], origin=self.tmp)
        index = self.widget._methods.index("squeezenet")
        self.widget.method_combo.setCurrentIndex(index)
        self.widget.method_combo.activated.emit(index)
        self.assertEqual(self.widget.method, "squeezenet")
        out, _ = self.embed(data)
        self.assertEqual(len(out.domain.attributes), 1000)
        self.assertEqual(out.domain.attributes[0].name, "squeezenet 0001")

        index = self.widget._methods.index(HAND_MADE)
        self.widget.method_combo.setCurrentIndex(index)
        self.widget.method_combo.activated.emit(index)
        for key, check in self.widget.feature_checks.items():
            check.setChecked(key in ("dimensions", "level_histogram"))
        self.widget.commit.now()
        self.wait_until_finished(timeout=60000)
        out = self.get_output(self.widget.Outputs.embeddings)
        self.assertEqual(len(out.domain.attributes), 52)
        settings = self.widget.settingsHandler.pack_data(self.widget)
        self.assertEqual(settings["method"], HAND_MADE)
        self.assertEqual(settings["feature_sets"], ["dimensions", "level_histogram"])

        for check in self.widget.feature_checks.values():
            check.setChecked(False)
        self.widget.commit.now()
        self.assertTrue(self.widget.Warning.no_features.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.embeddings))

    def test_stored_model_key_restored(self):
        widget = self.create_widget(OWImageEmbedding,
                                    stored_settings={"method": "squeezenet"})
        self.assertEqual(widget.method_combo.currentIndex(),
                         widget._methods.index("squeezenet"))
        # the model list states each model's trade-off in a word
        texts = [widget.method_combo.itemText(i) for i in range(widget.method_combo.count())]
        self.assertIn("EfficientNet-Lite2 – accurate (1280 features)", texts)
        self.assertIn("EfficientNet-Lite0 int8 – fastest (1280 features)", texts)
        widget = self.create_widget(OWImageEmbedding,
                                    stored_settings={"method": "no-such-model"})
        self.assertEqual(widget.method, "efficientnet-lite0-int8")

    def test_image_column_context_and_no_column(self):
        other = StringVariable("notes")
        image = tables.image_variable("picture", self.tmp)
        data = Table.from_list(Domain([], metas=[other, image]),
                               [["x", "img0.jpg"], ["y", "img1.jpg"]])
        out, _ = self.embed(data)
        self.assertIs(self.widget.image_column, image)
        self.assertEqual(len(out), 2)
        # a chosen column is remembered for the domain
        self.widget.image_column = other
        self.widget.commit.now()
        self.wait_until_finished(timeout=60000)
        self.assertEqual(len(self.get_output(self.widget.Outputs.skipped)), 2)
        self.embed(image_table(["img0.jpg"], origin=self.tmp))
        self.assertEqual(self.widget.image_column.name, "image")
        self.embed(data)
        self.assertIs(self.widget.image_column, other)
        no_strings = Table.from_numpy(Domain([]), np.empty((2, 0)))
        self.send_signal(self.widget.Inputs.images, no_strings)
        self.assertTrue(self.widget.Error.no_image_column.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.embeddings))

    def test_all_failed_and_cancel(self):
        data = image_table(["bad.jpg", "missing.jpg"], origin=self.tmp)
        out, skipped = self.embed(data)
        self.assertIsNone(out)
        self.assertEqual(len(skipped), 2)
        self.assertTrue(self.widget.Error.all_failed.is_shown())
        # cancel right after start: no crash, nothing sent, button off
        self.send_signal(self.widget.Inputs.images,
                         image_table([str(skimage_sample("astronaut.png"))]))
        self.widget.cancel_embedding()
        self.assertFalse(self.widget.cancel_button.isEnabled())
        self.assertIn("Cancelled", self.widget.info_label.text())

    def test_clear_cache_button(self):
        self.embed(image_table(["img0.jpg"], origin=self.tmp))
        self.widget.clear_cache()
        self.embed(image_table(["img0.jpg"], origin=self.tmp))
        self.assertNotIn("from the cache", self.widget.info_label.text())
        self.embed(image_table(["img0.jpg"], origin=self.tmp))
        self.assertIn("1 from the cache", self.widget.info_label.text())

    def test_a_damaged_cache_is_reported_and_replaced(self):
        import os
        import tempfile
        from unittest import mock
        folder = tempfile.mkdtemp()
        with mock.patch.dict(os.environ, {"ORANGE_IMAGELAB_CACHE_DIR": folder}):
            with open(os.path.join(folder, "embeddings.sqlite"), "wb") as f:
                f.write(b"not a database" * 500)
            self.embed(image_table(["img0.jpg", "img1.jpg"], origin=self.tmp))
            self.assertTrue(self.widget.Warning.cache.is_shown())
            self.assertIn("moved to", str(self.widget.Warning.cache))
            self.assertEqual(len(self.get_output(self.widget.Outputs.embeddings)), 2)
            self.embed(image_table(["img0.jpg", "img1.jpg"], origin=self.tmp))
            self.assertFalse(self.widget.Warning.cache.is_shown())
            self.assertIn("2 from the cache", self.widget.info_label.text())


class TestEmbeddingOptions(base.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWImageEmbedding,
                                         stored_settings={"method": "efficientnet-lite0"})

    def test_hand_made_options_show_only_for_hand_made_features(self):
        w = self.widget
        w.show()
        self.assertTrue(w.features_box.isHidden())
        height = w.height()
        w.method_combo.setCurrentIndex(w._methods.index(HAND_MADE))
        w.method_combo.activated.emit(w.method_combo.currentIndex())
        self.assertFalse(w.features_box.isHidden())
        w.method_combo.setCurrentIndex(0)
        w.method_combo.activated.emit(0)
        self.assertTrue(w.features_box.isHidden())
        self.process_events(until=lambda: w.height() == height, timeout=3000)
        self.assertEqual(w.height(), height)     # the widget shrinks back
