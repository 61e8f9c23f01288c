"""Crop Boxes: cut every object box (or only some classes) into an image of its
own, so the crops go on like any images: into Image Embedding and a learner,
Image Labels, or Save Images as one folder per class."""
import os
from typing import List, Optional

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import (
    QAbstractItemView, QComboBox, QFileDialog, QListWidget, QListWidgetItem)

from Orange.data import Table
from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.utils.signals import Input, Output
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Msg, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.api.boxes import CropResult, crop_boxes
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

FORMATS = (("PNG (lossless)", "png"), ("JPEG", "jpeg"))


def run(boxes: Table, options: dict, state: TaskState) -> CropResult:
    """Crop in a worker thread; Cancel stops between images."""
    return crop_boxes(boxes, callback=progress_callback(state), **options)


def summary(result: CropResult) -> str:
    """ "14 crops (3 from the cache); 2 boxes skipped" """
    n = 0 if result.data is None else len(result.data)
    text = f"{n:,} crop{'s' * (n != 1)}"
    if result.cached:
        text += f" ({result.cached:,} already made)"
    if result.skipped:
        text += f"; {len(result.skipped):,} skipped"
    return text


class OWCropBoxes(OWWidget, TaskWidgetMixin):
    name = "Crop Boxes"
    description = "Cut object boxes into images of their own, labelled by the box's class."
    icon = "icons/CropBoxes.svg"
    priority = 15
    keywords = "crop boxes, objects, detection, bounding box, cut, regions, open images"

    class Inputs:
        boxes = Input("Boxes", Table)

    class Outputs:
        crops = Output("Crops", Table, default=True)
        skipped = Output("Skipped Boxes", Table)

    settings_version = 1
    all_classes: bool = Setting(True)
    classes: List[str] = Setting([])
    padding: int = Setting(0, range=(0, 200))     # percent of the box's size on each side
    square: bool = Setting(False)
    min_size: int = Setting(8, range=(0, 10_000))
    limit_per_image: bool = Setting(False)
    max_per_image: int = Setting(5, range=(1, 100_000))
    format: str = Setting("png", choices=tuple(value for _, value in FORMATS))
    scale: bool = Setting(False)
    max_side: int = Setting(512, range=(16, 16384))
    to_folder: bool = Setting(False)
    folder: str = Setting("")
    auto_apply: bool = Setting(True)

    want_main_area = False
    resizing_enabled = False

    class Warning(OWWidget.Warning):
        skipped = Msg("{}")
        missing_classes = Msg("Classes not in the boxes: {}.")

    class Information(OWWidget.Information):
        left_out = Msg("{}")

    class Error(OWWidget.Error):
        not_boxes = Msg("The input is not a boxes table (it needs 'x min', 'y min', "
                        "'x max', 'y max' and an image column): connect Import Images' "
                        "Boxes output.")
        no_folder = Msg("Choose a folder for the crops, or keep them in the cache.")
        failed = Msg("{}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.boxes: Optional[Table] = None
        self.result: Optional[CropResult] = None

        box = gui.vBox(self.controlArea, "Classes")
        gui.checkBox(box, self, "all_classes", "All classes", callback=self._classes_changed)
        self.class_list = QListWidget(selectionMode=QAbstractItemView.ExtendedSelection)
        self.class_list.setMaximumHeight(140)
        self.class_list.itemSelectionChanged.connect(self._selection_changed)
        box.layout().addWidget(self.class_list)

        box = gui.vBox(self.controlArea, "Crops")
        gui.spin(box, self, "padding", 0, 200, step=5, label="Padding (% of the box):",
                 callback=self.commit.deferred, controlWidth=60, alignment=Qt.AlignRight)
        gui.checkBox(box, self, "square", "Square crops", callback=self.commit.deferred,
                     tooltip="Grow the shorter side to the longer one, around the box.")
        gui.spin(box, self, "min_size", 0, 10_000, label="Skip boxes smaller than (px):",
                 callback=self.commit.deferred, controlWidth=60, alignment=Qt.AlignRight)
        gui.spin(box, self, "max_per_image", 1, 100_000, label="At most per image:",
                 checked="limit_per_image", checkCallback=self.commit.deferred,
                 callback=self.commit.deferred, controlWidth=60, alignment=Qt.AlignRight,
                 tooltip="Keep the largest boxes of each image.")
        gui.spin(box, self, "max_side", 16, 16384, step=16, label="Scale down to at most (px):",
                 checked="scale", checkCallback=self.commit.deferred,
                 callback=self.commit.deferred, controlWidth=60, alignment=Qt.AlignRight)
        row = gui.hBox(box)
        gui.widgetLabel(row, "Format:")
        self.format_combo = QComboBox()
        for label, value in FORMATS:
            self.format_combo.addItem(label, value)
        values = [value for _, value in FORMATS]
        if self.format not in values:
            self.format = values[0]
        self.format_combo.setCurrentIndex(values.index(self.format))
        self.format_combo.activated[int].connect(self._format_changed)
        row.layout().addWidget(self.format_combo)

        box = gui.vBox(self.controlArea, "Files")
        gui.checkBox(box, self, "to_folder", "Write into a folder (one sub-folder per class)",
                     callback=self.commit.deferred,
                     tooltip="Off: crops are kept in Image Lab's cache and reused.\n"
                             "On: copied into the folder; nothing is ever overwritten.")
        row = gui.hBox(box)
        self.folder_label = gui.widgetLabel(row, "")
        gui.button(row, self, "Folder…", callback=self.choose_folder, autoDefault=False)
        self._update_folder_label()

        box = gui.vBox(self.controlArea, "Info")
        self.boxes_label = gui.widgetLabel(box, "No boxes.")
        self.info_label = gui.widgetLabel(box, "")
        self.info_label.setWordWrap(True)
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_cropping, autoDefault=False)
        self.cancel_button.setEnabled(False)
        gui.auto_apply(self.buttonsArea, self)

    # -- controls ----------------------------------------------------------
    def _format_changed(self, index: int):
        self.format = FORMATS[index][1]
        self.commit.deferred()

    def _classes_changed(self):
        self.class_list.setEnabled(not self.all_classes)
        self.commit.deferred()

    def _selection_changed(self):
        self.classes = [item.text() for item in self.class_list.selectedItems()]
        if not self.all_classes:
            self.commit.deferred()

    def _update_folder_label(self):
        self.folder_label.setText(self.folder or "(no folder chosen)")
        self.folder_label.setToolTip(self.folder)

    def choose_folder(self):
        start = self.folder or os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, "Crop Boxes: Folder", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str):
        self.folder = folder
        self.to_folder = True
        self._update_folder_label()
        self.commit.deferred()

    # -- data --------------------------------------------------------------
    @Inputs.boxes
    def set_boxes(self, boxes: Optional[Table]):
        self.cancel()
        self.Error.not_boxes.clear()
        self.boxes = boxes
        if boxes is not None and not tables.is_boxes_table(boxes):
            self.Error.not_boxes()
            self.boxes = None
        self._fill_classes()
        self.commit.now()

    def _class_names(self) -> List[str]:
        if self.boxes is None:
            return []
        var = self.boxes.domain[tables.BOX_LABEL] if tables.BOX_LABEL in self.boxes.domain \
            else self.boxes.domain.class_var
        return list(var.values) if var is not None and var.is_discrete else []

    def _fill_classes(self):
        wanted = set(self.classes)
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for name in self._class_names():
            item = QListWidgetItem(name)
            self.class_list.addItem(item)
            item.setSelected(name in wanted)
        self.class_list.blockSignals(False)
        self.class_list.setEnabled(not self.all_classes)
        if self.boxes is None:
            self.boxes_label.setText("No boxes.")
            return
        column = tables.find_image_column(self.boxes.domain)
        n_images = len(set(self.boxes.get_column(column)))
        self.boxes_label.setText(f"{len(self.boxes):,} boxes in {n_images:,} images, "
                                 f"{len(self._class_names()):,} classes.")

    def _options(self) -> dict:
        known = set(self._class_names())
        classes = None
        if not self.all_classes:
            classes = [name for name in self.classes if name in known]
        return dict(padding=self.padding / 100, square=self.square, min_size=self.min_size,
                    classes=classes,
                    max_per_image=self.max_per_image if self.limit_per_image else None,
                    format=self.format, max_side=self.max_side if self.scale else None,
                    folder=self.folder if self.to_folder else None)

    @gui.deferred
    def commit(self):
        self.cancel()
        self.Warning.clear()
        self.Information.clear()
        self.Error.no_folder.clear()
        self.Error.failed.clear()
        self.result = None
        if self.boxes is None:
            self.info_label.setText("")
            self._send(None)
            return
        if self.to_folder and not self.folder:
            self.Error.no_folder()
            self.info_label.setText("")
            self._send(None)
            return
        missing = sorted(set(self.classes) - set(self._class_names()))
        if not self.all_classes and missing:
            self.Warning.missing_classes(", ".join(missing))
        self.info_label.setText("Cropping …")
        self.cancel_button.setEnabled(True)
        self.start(run, self.boxes, self._options())

    def cancel_cropping(self):
        """Stop at once; the crops made so far stay in the cache for the next run."""
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.info_label.setText("Cancelled.")

    def on_partial_result(self, _):
        pass

    def on_done(self, result: CropResult):
        self.cancel_button.setEnabled(False)
        self.result = result
        if result.skipped:
            self.Warning.skipped(skipped_summary(result.skipped, result.total, noun="boxes"))
        parts = []
        if result.left_out.get("class"):
            parts.append(f"{result.left_out['class']:,} boxes of other classes")
        if result.left_out.get("max per image"):
            parts.append(f"{result.left_out['max per image']:,} beyond the limit per image")
        if parts:
            self.Information.left_out("Skipped by the options: " + "; ".join(parts) + ".")
        self.info_label.setText(summary(result) + ".")
        self._send(result)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        self.Error.failed(error_text(ex))
        self.info_label.setText("")
        self._send(None)

    def _send(self, result: Optional[CropResult]):
        self.Outputs.crops.send(result.data if result is not None else None)
        self.Outputs.skipped.send(result.skipped_table() if result is not None else None)

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()

    def send_report(self):
        options = self._options()
        items = [("Classes", "all" if options["classes"] is None
                  else ", ".join(options["classes"]) or "none"),
                 ("Padding", f"{self.padding} %"), ("Square", "yes" if self.square else "no"),
                 ("Smallest box", f"{self.min_size} px"),
                 ("Per image", f"at most {self.max_per_image}" if self.limit_per_image
                  else "all"),
                 ("Format", dict((v, k) for k, v in FORMATS)[self.format]),
                 ("Scale", f"at most {self.max_side} px" if self.scale else "no"),
                 ("Files", self.folder if self.to_folder else "the cache")]
        self.report_items("Settings", items)
        if self.result is not None:
            self.report_paragraph("Result", f"{self.boxes_label.text()} "
                                            f"{summary(self.result)}.")
            if self.result.data is not None:
                self.report_table("Crops", self.result.data, 20)


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_boxes
    WidgetPreview(OWCropBoxes).run(set_boxes=sample_boxes())
