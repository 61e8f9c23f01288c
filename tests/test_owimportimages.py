"""The Import Images widget (offscreen)."""
import os
import zipfile

from AnyQt.QtCore import QMimeData, QPoint, Qt, QUrl
from AnyQt.QtGui import QDragEnterEvent, QDropEvent

from Orange.widgets.tests import base

from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.widgets.owimportimages import OWImportImages, result_summary
from orangecontrib.imagelab.api.importing import ImportResult
from orangecontrib.imagelab.core.io.sources import SkippedEntry
from tests.images import make_class_folders, make_text_file, make_truncated_jpeg


class TestOWImportImages(base.WidgetTest):
    def setUp(self):
        import tempfile
        self._tmp = tempfile.TemporaryDirectory()
        self.root = os.path.join(self._tmp.name, "pets")
        make_class_folders(self.root, ("cats", "dogs", "mice"), per_class=2)
        self.widget = self.create_widget(OWImportImages)

    def tearDown(self):
        self.widget.onDeleteWidget()
        self._tmp.cleanup()

    def load(self, path, widget=None):
        widget = widget or self.widget
        widget.set_path(path)
        self.wait_until_finished(widget)

    def test_outputs_and_summary(self):
        make_truncated_jpeg(os.path.join(self.root, "cats", "cut.jpg"), size=(200, 200))
        make_text_file(os.path.join(self.root, "dogs", "fake.jpg"))
        self.load(self.root)
        data = self.get_output(self.widget.Outputs.data)
        self.assertEqual(len(data), 6)
        self.assertEqual(data.domain.class_var.values, ("cats", "dogs", "mice"))
        self.assertEqual(data.domain["image"].attributes["origin"], self.root)
        skipped = self.get_output(self.widget.Outputs.skipped)
        self.assertEqual(list(skipped.get_column("path")), ["cats/cut.jpg", "dogs/fake.jpg"])
        self.assertEqual(self.widget.info_label.text(), "6 images, 3 categories, 2 skipped")
        self.assertTrue(self.widget.Warning.skipped.is_shown())
        self.assertIn("2 of 8 files skipped: cats/cut.jpg (truncated JPEG)",
                      self.widget.Warning.skipped.formatted)
        self.widget.send_report()

    def test_zip_and_reload_and_check_full(self):
        archive = os.path.join(self._tmp.name, "pets.zip")
        with zipfile.ZipFile(archive, "w") as zf:
            for folder, _, files in os.walk(self.root):
                for name in files:
                    full = os.path.join(folder, name)
                    zf.write(full, os.path.relpath(full, self.root))
        self.load(archive)
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 6)
        self.assertIsNone(self.get_output(self.widget.Outputs.skipped))
        self.widget.controls.check_full.click()  # reloads with full decoding
        self.wait_until_finished()
        self.assertTrue(self.widget.check_full)
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 6)
        self.assertEqual(self.widget.current_path(), archive)

    def test_recent_paths_and_missing_source(self):
        other = os.path.join(self._tmp.name, "other")
        make_class_folders(other, ("a",), per_class=1)
        self.load(self.root)
        self.load(other)
        self.assertEqual([p[0] for p in self.widget.recent_paths], [other, self.root])
        self.widget.select_recent(1)
        self.wait_until_finished()
        self.assertEqual(self.widget.current_path(), self.root)
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 6)
        self.load(self.root + "-gone")
        self.assertTrue(self.widget.Warning.missing.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.data))

    def test_paths_relative_to_workflow(self):
        self.load(self.root)
        settings = self.widget.settingsHandler.pack_data(self.widget)
        recent = settings["recent_paths"][0]
        self.assertEqual(recent[0], self.root)
        # The workflow (and the images beside it) moved to another folder.
        moved = os.path.join(self._tmp.name, "moved")
        os.rename(self._tmp.name + "/pets", self._tmp.name + "/pets-old")
        make_class_folders(os.path.join(moved, "pets"), ("x", "y"), per_class=1)
        settings["recent_paths"] = [[recent[0], "basedir", "pets", "", "", None]]
        widget = self.create_widget(OWImportImages, stored_settings=settings,
                                    env={"basedir": moved})
        self.wait_until_finished(widget)
        self.assertEqual(widget.current_path(), os.path.join(moved, "pets"))
        self.assertEqual(len(self.get_output(widget.Outputs.data, widget=widget)), 2)
        # a new path inside the workflow's folder is stored relative to it
        widget.set_path(os.path.join(moved, "pets", "x"))
        self.wait_until_finished(widget)
        self.assertEqual(widget.recent_paths[0][1:3], ["basedir", os.path.join("pets", "x")])
        widget.onDeleteWidget()

    def test_errors_are_shown(self):
        bad = os.path.join(self._tmp.name, "broken.zip")
        with open(bad, "wb") as f:
            f.write(b"PK\x03\x04 broken")
        self.load(bad)
        self.assertTrue(self.widget.Error.failed.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.data))
        self.load(self.root)
        self.assertFalse(self.widget.Error.failed.is_shown())

    def test_drag_and_drop(self):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(self.root)])
        enter = QDragEnterEvent(QPoint(1, 1), Qt.CopyAction, mime, Qt.LeftButton,
                                Qt.NoModifier)
        self.widget.dragEnterEvent(enter)
        self.assertTrue(enter.isAccepted())
        drop = QDropEvent(QPoint(1, 1), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        self.widget.dropEvent(drop)
        self.wait_until_finished()
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 6)

    def test_cancel(self):
        make_class_folders(self.root, ("more",), per_class=30)
        self.widget.set_path(self.root)
        self.assertTrue(self.widget.cancel_button.isEnabled())
        self.widget.cancel_import()
        self.assertFalse(self.widget.cancel_button.isEnabled())
        self.assertIsNone(self.get_output(self.widget.Outputs.data))
        self.widget.reload()
        self.wait_until_finished()
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 36)

    def test_empty_folder(self):
        empty = os.path.join(self._tmp.name, "empty")
        os.mkdir(empty)
        self.load(empty)
        self.assertTrue(self.widget.Warning.no_images.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.data))


def test_summaries():
    skipped = [SkippedEntry(f"a/IMG_{i}.jpg", "truncated JPEG") for i in range(4)]
    assert skipped_summary(skipped, 1204) == (
        "4 of 1,204 files skipped: a/IMG_0.jpg (truncated JPEG), "
        "a/IMG_1.jpg (truncated JPEG), a/IMG_2.jpg (truncated JPEG), ...")
    assert result_summary(ImportResult(None, skipped)) == "0 images, 4 skipped"

    def test_annotated_set_outside_its_folder_needs_the_option(self):
        import json
        inner = os.path.join(self._tmp.name, "set")
        os.mkdir(inner)
        path = os.path.join(inner, "set.json")
        with open(path, "w") as f:
            json.dump({"images_file": "../pets", "annotations": []}, f)
        self.load(path)
        self.assertTrue(self.widget.Error.failed.is_shown())
        self.assertIn("outside the annotation file's folder", str(self.widget.Error.failed))
        self.assertIsNone(self.get_output(self.widget.Outputs.data))
        self.widget.controls.allow_outside.click()  # reloads, allowed
        self.wait_until_finished()
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 6)


class TestSkippedInTheWidget(base.WidgetTest):
    """The skipped files are listed by name in the widget, not only in the status bar."""

    def setUp(self):
        self.widget = self.create_widget(OWImportImages)

    def test_skipped_files_are_listed_in_the_info_box(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "pets")
            make_class_folders(root, ("cats", "dogs"), per_class=2)
            for i in range(8):
                make_text_file(os.path.join(root, "dogs", f"fake{i}.jpg"))
            make_truncated_jpeg(os.path.join(root, "dogs", "cut.jpg"), size=(100, 100))
            widget = self.widget
            widget.show()
            widget.set_path(root)
            self.wait_until_finished(widget)
            label = widget.skipped_label
            self.assertTrue(label.isVisible())
            text = label.text()
            self.assertIn("Skipped 9:", text)
            self.assertIn("<b>dogs/cut.jpg</b>: truncated JPEG", text)
            self.assertIn("and 3 more", text)
            self.assertIn("dogs/fake7.jpg", label.toolTip())
            lines = 3 * label.fontMetrics().height()
            self.process_events(until=lambda: label.height() > lines, timeout=5000)
            self.assertGreater(label.height(), lines)       # several lines, not cut off
            widget.set_path(os.path.join(root, "cats"))   # a clean source: no list
            self.wait_until_finished(widget)
            self.assertFalse(widget.skipped_label.isVisible())
            widget.onDeleteWidget()
