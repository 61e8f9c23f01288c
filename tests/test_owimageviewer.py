"""Image Viewer widget: lazy thumbnails, 20,000 rows, preview, broken images, selection."""
import tempfile
from pathlib import Path

import numpy as np
from AnyQt.QtCore import Qt
from AnyQt.QtTest import QTest

from Orange.data import Domain
from Orange.widgets.tests import base as widget_tests

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer
from tests.images import make_image
from tests.test_owimagegrid import image_table


class TestOWImageViewer(widget_tests.WidgetTest):
    def setUp(self):
        self._tmpdir = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmpdir.name)
        self.widget = self.create_widget(OWImageViewer)
        self.widget.resize(1000, 700)
        self.widget.show()

    def tearDown(self):
        super().tearDown()
        self._tmpdir.cleanup()

    def wait_thumbnails(self):
        self.widget.view.viewport().repaint()
        self.process_events(until=lambda: self.widget.view.loader.pending() == 0,
                            timeout=10000)
        self.process_events()

    def test_shows_images_and_outputs_selection(self):
        data = image_table(self.tmp, n=10)
        self.send_signal(self.widget.Inputs.data, data)
        self.wait_thumbnails()
        view, loader = self.widget.view, self.widget.view.loader
        assert all(loader.image(loc, view.decode_size()) is not None
                   for loc in self.widget.locations)
        self.assertIsNone(self.get_output(self.widget.Outputs.selected_data))
        view.select([1, 2])
        view.select([5], Qt.ShiftModifier)  # adds: one group in the viewer
        view.select([2], Qt.AltModifier)
        selected = self.get_output(self.widget.Outputs.selected_data)
        self.assertEqual(list(selected.get_column("image")),
                         [data[1]["image"].value, data[5]["image"].value])
        annotated = self.get_output(self.widget.Outputs.data)
        self.assertEqual(len(annotated), 10)
        sel = annotated.domain["Selected"]
        self.assertEqual(list(np.flatnonzero(annotated.get_column(sel) == 1)), [1, 5])

    def test_20000_rows_decode_only_visible_tiles(self):
        # 20,000 rows; only the first 200 files exist, so decoding anything
        # beyond what is on screen would show up as "file not found".
        origin = self.tmp
        for i in range(200):
            make_image(origin / f"{i:05d}.png", size=(32, 32), color=(i, 100, 200))
        names = [f"{i:05d}.png" for i in range(20_000)]
        data = tables.table_from_columns([(tables.image_variable("image", str(origin)), names)])
        self.widget.cell_size = 64
        self.widget._on_cell_size()
        self.send_signal(self.widget.Inputs.data, data)
        self.wait_thumbnails()
        view, loader = self.widget.view, self.widget.view.loader
        visible = view.visible_indices()
        assert 0 < len(visible) < 200
        self.assertEqual(len(loader._cache), len(visible))
        assert not loader._errors and not self.widget.Warning.broken.is_shown()
        # Scroll to the end: those tiles load (and fail), the middle never does.
        view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())
        self.wait_thumbnails()
        bottom = view.visible_indices()
        assert min(bottom) > 19_000
        self.assertEqual(len(loader._errors), len(bottom))
        self.process_events(until=lambda: self.widget.Warning.broken.is_shown())
        assert "of 20,000 images cannot be shown" in str(self.widget.Warning.broken)
        assert "file not found" in view.tooltip(int(bottom[0]))

    def test_preview_on_space_and_double_click(self):
        data = image_table(self.tmp, n=4)
        self.send_signal(self.widget.Inputs.data, data)
        view = self.widget.view
        view.select([2])
        view._current = 2
        view.setFocus()
        QTest.keyClick(view, Qt.Key_Space)
        preview = self.widget.preview
        assert preview is not None and preview.isVisible()
        self.process_events(until=lambda: preview.label.pixmap() is not None
                            and not preview.label.pixmap().isNull())
        self.assertEqual(preview.location, self.widget.locations[2])
        preview.close()
        r, c = view._cells[3]
        QTest.mouseDClick(view.viewport(), Qt.LeftButton, pos=view.cell_rect(r, c).center())
        self.assertEqual(preview.location, self.widget.locations[3])
        assert preview.isVisible()

    def test_broken_images_are_marked_with_reason(self):
        data = image_table(self.tmp, n=6, broken=3)
        self.send_signal(self.widget.Inputs.data, data)
        self.wait_thumbnails()
        self.process_events(until=lambda: "3 of 6" in str(self.widget.Warning.broken))
        assert "truncated JPEG" in self.widget.view.tooltip(3)
        assert "empty file" in self.widget.view.tooltip(4)
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 6)

    def test_empty_missing_column_and_titles(self):
        data = image_table(self.tmp, n=3)
        self.send_signal(self.widget.Inputs.data, data[:0])
        self.assertEqual(len(self.get_output(self.widget.Outputs.data)), 0)
        no_images = data.transform(Domain(data.domain.attributes, data.domain.class_vars))
        self.send_signal(self.widget.Inputs.data, no_images)
        assert self.widget.Error.no_image_column.is_shown()
        self.assertIsNone(self.get_output(self.widget.Outputs.data))
        self.send_signal(self.widget.Inputs.data, data)
        assert not self.widget.Error.active
        self.widget.title_var = data.domain["category"]
        self.widget._update_titles()
        self.assertEqual(self.widget.view._labels[:2], ["c0", "c1"])
        self.widget.send_report()
        self.send_signal(self.widget.Inputs.data, None)
        self.assertIsNone(self.get_output(self.widget.Outputs.data))

    def test_selection_survives_saved_workflow(self):
        data = image_table(self.tmp, n=8)
        self.send_signal(self.widget.Inputs.data, data)
        self.widget.view.select([3, 4])
        settings = self.widget.settingsHandler.pack_data(self.widget)
        restored = self.create_widget(OWImageViewer, stored_settings=settings)
        self.send_signal(restored.Inputs.data, data, widget=restored)
        np.testing.assert_array_equal(np.flatnonzero(restored.view.groups()), [3, 4])
        self.assertEqual(len(self.get_output(restored.Outputs.selected_data,
                                             widget=restored)), 2)
