"""Import Images' boxes: the Boxes output, the extra annotations file, box messages."""
import os
import shutil
import tempfile
from pathlib import Path

from Orange.widgets.tests import base

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimportimages import OWImportImages
from tests.test_box_api import photo_set
from tests.test_boxes import DATA
from tests.images import skimage_sample


class TestImportImagesBoxes(base.WidgetTest):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="imagelab-owimport-boxes-"))
        self.widget = self.create_widget(OWImportImages)

    def tearDown(self):
        self.widget.onDeleteWidget()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def load(self, path):
        self.widget.set_path(str(path))
        self.wait_until_finished()

    def test_box_file_as_source_gives_images_and_boxes(self):
        folder = photo_set(self.tmp, "open images")
        self.load(folder / "boxes.csv")
        w = self.widget
        data = self.get_output(w.Outputs.data)
        boxes = self.get_output(w.Outputs.boxes)
        self.assertEqual(len(data), 4)
        self.assertEqual(len(boxes), 14)
        self.assertTrue(tables.is_boxes_table(boxes))
        self.assertIn("boxes", data.domain)
        self.assertEqual(w.info_label.text(), "4 images, 14 boxes, 0 skipped")
        self.assertFalse(w.Warning.boxes_skipped.is_shown())
        w.send_report()

    def test_folder_without_boxes_sends_none(self):
        folder = self.tmp / "plain"
        folder.mkdir()
        shutil.copy(skimage_sample("coffee.png"), folder)
        self.load(folder)
        self.assertIsNone(self.get_output(self.widget.Outputs.boxes))
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 1)

    def test_extra_annotations_file_and_bad_boxes_are_named(self):
        folder = self.tmp / "photos"
        folder.mkdir()
        for name in ("chelsea.png", "astronaut.png", "coffee.png"):
            shutil.copy(skimage_sample(name), folder)
        w = self.widget
        self.load(folder)
        self.assertIsNone(self.get_output(w.Outputs.boxes))
        w.set_annotations(str(DATA / "coco" / "annotations" / "instances.json"))
        self.wait_until_finished()
        boxes = self.get_output(w.Outputs.boxes)
        self.assertEqual(len(boxes), 11)
        self.assertEqual(w.annotations_label.text(), "instances.json")
        self.assertTrue(w.Warning.boxes_skipped.is_shown())
        self.assertIn("3 of 14 boxes skipped: motorcycle_left.png (3 boxes; no such image",
                      str(w.Warning.boxes_skipped))
        skipped = self.get_output(w.Outputs.skipped)
        self.assertIn("motorcycle_left.png", list(skipped.get_column("path")))
        # kept as a literal relative to the workflow, and removable
        self.assertIsInstance(w.annotations_path, list)
        w.set_annotations(None)
        self.wait_until_finished()
        self.assertIsNone(self.get_output(w.Outputs.boxes))
        self.assertEqual(w.annotations_label.text(), "(annotations in the folder)")

    def test_fixed_boxes_and_unknown_classes_are_information(self):
        folder = photo_set(self.tmp, "open images")
        path = folder / "boxes.csv"
        text = path.read_text().replace("/m/01yrx", "/m/0zzz")
        lines = text.splitlines()
        lines[2] = lines[2].replace("0.299335,0.465632", "0.465632,0.299335")  # swapped
        path.write_text("\n".join(lines) + "\n")
        self.load(path)
        w = self.widget
        self.assertTrue(w.Information.boxes.is_shown())
        text = str(w.Information.boxes)
        self.assertIn("Boxes fixed (1 swapped): chelsea.png box 2", text)
        self.assertIn("kept as labels: /m/0zzz (1)", text)

    def test_an_error_names_a_bad_annotations_option(self):
        folder = photo_set(self.tmp, "coco")
        w = self.widget
        w.set_annotations(str(DATA / "yolo" / "data.yaml"))
        self.load(folder / "annotations" / "instances.json")
        self.assertTrue(w.Error.failed.is_shown())
        self.assertIn("annotations: an extra annotation file goes with a folder",
                      str(w.Error.failed))
        self.assertTrue(os.path.exists(folder))
