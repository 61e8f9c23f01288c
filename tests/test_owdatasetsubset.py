"""The Dataset Subset widget on the bundled Open Images-format sample: the
class list with counts, checked classes, options, tables from File widgets."""
import time

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import QApplication
from Orange.data import Table
from Orange.widgets.tests import base  # not `import WidgetTest`: pytest would collect it

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owdatasetsubset import OWDatasetSubset
from orangecontrib.imagelab.widgets.utils.preview import sample_path

SAMPLE = sample_path("openimages")


class TestOWDatasetSubset(base.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWDatasetSubset)

    def create(self, classes=()):
        self.widget.classes = list(classes)
        return self.widget

    def settle(self, widget, timeout=30):
        """Wait for the class list and the selection (started from a timer)."""
        end = time.monotonic() + timeout
        idle_since = None
        while time.monotonic() < end:
            QApplication.processEvents()
            if widget.task is not None:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 0.3:
                return
            time.sleep(0.01)

    def item(self, widget, name):
        model = widget.class_list.model
        for row in range(model.rowCount()):
            if model.item(row).text().startswith(name + " "):
                return model.item(row)
        raise AssertionError(name)

    def test_loads_lists_counts_and_selects_stored_classes(self):
        widget = self.create(["Dress", "Footwear", "Handbag"])
        widget.set_folder(SAMPLE)
        self.settle(widget)
        self.assertEqual(widget.class_list.model.rowCount(), 13)
        self.assertIn("22 boxes in 22 images", self.item(widget, "Dress").text())
        self.assertIn("none here", self.item(widget, "Bus").text())
        images = self.get_output(widget.Outputs.images, widget=widget)
        boxes = self.get_output(widget.Outputs.boxes, widget=widget)
        self.assertEqual(images.domain.class_var.values, ("Dress", "Footwear", "Handbag"))
        self.assertEqual(len(boxes), 67)
        self.assertTrue(tables.box_coordinates(boxes)[1])  # normalized
        self.assertIn("67 boxes of 3 classes", widget.info_label.text())
        widget.send_report()

    def test_checking_filtering_and_options(self):
        widget = self.create()
        widget.set_folder(SAMPLE)
        self.settle(widget)
        self.assertIsNone(self.get_output(widget.Outputs.images, widget=widget))
        self.assertIn("check the ones", widget.info_label.text())
        widget.class_list.filter_edit.setText("SS")  # Dress, Fashion accessory
        self.assertEqual(widget.class_list.proxy.rowCount(), 2)
        widget.class_list.filter_edit.setText("")
        self.item(widget, "Trousers").setCheckState(Qt.Checked)
        self.item(widget, "Bus").setCheckState(Qt.Checked)
        self.settle(widget)
        self.assertEqual(widget.classes, ["Trousers", "Bus"])
        self.assertTrue(widget.Warning.missing_classes.is_shown())
        self.assertEqual(len(self.get_output(widget.Outputs.boxes, widget=widget)), 22)
        widget.controls.use_cap.setChecked(True)
        widget.controls.max_per_class.setValue(5)
        self.settle(widget)
        self.assertEqual(len(self.get_output(widget.Outputs.images, widget=widget)), 5)
        widget.controls.from_boxes.setChecked(False)
        widget.controls.from_labels.setChecked(False)
        self.settle(widget)
        self.assertTrue(widget.Error.no_kind.is_shown())
        self.assertIsNone(self.get_output(widget.Outputs.images, widget=widget))

    def test_hierarchy_and_unknown_stored_classes(self):
        widget = self.create(["Clothing", "No such class"])
        widget.set_folder(SAMPLE)
        self.settle(widget)
        self.assertTrue(widget.Warning.unknown_classes.is_shown())
        self.assertEqual(widget.classes, ["Clothing"])
        boxes = self.get_output(widget.Outputs.boxes, widget=widget)
        self.assertEqual(len(boxes), 89)  # Dress, Shirt, Trousers, Footwear
        widget.controls.use_hierarchy.setChecked(False)
        self.settle(widget)
        self.assertIsNone(self.get_output(widget.Outputs.boxes, widget=widget))
        self.assertTrue(widget.Warning.missing_classes.is_shown())

    def test_tables_from_file_widgets(self):
        widget = self.create(["Handbag"])
        names = ["class-descriptions-boxable.csv", "train-images-boxable-with-rotation.csv",
                 "train-annotations-bbox.csv"]
        for i, name in enumerate(names):
            self.send_signal(widget.Inputs.metadata, Table.from_file(f"{SAMPLE}/{name}"), i,
                             widget=widget)
        self.settle(widget)
        self.assertTrue(widget.Information.from_tables.is_shown())
        images = self.get_output(widget.Outputs.images, widget=widget)
        self.assertEqual(set(images.get_column("split")), {"train"})
        self.send_signal(widget.Inputs.metadata, Table.from_file(
            f"{SAMPLE}/train-annotations-bbox.csv")[:0], 2, widget=widget)
        self.settle(widget)
        self.assertFalse(widget.Error.load.is_shown())

    def test_a_folder_without_metadata_is_explained(self):
        widget = self.create()
        widget.set_folder(sample_path("photos"))
        self.settle(widget)
        self.assertTrue(widget.Error.load.is_shown())
        self.assertIn("no class descriptions", str(widget.Error.load))
        self.assertIsNone(self.get_output(widget.Outputs.images, widget=widget))
