"""Image Grid for a new user: it fits the window, has rows/columns, Save Image, a legend
for the frame colours, a report image of the whole grid, Cancel, and small contexts."""
import base64
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from AnyQt.QtGui import QImage
from AnyQt.QtWidgets import QApplication

from Orange.data import Table
from Orange.widgets.settings import Context
from Orange.widgets.tests import base as widget_tests

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid
from orangecontrib.imagelab.widgets.utils.imageviews import ThumbnailGrid, fit_shape
from tests.test_owimagegrid import PALETTE, image_table


def vectors_table(root: Path, n: int, dims: int = 20, seed: int = 0) -> Table:
    """n rows of random vectors whose image files do not exist (crossed tiles)."""
    rng = np.random.default_rng(seed)
    return tables.table_from_columns(
        [(tables.image_variable("image", str(root)), [f"x{i}.jpg" for i in range(n)])]
        + tables.continuous_columns([f"f{j}" for j in range(dims)],
                                    rng.normal(size=(n, dims))), name="vectors")


def scrollbars(view):
    return view.horizontalScrollBar().maximum() > 0, view.verticalScrollBar().maximum() > 0


class TestGridControls(widget_tests.WidgetTest):
    def setUp(self):
        self._tmpdir = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmpdir.name)
        self.widget = self.create_widget(OWImageGrid)

    def tearDown(self):
        super().tearDown()
        self._tmpdir.cleanup()

    def send(self, data, widget=None):
        widget = widget or self.widget
        self.send_signal(widget.Inputs.data, data, widget=widget)
        self.wait_until_finished(widget, timeout=60000)

    def show_at_default_size(self, widget):
        widget.resize(widget.sizeHint())
        widget.show()
        QApplication.processEvents()

    def test_whole_grid_fits_the_window_at_its_default_size(self):
        w = self.widget
        self.show_at_default_size(w)
        self.send(image_table(self.tmp, n=200, dims=4))
        QApplication.processEvents()
        self.assertTrue(w.fit_to_window)
        self.assertEqual(scrollbars(w.view), (False, False))
        rows, cols = w.layout.shape
        pitch = w.view.pitch()
        viewport = w.view.viewport().size()
        self.assertLessEqual(cols * pitch.width(), viewport.width())
        self.assertLessEqual(rows * pitch.height(), viewport.height())
        w.resize(w.width() + 300, w.height() + 200)     # cells grow with the window
        size = w.view.cell_size
        QApplication.processEvents()
        self.assertGreaterEqual(w.view.cell_size, size)
        self.assertEqual(scrollbars(w.view), (False, False))

    def test_a_grid_too_large_to_fit_scrolls_only_vertically(self):
        view = ThumbnailGrid()
        view.resize(700, 500)
        view.show()
        n = 5000
        shape = fit_shape(n, view.maximumViewportSize().width(),
                          view.maximumViewportSize().height(),
                          scrollbar=view.verticalScrollBar().sizeHint().width())
        cells = np.column_stack([np.arange(n) // shape[1], np.arange(n) % shape[1]])
        view.set_items([None] * n, cells, shape)
        view.set_fit(True)
        QApplication.processEvents()
        self.assertEqual(scrollbars(view), (False, True))
        view.loader.shutdown()
        view.deleteLater()

    def test_columns_and_rows(self):
        w = self.widget
        data = image_table(self.tmp, n=12, dims=4)
        w.fit_to_window = False
        w.columns, w.rows = 5, 2
        w._on_grid_options()
        self.send(data)
        self.assertEqual(w.layout.shape, (3, 5))        # 2 rows cannot hold 12 images
        self.assertTrue(w.Information.more_rows.is_shown())
        w.columns = 4
        w._on_grid_options()                            # the map is snapped again
        self.wait_until_finished(timeout=30000)
        self.assertEqual(w.layout.shape, (3, 4))
        self.assertEqual(len({tuple(c) for c in w.layout.cells}), 12)

    def test_save_image_holds_the_whole_grid_and_the_legend(self):
        w = self.widget
        w.fit_to_window, w.cell_size = False, 96
        w._on_grid_options()
        w._on_cell_size()
        data = image_table(self.tmp, n=12, dims=4)
        self.send(data)
        w.view.resize(150, 120)           # most cells are off screen
        w.show()
        QApplication.processEvents()
        path = self.tmp / "grid.png"
        w.save_image_to(str(path))
        end = time.monotonic() + 20
        while not path.exists() and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.01)
        self.assertTrue(w.Information.saved.is_shown())
        image = QImage(str(path))
        rows, cols = w.layout.shape
        pitch = w.view.pitch()
        self.assertEqual(image.width(), cols * pitch.width() + w.view.SPACING)
        self.assertGreater(image.height(), rows * pitch.height() + w.view.SPACING)  # legend
        labels = np.arange(12) % 3
        for index, (row, col) in enumerate(w.layout.cells):
            x = w.view.SPACING + col * pitch.width() + 48
            y = w.view.SPACING + row * pitch.height() + 48
            pixel = image.pixelColor(x, y)
            expected = PALETTE[labels[index]]
            self.assertLess(np.abs(np.subtract(pixel.getRgb()[:3], expected)).max(), 60,
                            f"cell of image {index}: {pixel.getRgb()} != {expected}")

    def test_legend_for_frame_colours(self):
        w = self.widget
        data = image_table(self.tmp, n=6, dims=4)
        brightness = tables.continuous_columns(["brightness"], np.arange(6.0)[:, None])
        data = tables.append_columns(data, metas=brightness)
        self.send(data)
        self.assertIs(w.color_var, data.domain.class_var)
        self.assertFalse(w.legend.isHidden())
        self.assertEqual([text for _, text in w.legend.items], ["c0", "c1", "c2"])
        w.color_var = data.domain["brightness"]
        w._update_colors()
        self.assertIsNotNone(w.legend.gradient)
        w.color_var = None
        w._update_colors()
        self.assertTrue(w.legend.isHidden())

    def test_report_shows_the_whole_grid(self):
        w = self.widget
        w.fit_to_window, w.cell_size = False, 96
        w._on_grid_options()
        w._on_cell_size()
        self.send(image_table(self.tmp, n=30, dims=4))
        w.view.resize(200, 150)
        w.create_report_html()
        data = re.search(r'src="data:image/png;base64,([^"]+)"', w.report_html).group(1)
        image = QImage.fromData(base64.b64decode(data), "PNG")
        cols = w.layout.shape[1]
        self.assertGreaterEqual(image.width(), cols * 22)           # every column
        self.assertGreater(image.width(), w.view.viewport().width())

    def test_cancel_keeps_the_quick_arrangement(self):
        w = self.widget
        self.send_signal(w.Inputs.data, vectors_table(self.tmp, 2000))
        end = time.monotonic() + 30
        while w.quick_layout is None and w.task is not None and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.005)
        self.assertIsNotNone(w.task, "the layout finished before Cancel could be tried")
        self.assertTrue(w.cancel_button.isEnabled())
        start = time.monotonic()
        w.cancel_layout()
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertIsNone(w.task)
        self.assertIs(w.layout, w.quick_layout)
        self.assertTrue(w.Information.cancelled.is_shown())
        self.assertFalse(w.cancel_button.isEnabled())

    def test_contexts_store_the_columns_it_uses_only(self):
        w = self.widget
        data = image_table(self.tmp, n=8, dims=1000)
        self.send(data)
        w.color_var = None
        w.label_var = data.domain["image"]
        settings = w.settingsHandler.pack_data(w)
        self.assertLess(len(repr(settings)), 2000)      # 27 KB with every feature
        restored = self.create_widget(OWImageGrid, stored_settings=settings)
        self.send(data, widget=restored)
        self.assertIs(restored.label_var, data.domain["image"])
        self.assertIsNone(restored.color_var)

    def test_old_contexts_shrink(self):
        features = {f"f{i}": 2 for i in range(1000)}
        context = Context(attributes={**features, "category": 1},
                          metas={"image": 3}, values={})
        OWImageGrid.migrate_context(context, 1)
        self.assertEqual(context.attributes, {"category": 1})
        self.assertEqual(context.metas, {"image": 3})


class TestGridShownLater(widget_tests.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWImageGrid)

    def test_a_grid_laid_out_while_hidden_fits_when_shown(self):
        with tempfile.TemporaryDirectory() as tmp:
            w = self.widget
            self.send_signal(w.Inputs.data, image_table(Path(tmp), n=60, dims=4))
            self.wait_until_finished(timeout=60000)
            w.resize(1400, 500)                   # far from the guessed size
            w.show()
            self.process_events(until=lambda: w.task is None and w.layout is not None and
                                w.layout.shape[1] > w.layout.shape[0], timeout=30000)
            self.wait_until_finished(timeout=30000)
            rows, cols = w.layout.shape
            self.assertGreater(cols, rows)        # a wide window, a wide grid
            self.assertEqual(scrollbars(w.view), (False, False))
