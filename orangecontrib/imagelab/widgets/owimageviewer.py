"""Image Viewer: any table of images as thumbnails, fast even with 20,000 rows."""
from typing import List, Optional

import numpy as np

from Orange.data import Table, Variable
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, DomainContextHandler, Setting
from Orange.widgets.utils.annotated_data import lazy_annotated_table
from Orange.widgets.utils.itemmodels import DomainModel, VariableListModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.utils.imagetable import (
    LazyLocations, selection_key, skipped_message)
from orangecontrib.imagelab.widgets.utils.boxoverlay import BOXES_MESSAGE, BoxesMixin
from orangecontrib.imagelab.widgets.utils.imageviews import ThumbnailGrid
from orangecontrib.imagelab.widgets.utils.settings import SettingsCheckMixin
from orangecontrib.imagelab.widgets.utils.thumbnailwidget import ThumbnailViewMixin


class OWImageViewer(ThumbnailViewMixin, BoxesMixin, OWWidget, SettingsCheckMixin):
    name = "Image Viewer"
    description = "Show the images of a table as thumbnails; preview one at full size."
    icon = "icons/ImageViewer.svg"
    priority = 310
    keywords = "image, viewer, thumbnails, gallery, preview"

    class Inputs:
        data = Input("Data", Table, default=True)
        boxes = Input("Boxes", Table)

    class Outputs:
        selected_data = Output("Selected Images", Table, default=True)
        data = Output("Data", Table)

    settings_version = 1
    settingsHandler = DomainContextHandler()
    image_var: Optional[Variable] = ContextSetting(None)
    title_var: Optional[Variable] = ContextSetting(None)
    cell_size: int = Setting(128, range=(32, 512))
    # Selected row indices of the data whose fingerprint is ``selection_key``.
    selection: List[int] = Setting([], schema_only=True)
    selection_key: str = Setting("", schema_only=True)
    auto_commit: bool = Setting(True)
    show_boxes: bool = Setting(True)

    class Warning(OWWidget.Warning):
        broken = Msg("{}")
        not_boxes = Msg(BOXES_MESSAGE)

    class Error(OWWidget.Error):
        no_image_column = Msg("The data has no text column with image locations: "
                              "connect Import Images (or mark a column type=image).")

    # No heavy computation runs here: thumbnails are decoded by the view's
    # background loader, only for the tiles on screen.
    def __init__(self):
        OWWidget.__init__(self)
        SettingsCheckMixin.__init__(self)
        self.data: Optional[Table] = None
        self.locations = []
        self.failed = {}
        self.image_model = VariableListModel()
        order = (DomainModel.CLASSES, DomainModel.Separator, DomainModel.METAS,
                 DomainModel.Separator, DomainModel.ATTRIBUTES)
        self.title_model = DomainModel(order=order, placeholder="(none)")
        box = gui.vBox(self.controlArea, "Images")
        gui.comboBox(box, self, "image_var", label="Image column:", model=self.image_model,
                     callback=self._show_items)
        gui.comboBox(box, self, "title_var", label="Title:", model=self.title_model,
                     callback=self._update_titles)
        gui.hSlider(box, self, "cell_size", label="Size:", minValue=32, maxValue=512,
                    step=8, createLabel=False, callback=self._on_cell_size)
        gui.label(self.controlArea, self, "Space or double-click: full size.\n"
                                          "Shift/Ctrl: add, Alt: remove.")
        self.controlArea.layout().addStretch(1)
        gui.auto_apply(self.buttonsArea, self, "auto_commit")

        self._add_view(ThumbnailGrid(self.mainArea, flow=True, multi_group=False))
        self._add_box_controls()

    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.clear_messages()
        self.data = None
        self.view.loader.clear()
        self.image_model.clear()
        self.title_model.set_domain(data.domain if data is not None else None)
        self.image_var = self.title_var = None
        if data is not None:
            candidates = tables.image_column_candidates(data.domain)
            if not candidates:
                self.Error.no_image_column()
            else:
                self.data = data
                self.image_model[:] = candidates
                self.image_var = candidates[0]
                names = [var for var in self.title_model if isinstance(var, Variable)
                         and var.name in ("image name", "name", "title")]
                self.title_var = names[0] if names else None
                self.openContext(data)
        self._show_items()
        self._restore_selection()
        self.commit.now()

    def _show_items(self):
        self.failed = {}
        groups = self.view.groups() if self.data is not None and \
            self.view.count() == len(self.data) else None
        if self.data is None:
            self.locations = []
            self.view.set_items([])
            self._update_warning()
            return
        self.locations = LazyLocations(self.data, self.image_var)
        self.view.set_items(self.locations)
        if groups is not None:
            self.view.set_groups(groups)
        self._update_titles()
        self.failed.update({f"row {i + 1}": "no image location"
                            for i in self.locations.missing()})
        self._update_warning()

    def _update_titles(self):
        var = self.title_var
        if self.data is None or var is None:
            self.view.set_labels(None)
        else:
            self.view.set_labels([var.str_val(v) for v in self.data.get_column(var)])


    def _restore_selection(self):
        if self.data is None:
            return
        key = selection_key(self.data)
        groups = np.zeros(len(self.data), dtype=np.int64)
        if key == self.selection_key:
            rows = [row for row in self.selection if 0 <= row < len(groups)]
            groups[rows] = 1
        else:
            self.selection, self.selection_key = [], key
        self.view.set_groups(groups)

    def _on_selection_changed(self):
        self.selection = [int(i) for i in np.flatnonzero(self.view.groups())]
        self.commit.deferred()

    @gui.deferred
    def commit(self):
        if self.data is None:
            self.Outputs.selected_data.send(None)
            self.Outputs.data.send(None)
            return
        rows = np.flatnonzero(self.view.groups())
        self.Outputs.selected_data.send(self.data[rows] if len(rows) else None)
        # built only if a connected widget asks (100,000 rows: a tenth of a second)
        self.Outputs.data.send(lazy_annotated_table(self.data, rows))

    def send_report(self):
        if self.data is None:
            return
        self.report_items((
            ("Images", f"{len(self.data):,}"),
            ("Image column", self.image_var),
            ("Title", self.title_var),
            ("Selected", f"{len(self.selection):,}"),
        ))
        if self.failed:
            self.report_paragraph(skipped_message(self.failed, len(self.data)))

    @Inputs.boxes
    def set_boxes(self, boxes: Optional[Table]):
        """Object boxes to draw over the images (a boxes table)."""
        self._set_boxes(boxes)

    def onDeleteWidget(self):
        self._shutdown_boxes()
        self._shutdown_view()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_images
    WidgetPreview(OWImageViewer).run(sample_images("fashion/labelled"))
