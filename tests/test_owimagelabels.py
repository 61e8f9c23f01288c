"""Image Labels widget on real photos shipped with scikit-image."""
from Orange.data import ContinuousVariable, StringVariable
from Orange.widgets.tests import base  # not `import WidgetTest`: pytest would collect it

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimagelabels import OWImageLabels
from tests.images import make_truncated_jpeg, skimage_sample

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]


def photo_table(extra=()):
    paths = [str(skimage_sample(name)) for name in PHOTOS] + [str(p) for p in extra]
    return tables.table_from_columns(
        [(tables.image_variable("image"), paths),
         (StringVariable("name"), [p.rsplit("/", 1)[-1] for p in paths])], name="photos")


class TestOWImageLabels(base.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWImageLabels)
        self.data = photo_table()

    def names(self, output):
        table = self.get_output(output)
        return [] if table is None else list(table.get_column("name"))

    def set_label(self, text):
        self.widget.label_edit.setText(text)
        self.widget.label_edit.editingFinished.emit()
        self.wait_until_finished()

    def test_no_label_labels_all_images(self):
        self.send_signal(self.widget.Inputs.data, self.data)
        self.wait_until_finished()
        labelled = self.get_output(self.widget.Outputs.labelled)
        self.assertEqual(len(labelled), 4)
        self.assertIn("label 1", labelled.domain)
        self.assertIsNone(self.get_output(self.widget.Outputs.matched))
        self.assertIn("Labelled 4 images", self.widget.counts_label.text())

    def test_filter_outputs_partition_and_counts(self):
        self.send_signal(self.widget.Inputs.data, self.data)
        self.set_label("cat")
        self.assertEqual(self.names(self.widget.Outputs.matched), ["chelsea.png"])
        rest = self.names(self.widget.Outputs.review) + self.names(self.widget.Outputs.rejected)
        self.assertEqual(sorted(rest), ["astronaut.png", "coffee.png", "rocket.jpg"])
        self.assertEqual(len(self.get_output(self.widget.Outputs.labelled)), 4)
        self.assertIn("1 matched", self.widget.counts_label.text())
        self.set_label("cup, espresso")
        self.assertEqual(self.names(self.widget.Outputs.matched), ["coffee.png"])
        self.widget.send_report()

    def test_unknown_label_error_and_recovery(self):
        self.send_signal(self.widget.Inputs.data, self.data)
        self.set_label("robbin")
        self.assertTrue(self.widget.Error.unknown_label.is_shown())
        self.assertIn("robin", str(self.widget.Error.unknown_label))
        self.assertIsNone(self.get_output(self.widget.Outputs.labelled))
        self.set_label("bird")
        self.assertFalse(self.widget.Error.unknown_label.is_shown())
        self.assertEqual(self.names(self.widget.Outputs.matched), [])

    def test_cap_and_early_stop_are_reported(self):
        widget = self.widget
        widget.use_cap, widget.max_scanned = True, 2
        self.send_signal(widget.Inputs.data, self.data)
        self.set_label("cat")
        self.assertTrue(widget.Information.stopped.is_shown())
        self.assertIn("cap of 2", str(widget.Information.stopped))
        self.assertIn("Scanned 2 of 4", widget.counts_label.text())
        widget.use_cap, widget.use_stop, widget.stop_after_misses = False, True, 2
        widget.commit.now()
        self.wait_until_finished()
        self.assertIn("2 misses in a row", str(widget.Information.stopped))
        self.assertIn("Scanned 3 of 4", widget.counts_label.text())

    def test_unreadable_warning_names_file(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            broken = make_truncated_jpeg(f"{tmp}/broken.jpg")
            self.send_signal(self.widget.Inputs.data, photo_table([broken]))
            self.set_label("cat")
            self.assertTrue(self.widget.Warning.unreadable.is_shown())
            self.assertIn("broken.jpg (truncated JPEG)", str(self.widget.Warning.unreadable))
            self.assertIn("broken.jpg", self.names(self.widget.Outputs.rejected))

    def test_no_image_column_and_no_data(self):
        numbers = tables.table_from_columns([(ContinuousVariable("x"), [1.0, 2.0])])
        self.send_signal(self.widget.Inputs.data, numbers)
        self.wait_until_finished()
        self.assertTrue(self.widget.Error.no_image_column.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.labelled))
        self.send_signal(self.widget.Inputs.data, None)
        self.wait_until_finished()
        self.assertFalse(self.widget.Error.no_image_column.is_shown())
        self.assertEqual(self.widget.counts_label.text(), "No data.")

    def test_sliders_keep_review_below_match(self):
        self.widget.threshold, self.widget.review_min = 40, 30
        self.widget.threshold = 20
        self.widget._threshold_changed()
        self.assertEqual(self.widget.review_min, 20)


class TestLabelsLayout(base.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWImageLabels)

    def test_error_clears_the_counts_and_the_width_stays(self):
        w = self.widget
        w.show()
        self.process_events()
        width = w.width()
        self.send_signal(w.Inputs.data, photo_table())
        w.label_edit.setText("cat")
        w.label_edit.editingFinished.emit()
        self.wait_until_finished(timeout=60000)
        self.assertIn("1 matched", w.counts_label.text())
        self.process_events()
        self.assertEqual(w.width(), width)
        w.label_edit.setText("robbin, a name no vocabulary has, in a long line of text")
        w.label_edit.editingFinished.emit()
        self.wait_until_finished(timeout=60000)
        self.process_events()
        self.assertTrue(w.Error.unknown_label.is_shown())
        self.assertEqual(w.counts_label.text(), "")     # no stale "Scanned 4 of 4: ..."
        self.assertEqual(w.width(), width)
