"""Save Images: write a table's images into folders named by any categorical
column, never deleting or overwriting anything."""
from typing import Optional

from AnyQt.QtCore import Qt

from Orange.data import DiscreteVariable, Table
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, Setting
from Orange.widgets.utils.itemmodels import DomainModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.saving import FORMATS, SaveReport, save_images
from orangecontrib.imagelab.widgets.utils.contexts import CategoricalContextHandler
from orangecontrib.imagelab.widgets.utils.savefolder import (
    MODE_ITEMS, SaveToFolderWidget, TaskState, progress_callback, value_combo)

FORMAT_ITEMS = (("Same as the source", ""),) + tuple(
    (name.upper(), name) for name in FORMATS)


def run(data: Table, folder: str, by, mode: str, fmt: Optional[str],
        max_size: Optional[int], state: TaskState) -> SaveReport:
    """Save off the GUI thread, reporting percentages; Cancel stops between files."""
    return save_images(data, folder, by=by, mode=mode, format=fmt, max_size=max_size,
                       callback=progress_callback(state))


class OWSaveImages(SaveToFolderWidget):
    name = "Save Images"
    description = "Save images into folders named by a column (class, cluster, " \
                  "prediction…), never overwriting anything."
    icon = "icons/SaveImages.svg"
    priority = 900
    keywords = "save images, export, write, folders, copy, sort, class"

    class Inputs:
        data = Input("Data", Table, default=True)

    # Stores the categorical columns only: an embedding's 1,000 numbers would
    # make each context ~27 KB of the saved workflow (see utils/contexts.py).
    settingsHandler = CategoricalContextHandler()
    settings_version = 2
    by_column: Optional[DiscreteVariable] = ContextSetting(None)
    mode: str = Setting("copy")
    format: str = Setting("")
    scale: bool = Setting(False)
    max_size: int = Setting(1024)

    class Error(SaveToFolderWidget.Error):
        no_image_column = Msg("The data has no image column (a text column with "
                              "type=image); use Import Images.")

    def __init__(self):
        super().__init__()
        self.data: Optional[Table] = None

        box = gui.vBox(self.controlArea, "Folders by")
        self.by_model = DomainModel(
            placeholder="(none: one folder)", valid_types=DiscreteVariable,
            order=(DomainModel.CLASSES, DomainModel.METAS, DomainModel.ATTRIBUTES))
        gui.comboBox(box, self, "by_column", model=self.by_model,
                     callback=self.commit.deferred,
                     tooltip="One subfolder per value; rows without a value go "
                             "to _unlabeled.")

        box = gui.vBox(self.controlArea, "Files")
        value_combo(self, box, "mode", MODE_ITEMS, callback=self._mode_changed)
        self.convert_box = gui.vBox(box)
        fbox = gui.hBox(self.convert_box)
        gui.widgetLabel(fbox, "Format:")
        value_combo(self, fbox, "format", FORMAT_ITEMS, callback=self.commit.deferred)
        gui.spin(self.convert_box, self, "max_size", 16, 16384, step=16,
                 label="Scale down to at most", checked="scale",
                 checkCallback=self.commit.deferred, callback=self.commit.deferred,
                 alignment=Qt.AlignRight, controlWidth=70)
        gui.widgetLabel(box, "Existing files are never replaced: a clash gets\n"
                             "'name (2).jpg', identical files are skipped.")
        self._mode_changed(commit=False)
        self._add_buttons()

    @classmethod
    def migrate_context(cls, context, version):
        if version is None or version < 2:
            CategoricalContextHandler.shrink(context)  # all columns were stored

    def _mode_changed(self, commit=True):
        self.convert_box.setEnabled(self.mode == "convert")
        if commit:
            self.commit.deferred()

    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.Error.no_image_column.clear()
        self.data = data
        self.by_model.set_domain(data.domain if data is not None else None)
        self.by_column = None
        if data is not None:
            if tables.find_image_column(data.domain) is None:
                self.Error.no_image_column()
                self.data = None
            class_var = data.domain.class_var
            if class_var is not None and class_var.is_discrete:
                self.by_column = class_var
            self.openContext(data.domain)
        self.info_label.setText(f"{len(data):,} images to save." if self.data else
                                "No data.")
        self.commit.deferred()

    def _has_input(self) -> bool:
        return self.data is not None

    def _start_task(self):
        convert = self.mode == "convert"
        self.start(run, self.data, self.target_folder(),
                   self.by_column if self.by_column is not None else False,
                   self.mode, (self.format or None) if convert else None,
                   self.max_size if convert and self.scale else None)

    def _set_result(self, result: Optional[SaveReport]):
        pass  # Save Images has no outputs; on_done shows the summary

    def send_report(self):
        by = self.by_column.name if self.by_column is not None else "one folder"
        mode = dict((v, k) for k, v in MODE_ITEMS)[self.mode]
        if self.mode == "convert":
            mode += f", {self.format.upper() or 'same format'}"
            if self.scale:
                mode += f", at most {self.max_size} px"
        self.report_items("Settings", [("Folder", self.folder or "(none)"),
                                       ("Folders by", by), ("Mode", mode)])
        if self.result is not None:
            self._report_save(self.result)


if __name__ == "__main__":  # pragma: no cover
    import os
    import sys
    from orangecontrib.imagelab import import_images
    _folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "sample", "fashion", "labelled")
    WidgetPreview(OWSaveImages).run(import_images(_folder).data)
