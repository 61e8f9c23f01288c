"""Label Images: label a set of images by hand, by keyboard, in a thumbnail grid."""
from typing import Dict, List, Optional

import numpy as np
from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import (
    QButtonGroup, QInputDialog, QLabel, QListWidget, QListWidgetItem, QRadioButton, QSplitter)

from Orange.data import DiscreteVariable, Table
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, DomainContextHandler, Setting
from Orange.widgets.utils.itemmodels import DomainModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.issues import suggested_label_column
from orangecontrib.imagelab.api.labelling import apply_labels, image_keys, input_labels
from orangecontrib.imagelab.widgets.utils.imagetable import LazyLocations
from orangecontrib.imagelab.widgets.utils.labelbook import LabelBook
from orangecontrib.imagelab.widgets.utils.labelviews import LabelGrid, PreviewPane, class_color
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

FILTERS = (("All images", "all"), ("Unlabelled", "unlabelled"), ("Class:", "class"),
           ("Disagreeing with:", "disagree"))


def run(data: Table, state: TaskState) -> List[str]:
    """The images' content hashes (the keys of hand edits), off the GUI thread."""
    return image_keys(data, callback=progress_callback(state))


class OWLabelImages(OWWidget, TaskWidgetMixin):
    name = "Label Images"
    description = "Label images by hand, fast, by keyboard: 1-9 assign a class, " \
                  "0 clears, arrows move, Ctrl+Z undoes."
    icon = "icons/LabelImages.svg"
    priority = 330
    keywords = "label images, annotate, tag, classify by hand, keyboard"

    class Inputs:
        images = Input("Images", Table, default=True)
        boxes = Input("Boxes", Table)

    class Outputs:
        labelled = Output("Labelled", Table, default=True)
        unlabelled = Output("Unlabelled", Table)

    settingsHandler = DomainContextHandler()
    settings_version = 1
    label_column: Optional[DiscreteVariable] = ContextSetting(None)
    compare_column: Optional[DiscreteVariable] = ContextSetting(None)
    #: the class's name when labels do not start from a column
    class_name: str = Setting("label")
    #: {image content hash (or relative path if unreadable): class, "" = no label}
    edits: Dict[str, str] = Setting({}, schema_only=True)
    #: {input class: new name} for renamed and merged classes
    renames: Dict[str, str] = Setting({}, schema_only=True)
    added: List[str] = Setting([], schema_only=True)
    filter: str = Setting("all")
    filter_class: str = Setting("")
    cell_size: int = Setting(96)
    auto_commit: bool = Setting(True)

    class Warning(OWWidget.Warning):
        orphans = Msg("{} hand label(s) are for images not in the input; they are "
                      "kept and apply when those images come back.")
        no_class = Msg("There is no class {}: add classes first.")
        unreadable = Msg("{:,} image(s) cannot be read; their labels are kept by path.")

    class Error(OWWidget.Error):
        no_image_column = Msg("The data has no image column (a text column with "
                              "type=image): connect Import Images.")
        failed = Msg("{}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None
        self.boxes: Optional[Table] = None
        self.book: Optional[LabelBook] = None
        self.locations = []
        self.rows = np.zeros(0, dtype=int)  # data rows shown, in view order
        self._box_index: Dict[str, list] = {}

        box = gui.vBox(self.controlArea, "Labels")
        self.label_model = DomainModel(placeholder="(none: start unlabelled)",
                                       valid_types=DiscreteVariable)
        gui.comboBox(box, self, "label_column", label="Start from:",
                     model=self.label_model, callback=self._label_column_changed)
        self.class_list = QListWidget(minimumHeight=150)
        self.class_list.itemDoubleClicked.connect(lambda _: self._rename_dialog())
        box.layout().addWidget(self.class_list)
        buttons = gui.hBox(box)
        gui.button(buttons, self, "Add…", callback=self._add_dialog, autoDefault=False)
        gui.button(buttons, self, "Rename…", callback=self._rename_dialog, autoDefault=False)
        gui.button(buttons, self, "Merge…", callback=self._merge_dialog, autoDefault=False)
        self.progress_label = QLabel("No images.")
        box.layout().addWidget(self.progress_label)

        box = gui.vBox(self.controlArea, "Show")
        # the setting is the filter's name, not a button index
        self.filter_buttons = QButtonGroup(box)
        for i, (label, value) in enumerate(FILTERS):
            button = QRadioButton(label, checked=value == self.filter)
            self.filter_buttons.addButton(button, i)
            box.layout().addWidget(button)
        self.filter_buttons.buttonClicked.connect(
            lambda b: self.set_filter(FILTERS[self.filter_buttons.id(b)][1]))
        self.filter_class_combo = gui.comboBox(
            gui.indentedBox(box), self, "filter_class", sendSelectedValue=True,
            callback=self._filter_changed)
        self.compare_model = DomainModel(placeholder="(choose a column)",
                                         valid_types=DiscreteVariable)
        compare_box = gui.indentedBox(box)
        gui.comboBox(compare_box, self, "compare_column",
                     model=self.compare_model, callback=self._filter_changed)
        gui.button(compare_box, self, "Accept its labels for the selected",
                   callback=self.accept_compared, autoDefault=False,
                   tooltip="Label the selected images with this column's values "
                           "(e.g. Image Issues' suggested labels); Ctrl+Z undoes it.")
        gui.hSlider(self.controlArea, self, "cell_size", label="Size:", minValue=48,
                    maxValue=256, step=8, createLabel=False,
                    callback=lambda: self.view.set_cell_size(self.cell_size))
        gui.label(self.controlArea, self, "Keys: 1–9 class, 0/Delete clear,\n"
                                          "arrows move, Shift+arrows select,\n"
                                          "Ctrl+Z undo, Ctrl+Shift+Z redo.")
        self.controlArea.layout().addStretch(1)
        gui.auto_apply(self.buttonsArea, self, "auto_commit")

        splitter = QSplitter(Qt.Horizontal)
        self.view = LabelGrid(splitter)
        self.view.set_cell_size(self.cell_size)
        self.preview = PreviewPane(splitter)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.mainArea.layout().addWidget(splitter)
        self.view.labelKey.connect(self.label_key)
        self.view.undoRequested.connect(self.undo)
        self.view.redoRequested.connect(self.redo)
        self.view.currentChanged.connect(self._show_preview)

    # --- inputs ---------------------------------------------------------
    @Inputs.images
    def set_images(self, data: Optional[Table]):
        self.closeContext()
        self.cancel()
        self.Error.clear()
        self.data, self.book = None, None
        self.label_model.set_domain(None)
        self.compare_model.set_domain(None)
        self.label_column = self.compare_column = None
        if data is not None and tables.find_image_column(data.domain) is None:
            self.Error.no_image_column()
            data = None
        if data is not None:
            self.data = data
            self.label_model.set_domain(data.domain)
            self.compare_model.set_domain(data.domain)
            class_var = data.domain.class_var
            if class_var is not None and class_var.is_discrete:
                self.label_column = class_var
            self.openContext(data.domain)
            if self.compare_column is None:
                # Image Issues' output: compare with its suggested labels
                self.compare_column = suggested_label_column(data.domain)
            self.locations = LazyLocations(data, tables.find_image_column(data.domain))
            self.progress_label.setText("Reading the images' hashes …")
            self.start(run, data)
        else:
            self.locations = []
        self._refresh()
        if data is None:
            self.commit.now()

    @Inputs.boxes
    def set_boxes(self, boxes: Optional[Table]):
        self.boxes = boxes if tables.is_boxes_table(boxes) else None
        self._box_index = {}
        if self.boxes is not None:
            coordinates, normalized = tables.box_coordinates(self.boxes)
            label_var = self.boxes.domain.class_var
            names = [label_var.str_val(v) if label_var else "" for v in
                     (self.boxes.Y if label_var else np.zeros(len(self.boxes)))]
            for location, box, name in zip(tables.image_locations(self.boxes),
                                           coordinates, names):
                self._box_index.setdefault(location, []).append(
                    (*box.tolist(), name, normalized))
        self._show_preview(self.view.current())

    def on_done(self, keys: List[str]):
        data = self.data
        labels = input_labels(data, self.label_column)
        classes = list(self.label_column.values) if self.label_column is not None else []
        self.book = LabelBook(keys, labels, classes, edits=self.edits,
                              renames=self.renames, added=self.added)
        n_unreadable = sum(len(key) != 64 for key in keys)
        self.Warning.unreadable(n_unreadable) if n_unreadable else \
            self.Warning.unreadable.clear()
        self._changed(refilter=True)

    def on_exception(self, ex: Exception):
        self.Error.failed(error_text(ex))

    def on_partial_result(self, _):
        pass

    def _label_column_changed(self):
        if self.book is not None:
            self.book.input_labels = input_labels(self.data, self.label_column)
            self.book.input_classes = list(self.label_column.values) \
                if self.label_column is not None else []
        self._changed(refilter=True)

    # --- labelling ------------------------------------------------------
    def label_key(self, number: int):
        """A key 1-9 (the n-th class) or 0 (no label) on the selected images."""
        if self.book is None:
            return
        classes = self.book.classes
        if number > len(classes):
            self.Warning.no_class(number)
            return
        self.Warning.no_class.clear()
        self.assign(classes[number - 1] if number else None)

    def assign(self, label: Optional[str]):
        rows = self.rows[self.view.selected()]
        if self.book is None or not len(rows):
            return
        current = self.view.current()
        if self.book.assign(rows, label):
            self._changed(refilter=True, current=current, advance=len(rows) == 1)

    def accept_compared(self):
        """Label the selected images with the compared column's values (rows
        where it is missing keep theirs), as one undo step."""
        if self.book is None or self.compare_column is None:
            return
        other = self._compared_labels()
        pairs = [(int(row), other[row])
                 for row in self.rows[self.view.selected()] if other[row] is not None]
        unknown = sorted({label for _, label in pairs if label not in self.book.classes})
        if unknown:
            self.Warning.no_class(", ".join(unknown))
            return
        self.Warning.no_class.clear()
        current = self.view.current()
        if pairs and self.book.assign_each(*zip(*pairs)):
            self._changed(refilter=True, current=current)

    def _compared_labels(self) -> List[Optional[str]]:
        """The compared column's values, with the classes renamed as here (to
        take them as labels)."""
        renames = self.book.renames if self.book is not None else {}
        return [renames.get(v, v) if v is not None else None
                for v in input_labels(self.data, self.compare_column)]

    def add_class(self, name: str):
        self.book.add_class(name)
        self._changed()

    def rename_class(self, old: str, new: str):
        self.book.rename_class(old, new)
        self._changed(refilter=True)

    merge_class = rename_class

    def undo(self):
        if self.book is not None and self.book.undo():
            self._changed(refilter=True, current=self.view.current())

    def redo(self):
        if self.book is not None and self.book.redo():
            self._changed(refilter=True, current=self.view.current())

    def _chosen_class(self) -> Optional[str]:
        item = self.class_list.currentItem()
        return item.data(Qt.UserRole) if item is not None else None

    def _add_dialog(self):
        if self.book is None:
            return
        name, ok = QInputDialog.getText(self, "Add a class", "Name of the new class:")
        if ok and name.strip() and name.strip() not in self.book.classes:
            self.add_class(name)

    def _rename_dialog(self):
        old = self._chosen_class()
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename a class", f"New name for {old}:",
                                       text=old)
        if ok and new.strip():
            self.rename_class(old, new)

    def _merge_dialog(self):
        old = self._chosen_class()
        if old is None or len(self.book.classes) < 2:
            return
        others = [c for c in self.book.classes if c != old]
        into, ok = QInputDialog.getItem(self, "Merge classes", f"Merge {old} into:",
                                        others, 0, False)
        if ok:
            self.merge_class(old, into)

    # --- views ----------------------------------------------------------
    def _changed(self, refilter=False, current=None, advance=False):
        """After any change: settings, class list, view, outputs."""
        if self.book is not None:
            self.edits, self.renames = dict(self.book.edits), dict(self.book.renames)
            self.added = list(self.book.added)
            orphans = self.book.orphan_edits()
            self.Warning.orphans(len(orphans)) if orphans else self.Warning.orphans.clear()
        self._update_class_list()
        if refilter:
            before = len(self.rows)
            self._refresh()
            if current is not None and current >= 0 and len(self.rows):
                step = 1 if advance and len(self.rows) == before else 0
                self.view.set_current(min(current + step, len(self.rows) - 1))
        else:
            self._update_labels()
        self.commit.deferred()

    def _update_class_list(self):
        chosen = self._chosen_class()
        self.class_list.clear()
        combo = self.filter_class_combo
        combo.clear()
        if self.book is None:
            self.progress_label.setText("No images." if self.data is None
                                        else self.progress_label.text())
            return
        counts = self.book.counts()
        for i, name in enumerate(self.book.classes):
            key = f"{i + 1}  " if i < 9 else "    "
            item = QListWidgetItem(f"{key}{name}  ({counts.get(name, 0):,})")
            item.setData(Qt.UserRole, name)
            item.setForeground(class_color(i))
            self.class_list.addItem(item)
            if name == chosen:
                self.class_list.setCurrentItem(item)
            combo.addItem(name)
        if self.filter_class in self.book.classes:
            combo.setCurrentIndex(self.book.classes.index(self.filter_class))
        self.progress_label.setText(
            f"{self.book.n_labelled():,} of {len(self.book.keys):,} labelled")

    def set_filter(self, name: str):
        """Show "all", "unlabelled", one "class" or rows that "disagree"."""
        values = [value for _, value in FILTERS]
        if name not in values:
            raise ValueError(f"filter must be one of {values}, got {name!r}")
        self.filter = name
        self.filter_buttons.button(values.index(name)).setChecked(True)
        self._refresh()

    def _filter_changed(self):
        self._refresh()

    def visible_rows(self) -> np.ndarray:
        """Data rows passing the filter (all rows until the hashes are read)."""
        if self.data is None:
            return np.zeros(0, dtype=int)
        if self.book is None or self.filter == "all":
            return np.arange(len(self.data))
        labels = self.book.labels()
        if self.filter == "unlabelled":
            keep = [label is None for label in labels]
        elif self.filter == "class":
            keep = [label == self.filter_class for label in labels]
        elif self.compare_column is not None:
            # as the column says: a renamed class disagrees with its old name
            other = input_labels(self.data, self.compare_column)
            keep = [b is not None and a != b for a, b in zip(labels, other)]
        else:
            keep = [True] * len(labels)
        return np.flatnonzero(keep)

    def _refresh(self):
        self.rows = self.visible_rows()
        self.view.set_items([self.locations[int(r)] for r in self.rows])
        self._update_labels()
        if len(self.rows):
            self.view.set_current(0) if self.view.current() < 0 else None
        else:
            self.preview.show_image(None, "No images to show")

    def _update_labels(self):
        if self.book is None:
            self.view.set_labels(None)
            return
        classes = self.book.classes
        labels = [self.book.label(int(r)) for r in self.rows]
        self.view.set_labels([label if label is not None else "–" for label in labels])
        self.view.set_colors([class_color(classes.index(label)) if label is not None
                              else None for label in labels])
        self._show_preview(self.view.current())

    def _show_preview(self, index: int):
        if not 0 <= index < len(self.rows):
            return
        row = int(self.rows[index])
        location = self.locations[row]
        label = self.book.label(row) if self.book is not None else None
        how = "by hand" if self.book is not None and self.book.by_hand(row) else "from input"
        caption = f"{label or 'no label'} ({how})" if label else "no label"
        size, boxes = None, []
        for box in self._box_index.get(location, []):
            *coords, name, normalized = box
            boxes.append((*coords, name))
            size = (1.0, 1.0) if normalized else size
        if boxes and size is None and "width" in self.data.domain and \
                "height" in self.data.domain:
            size = (float(self.data[row]["width"]), float(self.data[row]["height"]))
        box_classes = list(self.boxes.domain.class_var.values) \
            if self.boxes is not None and self.boxes.domain.class_var else []
        self.preview.classes = box_classes
        self.preview.show_image(location, f"{caption} — {location}", size, boxes)

    # --- output ---------------------------------------------------------
    @gui.deferred
    def commit(self):
        if self.data is None or self.book is None:
            self.Outputs.labelled.send(None)
            self.Outputs.unlabelled.send(None)
            return
        labels = self.book.labels()
        by_hand = [self.book.by_hand(i) for i in range(len(labels))]
        name = self.label_column.name if self.label_column is not None else self.class_name
        labelled, unlabelled = apply_labels(self.data, labels, by_hand, self.book.classes,
                                            name=name, replace=self.label_column)
        self.Outputs.labelled.send(labelled)
        self.Outputs.unlabelled.send(unlabelled)

    def send_report(self):
        if self.book is None:
            return
        counts = self.book.counts()
        self.report_items((
            ("Images", f"{len(self.book.keys):,}"),
            ("Labelled", f"{self.book.n_labelled():,}"),
            ("By hand", f"{sum(map(self.book.by_hand, range(len(self.book.keys)))):,}"),
            ("Started from", self.label_column.name if self.label_column else "no labels"),
            ("Classes", ", ".join(f"{c} ({n:,})" for c, n in counts.items())),
        ))

    def onDeleteWidget(self):
        self.shutdown()
        self.view.loader.shutdown()
        self.preview.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_images
    WidgetPreview(OWLabelImages).run(sample_images("fashion/labelled"))
