"""Crop Boxes widget: crops off the GUI thread, class choice, folder, messages, outputs."""
import os
import shutil
import tempfile
from pathlib import Path

from Orange.widgets.tests import base

from orangecontrib.imagelab import import_images, tables
from orangecontrib.imagelab.widgets.owcropboxes import OWCropBoxes
from tests.test_box_api import photo_set


class TestOWCropBoxes(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="imagelab-owcrop-"))
        cls.result = import_images(photo_set(cls.tmp, "coco") / "annotations" /
                                   "instances.json")
        cls.boxes = cls.result.boxes

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.widget = self.create_widget(OWCropBoxes)

    def crops(self):
        self.wait_until_finished()
        return self.get_output(self.widget.Outputs.crops)

    def test_crops_every_box_into_an_images_table(self):
        w = self.widget
        self.send_signal(w.Inputs.boxes, self.boxes)
        self.assertIn("14 boxes in 4 images, 12 classes", w.boxes_label.text())
        crops = self.crops()
        self.assertEqual(len(crops), 14)
        self.assertTrue(tables.is_image_variable(crops.domain["image"]))
        self.assertEqual(crops.domain.class_var.name, "label")
        self.assertTrue(all(os.path.exists(p) for p in tables.image_locations(crops)))
        self.assertIn("14 crops", w.info_label.text())
        self.assertIsNone(self.get_output(w.Outputs.skipped))
        self.send_signal(w.Inputs.boxes, None)
        self.assertIsNone(self.get_output(w.Outputs.crops))

    def test_only_chosen_classes_and_options(self):
        w = self.widget
        self.send_signal(w.Inputs.boxes, self.boxes)
        self.crops()
        w.all_classes = False
        items = {w.class_list.item(i).text(): w.class_list.item(i)
                 for i in range(w.class_list.count())}
        items["wheel"].setSelected(True)
        items["cat"].setSelected(True)
        self.assertEqual(sorted(w.classes), ["cat", "wheel"])
        w.padding = 10
        w.square = True
        w.commit.now()
        crops = self.crops()
        self.assertEqual(sorted(crops.domain.class_var.str_val(v) for v in crops.Y),
                         ["cat", "wheel", "wheel"])
        wheels = crops.Y == crops.domain.class_var.to_val("wheel")
        self.assertTrue((crops.get_column("width") == crops.get_column("height"))[wheels].all())
        self.assertTrue(w.Information.left_out.is_shown())
        self.assertIn("11 boxes of other classes", str(w.Information.left_out))
        # the choice is kept by name when the same boxes come again
        settings = w.settingsHandler.pack_data(w)
        again = self.create_widget(OWCropBoxes, stored_settings=settings)
        self.send_signal(again.Inputs.boxes, self.boxes, widget=again)
        self.wait_until_finished(again)
        self.assertEqual(len(self.get_output(again.Outputs.crops, widget=again)), 3)

    def test_small_and_missing_boxes_are_named_in_a_warning(self):
        folder = photo_set(self.tmp / "missing", "coco")
        boxes = import_images(folder / "annotations" / "instances.json").boxes
        os.remove(folder / "coffee.png")
        w = self.widget
        w.min_size = 70
        self.send_signal(w.Inputs.boxes, boxes)
        crops = self.crops()
        self.assertTrue(w.Warning.skipped.is_shown())
        text = str(w.Warning.skipped)
        self.assertIn("of 14 boxes skipped", text)
        skipped = self.get_output(w.Outputs.skipped)
        reasons = dict(zip(skipped.get_column("path"), skipped.get_column("reason")))
        self.assertEqual(reasons["coffee.png box 108"], "image unreadable: file not found")
        self.assertEqual(reasons["chelsea.png box 102"], "smaller than 70 px (58×60)")
        self.assertEqual(len(crops) + len(skipped), 14)

    def test_into_a_folder_by_class(self):
        w = self.widget
        target = self.tmp / "out"
        w.to_folder = True
        self.send_signal(w.Inputs.boxes, self.boxes)
        self.crops()
        self.assertTrue(w.Error.no_folder.is_shown())
        self.assertIsNone(self.get_output(w.Outputs.crops))
        w.set_folder(str(target))
        w.commit.now()
        crops = self.crops()
        self.assertFalse(w.Error.no_folder.is_shown())
        self.assertEqual(crops.domain["image"].attributes["origin"], str(target))
        self.assertEqual(len(list(target.rglob("*.png"))), 14)
        self.assertTrue((target / "wheel").is_dir() and (target / "cat").is_dir())

    def test_not_a_boxes_table_is_an_error(self):
        w = self.widget
        self.send_signal(w.Inputs.boxes, self.result.data)
        self.assertTrue(w.Error.not_boxes.is_shown())
        self.assertIsNone(self.get_output(w.Outputs.crops))
        self.send_signal(w.Inputs.boxes, self.boxes)
        self.assertFalse(w.Error.not_boxes.is_shown())

    def test_format_setting_is_a_literal_and_report(self):
        w = self.widget
        w.format_combo.setCurrentIndex(1)
        w.format_combo.activated[int].emit(1)
        self.assertIsInstance(w.format, str)
        self.assertEqual(w.format, "jpeg")
        self.send_signal(w.Inputs.boxes, self.boxes)
        crops = self.crops()
        self.assertTrue(all(p.endswith(".jpg") for p in crops.get_column("image")))
        w.send_report()

    def test_cancel_and_new_input_do_not_wait(self):
        w = self.widget
        self.send_signal(w.Inputs.boxes, self.boxes)
        self.assertTrue(w.cancel_button.isEnabled())
        w.cancel_button.click()
        self.assertFalse(w.cancel_button.isEnabled())
        self.assertEqual(w.info_label.text(), "Cancelled.")
        self.send_signal(w.Inputs.boxes, self.boxes[:3])
        self.assertEqual(len(self.crops()), 3)
