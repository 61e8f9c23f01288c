"""Image Grid: images on a regular grid, similar ones side by side."""
import os
from math import ceil
from typing import List, Optional, Tuple

import numpy as np
import scipy.sparse as sp
from AnyQt.QtCore import QSize, QTimer
from AnyQt.QtGui import QColor
from AnyQt.QtWidgets import QFileDialog

from Orange.data import Table, Variable
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, Setting
from Orange.widgets.utils.itemmodels import DomainModel, VariableListModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.issues import issue_column
from orangecontrib.imagelab.api.layout import (
    GridLayout, grid_layout, pca_map, quick_grid, regrid)
from orangecontrib.imagelab.widgets.utils.contexts import LabelColumnsContextHandler
from orangecontrib.imagelab.widgets.utils.gridextras import (
    ColorLegend, grid_picture, png_data_uri)
from orangecontrib.imagelab.widgets.utils.imagetable import (
    LazyLocations, RowSample, group_tables, selection_key)
from orangecontrib.imagelab.widgets.utils.boxoverlay import BOXES_MESSAGE, BoxesMixin
from orangecontrib.imagelab.widgets.utils.imageviews import ThumbnailGrid, fit_shape
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)
from orangecontrib.imagelab.widgets.utils.thumbnails import size_step
from orangecontrib.imagelab.widgets.utils.thumbnailwidget import ThumbnailViewMixin

#: The view's size before the widget was ever shown (its default size, less controls).
DEFAULT_VIEW = QSize(720, 620)
#: The widest grid image a report gets.
REPORT_WIDTH = 1000


def run(x, columns: Optional[list], shape: Tuple[int, int], n_jobs: int,
        state: TaskState) -> GridLayout:
    """A quick PCA grid first (as a partial result), then the t-SNE grid.

    ``x``: the table's X (dense or sparse); ``columns``: the numeric ones, or
    None for all; ``shape``: (rows, cols) with at least as many cells as rows.
    """
    callback = progress_callback(state)
    if columns is not None:
        x = x[:, columns]
    vectors = np.asarray(x.toarray() if sp.issparse(x) else x, dtype=float)
    state.set_status("Arranging images ...")
    reduced = pca_map(vectors, n_components=min(50, max(2, vectors.shape[1])))
    state.set_partial_result(quick_grid(reduced, shape))
    callback(0.05)
    return grid_layout(reduced, shape=shape, n_jobs=n_jobs,
                       callback=lambda f: callback(0.05 + 0.95 * f))


def run_regrid(layout: GridLayout, shape: Tuple[int, int], state: TaskState) -> GridLayout:
    """The finished layout's map on another grid shape (the t-SNE map is kept)."""
    progress_callback(state)(0.0)
    return regrid(layout, shape)


class OWImageGrid(ThumbnailViewMixin, BoxesMixin, OWWidget, TaskWidgetMixin):
    name = "Image Grid"
    description = "Show images on a grid, similar images side by side."
    icon = "icons/ImageGrid.svg"
    priority = 300
    keywords = "image, grid, similarity, embedding, t-sne, arrange, group"

    class Inputs:
        data = Input("Embeddings", Table, default=True)
        data_subset = Input("Data Subset", Table)
        boxes = Input("Boxes", Table)

    class Outputs:
        selected_data = Output("Selected Images", Table, default=True)
        annotated_data = Output("Images", Table)

    # 2: contexts hold the class and metas only (before: every feature too)
    settings_version = 2
    settingsHandler = LabelColumnsContextHandler()
    image_var: Optional[Variable] = ContextSetting(None)
    label_var: Optional[Variable] = ContextSetting(None)
    color_var: Optional[Variable] = ContextSetting(None)
    cell_size: int = Setting(96, range=(32, 320))
    #: Cells shrink or grow so the whole grid fits the window (else: columns × rows).
    fit_to_window: bool = Setting(True)
    columns: int = Setting(12, range=(1, 10_000))
    rows: int = Setting(9, range=(1, 10_000))
    #: More rows than this: a representative sample of this many is laid out.
    sample_size: int = Setting(10_000, range=(100, 1_000_000))
    # Selection as [[row, group], ...] for the data whose fingerprint is
    # ``selection_key``; restored when that same data arrives again.
    selection: List[List[int]] = Setting([], schema_only=True)
    selection_key: str = Setting("", schema_only=True)
    auto_commit: bool = Setting(True)
    show_boxes: bool = Setting(True)

    class Warning(OWWidget.Warning):
        broken = Msg("{}")
        not_boxes = Msg(BOXES_MESSAGE)

    class Error(OWWidget.Error):
        no_image_column = Msg("The data has no image column: connect Import Images "
                              "or Image Embedding (a text column with type=image).")
        no_features = Msg("The data has no numeric features to arrange the images by: "
                          "connect Image Embedding first.")
        layout_failed = Msg("The layout failed: {}")
        save_failed = Msg("Cannot save the grid image to {}: choose another file or folder.")

    class Information(OWWidget.Information):
        ignored = Msg("{} non-numeric feature(s) are not used for the layout.")
        sampled = Msg("{}")
        more_rows = Msg("{} columns × {} rows hold {:,} images: {} rows are shown.")
        cancelled = Msg("Arrangement stopped: the quick arrangement (principal "
                        "components) is shown.")
        saving = Msg("The grid image is saved when {:,} more thumbnails are loaded.")
        saved = Msg("Grid image saved to {}.")

    @classmethod
    def migrate_context(cls, context, version):
        if version is None or version < 2:
            LabelColumnsContextHandler.shrink(context)

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None   # the rows shown: all, or a sample
        self.sample = RowSample()
        self.subset_ids: Optional[np.ndarray] = None
        self.layout: Optional[GridLayout] = None
        self.quick_layout: Optional[GridLayout] = None
        self.save_path: Optional[str] = None   # a save waiting for thumbnails
        self.guessed_view = False
        self.locations = []
        self.failed = {}

        self.image_model = VariableListModel()
        # Labels and colours come from the class and metas: a thousand embedding
        # features in a combo would be useless and slow to fill.
        order = (DomainModel.CLASSES, DomainModel.Separator, DomainModel.METAS)
        self.label_model = DomainModel(order=order, placeholder="(none)")
        self.color_model = DomainModel(order=order, placeholder="(none)",
                                       valid_types=DomainModel.PRIMITIVE)
        box = gui.vBox(self.controlArea, "Images")
        gui.comboBox(box, self, "image_var", label="Image column:", model=self.image_model,
                     callback=self._on_image_var)
        gui.comboBox(box, self, "label_var", label="Label:", model=self.label_model,
                     callback=self._update_labels)
        gui.comboBox(box, self, "color_var", label="Frame colour:", model=self.color_model,
                     callback=self._update_colors)
        self.legend = ColorLegend(box)
        box.layout().addWidget(self.legend)

        box = gui.vBox(self.controlArea, "Grid")
        gui.checkBox(box, self, "fit_to_window", "Fit to window", callback=self._on_grid_options,
                     tooltip="Size the cells so the whole grid fits; a grid too large for "
                             "the smallest cells scrolls only vertically.")
        row = gui.hBox(box)
        self.columns_spin = gui.spin(row, self, "columns", 1, 10_000, label="Columns:",
                                     callback=self._on_grid_options, controlWidth=60)
        self.rows_spin = gui.spin(row, self, "rows", 1, 10_000, label="Rows:",
                                  callback=self._on_grid_options, controlWidth=60)
        self.size_slider = gui.hSlider(box, self, "cell_size", label="Size:", minValue=32,
                                       maxValue=320, step=8, createLabel=False,
                                       callback=self._on_cell_size)
        gui.spin(box, self, "sample_size", 100, 1_000_000, step=1000, label="Show at most:",
                 callback=lambda: self.set_data(self.sample.data) or self.commit.now(),
                 controlWidth=80, keyboardTracking=False,
                 tooltip="Larger inputs are shown as a representative sample of this "
                         "many images (each class in proportion); the layout time grows "
                         "with it (10,000: about 20 s).")
        gui.button(box, self, "Save Image…", callback=self.save_image, autoDefault=False,
                   tooltip="Save the whole grid (not only the visible part), with the "
                           "colour legend, as a PNG or JPEG image.")
        sel = gui.vBox(self.controlArea, "Selection")
        gui.label(sel, self, "Drag or click to select.\nShift: new group, Ctrl: add,\n"
                             "Alt: remove. Space: preview.")
        gui.button(sel, self, "Clear selection", callback=self._clear_selection)
        self.controlArea.layout().addStretch(1)
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel", autoDefault=False,
                                        callback=self.cancel_layout)
        self.cancel_button.setEnabled(False)
        gui.auto_apply(self.buttonsArea, self, "auto_commit")

        self._add_view(ThumbnailGrid(self.mainArea))
        self._add_box_controls()
        self.view.loader.idle.connect(self._save_when_ready)
        self._refit_timer = QTimer(self, singleShot=True, interval=0,
                                   timeout=self._on_grid_options)
        self._on_grid_options(relayout=False)

    # --- inputs -------------------------------------------------------
    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.cancel()
        self.clear_messages()
        self.data = self.layout = self.quick_layout = self.save_path = None
        self.sample.take(None, 1)
        self.locations, self.failed = [], {}
        self.view.loader.clear()
        domain = data.domain if data is not None else None
        self.image_model.clear()
        for model in (self.label_model, self.color_model):
            model.set_domain(domain)
        self.image_var = self.label_var = self.color_var = None
        if data is not None:
            images = tables.image_column_candidates(domain)
            features = [v for v in domain.attributes if v.is_continuous]
            if not images:
                self.Error.no_image_column()
            elif not features:
                self.Error.no_features()
            else:
                self.data = self.sample.take(data, self.sample_size)
                if self.sample.rows is not None:
                    self.Information.sampled(self.sample.message())
                self.image_model[:] = images
                self.image_var = images[0]
                self.label_var = None
                self.color_var = domain.class_var if domain.class_var and \
                    domain.class_var.is_discrete else None
                if len(features) < len(domain.attributes):
                    self.Information.ignored(len(domain.attributes) - len(features))
                self.openContext(data)
                # Image Issues' output: frame by issue, unless a context chose
                # something other than the default (the class, or none)
                issue = issue_column(domain)
                if issue is not None and self.color_var in (None, domain.class_var):
                    self.color_var = issue
        self._show_items()
        self._restore_selection()
        self._start_layout()

    def _start_layout(self):
        self.cancel_button.setEnabled(False)
        if self.data is None or not len(self.data):
            return
        attributes = self.data.domain.attributes
        columns = [i for i, v in enumerate(attributes) if v.is_continuous]
        if len(columns) == len(attributes):
            columns = None  # all of X: no copy on the GUI thread
        # One openTSNE thread: on the 2-core test machine more threads made
        # it slower (10,000 images: 14.8 s with 1, 24.5 s with 2), and
        # thumbnails decode in parallel meanwhile.
        n_jobs = 1
        self.cancel_button.setEnabled(True)
        self.start(run, self.data.X, columns, self._grid_shape(), n_jobs)

    # --- grid shape ---------------------------------------------------
    def _grid_shape(self) -> Tuple[int, int]:
        """Fit to the view, or the chosen columns with as many rows as needed."""
        n = len(self.data)
        self.Information.more_rows.clear()
        if self.fit_to_window:
            # Before the widget was ever shown, the view's default size; showEvent
            # fits the grid to the real one.
            self.guessed_view = not self.view.isVisible()
            view = DEFAULT_VIEW if self.guessed_view else self.view.maximumViewportSize()
            return fit_shape(n, view.width(), view.height(), labels=self.label_var is not None,
                             scrollbar=self.view.verticalScrollBar().sizeHint().width())
        rows = max(self.rows, ceil(n / self.columns))
        if rows > self.rows:
            self.Information.more_rows(self.columns, self.rows, n, rows)
        return rows, self.columns

    def showEvent(self, event):
        super().showEvent(event)
        if self.guessed_view and self.fit_to_window:
            self.guessed_view = False
            self._refit_timer.start()   # once the view has its size

    def _on_grid_options(self, relayout: bool = True):
        manual = not self.fit_to_window
        for control in (self.columns_spin, self.rows_spin, self.size_slider):
            control.setEnabled(manual)
        self.view.set_fit(self.fit_to_window)
        if not relayout or self.data is None or not len(self.data):
            return
        shape = self._grid_shape()
        if self.layout is not None and shape != self.layout.shape:
            self.cancel_button.setEnabled(True)
            self.start(run_regrid, self.layout, shape)
        elif self.layout is None and self.task is not None:
            self._start_layout()   # the running layout was for another shape

    @Inputs.data_subset
    def set_subset(self, subset: Optional[Table]):
        self.subset_ids = subset.ids if subset is not None else None

    def handleNewSignals(self):
        self._update_faded()
        self.commit.now()

    # --- view ---------------------------------------------------------
    def _show_items(self):
        if self.data is None:
            self.view.set_items([])
            return
        self.locations = LazyLocations(self.data, self.image_var)
        cells, shape = (self.layout.cells, self.layout.shape) if self.layout else (None, None)
        self.view.set_items(self.locations, cells, shape)
        self._update_labels()
        self._update_colors()
        self._update_faded()
        missing = {f"row {i + 1}": "no image location"
                   for i in self.locations.missing()}
        self.failed.update(missing)
        self._update_warning()

    def _on_image_var(self):
        groups = self.view.groups()
        self._show_items()
        self.view.set_groups(groups)

    def _update_labels(self):
        if self.data is None or self.label_var is None:
            self.view.set_labels(None)
        else:
            var = self.label_var
            self.view.set_labels([var.str_val(v) for v in self.data.get_column(var)])

    def _update_colors(self):
        var = self.color_var
        if self.data is None or var is None:
            self.view.set_colors(None)
            self.legend.clear()
            return
        values = self.data.get_column(var)
        if var.is_discrete:
            palette = [QColor(*map(int, rgb)) for rgb in var.colors]
            colors = [None if np.isnan(v) else palette[int(v)] for v in values]
            self.legend.set_discrete(var.name, list(zip(palette, var.values)))
        else:
            palette = var.palette
            finite = values[np.isfinite(values)]
            low, high = (finite.min(), finite.max()) if len(finite) else (0, 1)
            colors = [None if not np.isfinite(v) else
                      palette.value_to_qcolor(v, low, high) for v in values]
            stops = [palette.value_to_qcolor(low + (high - low) * i / 4, low, high)
                     for i in range(5)]
            self.legend.set_continuous(var.name, stops, var.str_val(low), var.str_val(high))
        self.view.set_colors(colors)

    def _update_faded(self):
        if self.data is None or self.subset_ids is None:
            self.view.set_faded(None)
        else:
            self.view.set_faded(~np.isin(self.data.ids, self.subset_ids))


    # --- layout task --------------------------------------------------
    def on_partial_result(self, layout: GridLayout):
        if self.layout is None and self.data is not None:
            self.quick_layout = layout
            self.view.set_cells(layout.cells, layout.shape)

    def on_done(self, layout: GridLayout):
        self.cancel_button.setEnabled(False)
        self.Information.cancelled.clear()
        self.layout = layout
        self.view.set_cells(layout.cells, layout.shape)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        self.Error.layout_failed(error_text(ex))

    def cancel_layout(self):
        """Stop the arrangement at once; the quick one (if any) stays."""
        self.cancel()
        self.cancel_button.setEnabled(False)
        if self.layout is None and self.quick_layout is not None:
            self.layout = self.quick_layout
            self.Information.cancelled()

    # --- selection ----------------------------------------------------
    def _restore_selection(self):
        if self.data is None:
            return
        key = selection_key(self.data)
        groups = np.zeros(len(self.data), dtype=np.int64)
        if key == self.selection_key:
            for row, group in self.selection:
                if 0 <= row < len(groups):
                    groups[row] = group
        else:
            self.selection, self.selection_key = [], key
        self.view.set_groups(groups)

    def _on_selection_changed(self):
        groups = self.view.groups()
        self.selection = [[int(i), int(groups[i])] for i in np.flatnonzero(groups)]
        self.commit.deferred()

    def _clear_selection(self):
        self.view.select([])

    @gui.deferred
    def commit(self):
        if self.data is None:
            self.Outputs.selected_data.send(None)
            self.Outputs.annotated_data.send(None)
            return
        # selections and outputs are of the input's rows, sampled or not
        selected, annotated = group_tables(self.sample.data,
                                           self.sample.full_groups(self.view.groups()),
                                           lazy=True)
        self.Outputs.selected_data.send(selected)
        self.Outputs.annotated_data.send(annotated)

    # --- the grid as an image ------------------------------------------
    def save_image(self):
        start = os.path.join(os.path.expanduser("~"), "image-grid.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save Grid Image", self.save_path or start,
                                              "PNG image (*.png);;JPEG image (*.jpg *.jpeg)")
        if path:
            self.save_image_to(path)

    def save_image_to(self, path: str):
        """Save the whole grid to ``path`` now, or once its thumbnails are loaded."""
        self.Error.save_failed.clear()
        self.Information.saved.clear()
        self.save_path = path
        missing = self.view.not_ready(size_step(self.view.cell_size))
        if missing and self.view.loader.prefetch(missing) or self.view.loader.pending():
            self.Information.saving(len(missing))
        else:
            self._save_when_ready()

    def _save_when_ready(self):
        if self.save_path is None or self.view.loader.pending():
            return
        path, self.save_path = self.save_path, None
        self.Information.saving.clear()
        if grid_picture(self.view.render(), self.legend).save(path):
            self.Information.saved(path)
        else:
            self.Error.save_failed(path)

    # --- report -------------------------------------------------------
    def send_report(self):
        if self.data is None:
            return
        groups = self.view.groups()
        sizes = np.bincount(groups)[1:] if groups.any() else []
        self.report_items((
            ("Images", f"{len(self.sample.data):,}" + (
                f", a sample of {len(self.data):,} shown" if self.sample.rows is not None
                else "")),
            ("Image column", self.image_var),
            ("Label", self.label_var),
            ("Frame colour", self.color_var),
            ("Grid", "{} × {}".format(*self.layout.shape) if self.layout else "not ready"),
            ("Selection", ", ".join(f"G{g + 1}: {s}" for g, s in enumerate(sizes))
             or "none"),
        ))
        # The whole grid, at most REPORT_WIDTH wide, from the thumbnails loaded so far.
        cols = max(1, self.view.shape()[1])
        cell = max(16, min(self.view.cell_size, (REPORT_WIDTH - 6) // cols - 6))
        picture = grid_picture(self.view.render(cell), self.legend)
        self.report_raw(f'<img src="{png_data_uri(picture)}" style="max-width:100%"/>')
        missing = self.view.not_ready(size_step(cell), any_size=True)
        if missing:
            self.view.loader.prefetch(missing)
            self.report_paragraph(f"{len(missing):,} thumbnails were not loaded yet and "
                                  f"are shown grey.")

    @Inputs.boxes
    def set_boxes(self, boxes: Optional[Table]):
        """Object boxes to draw over the images (a boxes table)."""
        self._set_boxes(boxes)

    def onDeleteWidget(self):
        self.shutdown()
        self._shutdown_boxes()
        self._shutdown_view()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_embeddings
    WidgetPreview(OWImageGrid).run(sample_embeddings())
