"""Boxes drawn over thumbnails: orientation, display fractions, Image Viewer and Image Grid."""
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from AnyQt.QtCore import QRect
from AnyQt.QtGui import QColor, QImage, QPainter
from AnyQt.QtWidgets import QApplication
from PIL import Image

from Orange.widgets.tests import base

from orangecontrib.imagelab import import_images
from orangecontrib.imagelab.api.boxes import boxes_for_display
from orangecontrib.imagelab.core.io.boxes import displayed_fractions
from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid
from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer
from tests.test_box_api import photo_set

# Pillow's transposes for EXIF orientations (what every decode here applies).
TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
             4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
             6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_displayed_fractions_turn_with_the_photo(orientation):
    stored = np.zeros((40, 60), dtype=np.uint8)
    stored[5:15, 10:40] = 255                   # x 10..40, y 5..15 of 60×40
    image = Image.fromarray(stored)
    if orientation in TRANSPOSE:
        image = image.transpose(TRANSPOSE[orientation])
    shown = np.asarray(image)
    ys, xs = np.nonzero(shown)
    h, w = shown.shape
    expected = [xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h]
    got = displayed_fractions([[10 / 60, 5 / 40, 40 / 60, 15 / 40]], orientation)[0]
    np.testing.assert_allclose(got, expected)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = photo_set(tmp_path_factory.mktemp("overlay"), "coco")
    return import_images(folder / "annotations" / "instances.json")


def test_boxes_for_display_are_fractions_per_image(photos):
    display = boxes_for_display(photos.boxes)
    assert display.n_boxes() == 14 and display.missing == 0
    chelsea = next(loc for loc in display.by_location if loc.endswith("chelsea.png"))
    cat = display.by_location[chelsea][0]
    np.testing.assert_allclose(cat[:4], [20 / 451, 0, 430 / 451, 1])
    assert display.classes[int(cat[4])] == "cat"


def wait_for(condition, timeout=20.0):
    start = time.time()
    while not condition() and time.time() - start < timeout:
        QApplication.processEvents()
        time.sleep(0.01)
    return condition()


class TestBoxesInViewers(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="imagelab-overlay-"))
        cls.result = import_images(photo_set(cls.tmp, "coco") / "annotations" /
                                   "instances.json")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.widget = self.create_widget(OWImageViewer)

    def test_viewer_draws_boxes_in_class_colours_with_a_legend(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.result.data)
        self.assertFalse(w.boxes_box.isVisibleTo(w))
        self.send_signal(w.Inputs.boxes, self.result.boxes)
        self.assertTrue(w.boxes_box.isVisibleTo(w))
        overlay = w.box_overlay
        self.assertTrue(wait_for(lambda: overlay.display is not None))
        self.assertIs(w.view.overlay, overlay)
        names = [w.box_legend.layout().itemAt(i).widget().text()
                 for i in range(w.box_legend.layout().count())
                 if w.box_legend.layout().itemAt(i).widget().text()]
        self.assertIn("cat", names)
        self.assertIn("14 boxes", names[-1])
        # painting: the cat's box edge in its class colour, scaled to the tile
        location = next(loc for loc in overlay.display.by_location if loc.endswith("chelsea.png"))
        canvas = QImage(451, 300, QImage.Format_RGB32)
        canvas.fill(QColor("white"))
        painter = QPainter(canvas)
        overlay.paint(painter, QRect(0, 0, 451, 300), location)
        painter.end()
        cat = overlay.color(self.result.boxes.domain.class_var.to_val("cat"))
        self.assertEqual(canvas.pixelColor(20, 150).rgb(), cat.rgb())
        self.assertEqual(canvas.pixelColor(5, 150), QColor("white"))
        # the toggle hides them
        w.controls.show_boxes.setChecked(False)
        self.assertIsNone(overlay.boxes_for(location))
        w.controls.show_boxes.setChecked(True)
        self.assertIsNotNone(overlay.boxes_for(location))
        # the preview draws them full size, with the labels
        image = QImage(451, 300, QImage.Format_RGB32)
        image.fill(QColor("white"))
        drawn = overlay.draw_on(image, location)
        self.assertEqual(drawn.pixelColor(20, 150).rgb(), cat.rgb())
        self.assertEqual(image.pixelColor(20, 150), QColor("white"))  # the input is kept
        w.send_report()
        self.send_signal(w.Inputs.boxes, None)
        self.assertFalse(w.boxes_box.isVisibleTo(w))
        self.assertIsNone(overlay.boxes_for(location))

    def test_viewer_preview_gets_the_overlay(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.result.data)
        self.send_signal(w.Inputs.boxes, self.result.boxes)
        w._preview(0)
        self.assertIs(w.preview.overlay, w.box_overlay)
        w.preview.close()

    def test_grid_takes_boxes_and_a_wrong_table_is_a_warning(self):
        w = self.create_widget(OWImageGrid)
        self.send_signal(w.Inputs.boxes, self.result.data)
        self.assertTrue(w.Warning.not_boxes.is_shown())
        self.send_signal(w.Inputs.boxes, self.result.boxes)
        self.assertFalse(w.Warning.not_boxes.is_shown())
        self.assertTrue(wait_for(lambda: w.box_overlay.display is not None))
        self.assertEqual(w.box_overlay.display.n_boxes(), 14)

    def test_boxes_of_missing_images_are_counted_not_drawn(self):
        folder = photo_set(self.tmp / "missing", "coco")
        result = import_images(folder / "annotations" / "instances.json")
        (folder / "coffee.png").unlink()
        w = self.widget
        self.send_signal(w.Inputs.boxes, result.boxes)
        self.assertTrue(wait_for(lambda: w.box_overlay.display is not None))
        self.assertEqual(w.box_overlay.display.missing, 3)
        self.assertEqual(w.box_overlay.display.n_boxes(), 11)
