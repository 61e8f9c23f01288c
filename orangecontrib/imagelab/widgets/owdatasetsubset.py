"""Dataset Subset: pick classes from Open Images-format metadata; output the
images (with URLs) and their boxes."""
import os
from typing import List, Optional

from AnyQt.QtCore import QTimer
from AnyQt.QtWidgets import QFileDialog, QLabel

from Orange.data import Table
from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.utils.filedialogs import RecentPath
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import MultiInput, Msg, Output, OWWidget

from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.api.subset import SubsetResult, class_list, select_subset
from orangecontrib.imagelab.widgets.utils.classlist import ClassList
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    Cancelled, TaskState, TaskWidgetMixin, progress_callback)

URL_FIELDS = (("Original images", "OriginalURL"), ("Thumbnails (about 300K pixels)",
                                                   "Thumbnail300KURL"))


def is_recent_path(item: list) -> bool:
    """Whether ``item`` is a RecentPath.to_list() list: [abspath, prefix, relpath,
    title, sheet, file format], the first a path and the others text or None."""
    return 3 <= len(item) <= 6 and isinstance(item[0], str) and bool(item[0]) and \
        all(part is None or isinstance(part, str) for part in item[1:])


def load(metadata, state: TaskState) -> list:
    """The class list: names first (a partial result), then with counts."""
    state.set_partial_result(class_list(metadata, counts=False))
    return class_list(metadata, callback=progress_callback(state))


def select(metadata, classes: List[str], options: dict, state: TaskState) -> SubsetResult:
    return select_subset(metadata, classes, callback=progress_callback(state), **options)


class OWDatasetSubset(OWWidget, TaskWidgetMixin):
    name = "Dataset Subset"
    description = "Pick classes from a big image data set shared as metadata " \
                  "(Open Images format): its images, with URLs, and their boxes."
    icon = "icons/DatasetSubset.svg"
    priority = 14
    keywords = "dataset subset, open images, classes, metadata, boxes, url, select"

    class Inputs:
        metadata = MultiInput("Metadata", Table, filter_none=True)

    class Outputs:
        images = Output("Images", Table, default=True)
        boxes = Output("Boxes", Table)

    #: The metadata folder, as RecentPath.to_list() (a literal, relative to the workflow).
    metadata_folder: list = Setting([], check=lambda path: not path or is_recent_path(path))
    classes: List[str] = Setting([])
    use_cap: bool = Setting(False)
    max_per_class: int = Setting(100, range=(1, 1_000_000))
    use_hierarchy: bool = Setting(True)
    from_boxes: bool = Setting(True)
    from_labels: bool = Setting(True)
    url_field: str = Setting("OriginalURL", choices=tuple(value for _, value in URL_FIELDS))
    auto_commit: bool = Setting(True)
    settings_version = 1

    want_main_area = False

    class Warning(OWWidget.Warning):
        missing_classes = Msg("No images of {} in these metadata.")
        unknown_classes = Msg("Not in the class list, skipped: {}.")
        skipped = Msg("{}")

    class Error(OWWidget.Error):
        load = Msg("{}")
        failed = Msg("{}")
        no_kind = Msg("Choose where images come from: boxes, labels or both.")

    class Information(OWWidget.Information):
        note = Msg("{}")
        from_tables = Msg("Using the {} metadata tables on the input, not the folder.")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.tables: List[Table] = []
        self.entries = None           # the class list once loaded
        self.result: Optional[SubsetResult] = None
        self._job = None              # "load" or "select"
        self._relocate()

        box = gui.hBox(self.controlArea, "Metadata folder")
        self.folder_label = QLabel(wordWrap=True, minimumWidth=220)
        box.layout().addWidget(self.folder_label, 1)
        gui.button(box, self, "Choose…", callback=self.choose_folder, autoDefault=False)
        gui.button(box, self, "Reload", callback=self.load_classes, autoDefault=False)

        box = gui.vBox(self.controlArea, "Classes")
        self.class_list = ClassList()
        self.class_list.changed.connect(self._classes_changed)
        box.layout().addWidget(self.class_list)
        self.checked_label = QLabel(wordWrap=True)
        box.layout().addWidget(self.checked_label)

        box = gui.vBox(self.controlArea, "Options")
        gui.spin(box, self, "max_per_class", 1, 1_000_000, label="At most, per class:",
                 checked="use_cap", checkCallback=self.commit.deferred,
                 callback=self.commit.deferred, controlWidth=90,
                 tooltip="A random sample of this many images of each class, the same "
                         "every time (an image picked for one class brings its boxes "
                         "of the other checked classes along).")
        gui.checkBox(box, self, "use_hierarchy", "Include subclasses (Vehicle → Car, Bus …)",
                     callback=self.commit.deferred)
        gui.checkBox(box, self, "from_boxes", "Images with boxes of the classes",
                     callback=self.commit.deferred)
        gui.checkBox(box, self, "from_labels", "Images labelled with the classes",
                     callback=self.commit.deferred)
        values = [value for _, value in URL_FIELDS]
        self.url_index = values.index(self.url_field) if self.url_field in values else 0
        gui.comboBox(box, self, "url_index", items=[label for label, _ in URL_FIELDS],
                     label="URLs of:", orientation="horizontal",
                     callback=self._url_field_changed)

        box = gui.vBox(self.controlArea, "Info")
        self.info_label = QLabel("Choose a metadata folder.", wordWrap=True)
        box.layout().addWidget(self.info_label)
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_job, autoDefault=False)
        self.cancel_button.setEnabled(False)
        gui.auto_apply(self.buttonsArea, self, "auto_commit", commit=self.commit)
        self._show_folder()
        if self.folder_path():
            self.load_classes()

    # ------------------------------------------------------------ the folder

    def _search_paths(self):
        basedir = self.workflowEnv().get("basedir")
        return [("basedir", basedir)] if basedir else []

    def _relocate(self):
        if not self.metadata_folder:
            return
        recent = RecentPath.from_list(self.metadata_folder)
        search = self._search_paths()
        resolved = recent.resolve(search)
        path = resolved.abspath if resolved else recent.search(search)
        if path:
            self.metadata_folder = RecentPath.create(path, search).to_list()

    def workflowEnvChanged(self, key, value, oldvalue):
        if key == "basedir":
            before = self.folder_path()
            self._relocate()
            self._show_folder()
            if self.folder_path() != before and not self.tables:
                self.load_classes()

    def folder_path(self) -> Optional[str]:
        return self.metadata_folder[0] if self.metadata_folder else None

    def _show_folder(self):
        path = self.folder_path()
        self.folder_label.setText(os.path.basename(path.rstrip(os.sep)) if path
                                  else "(none)")
        self.folder_label.setToolTip(path or "")

    def choose_folder(self):
        start = self.folder_path() or os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, "Metadata folder", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str):
        self.metadata_folder = RecentPath.create(folder, self._search_paths()).to_list()
        self._show_folder()
        self.load_classes()

    def metadata(self):
        """What to read: the input tables if any, else the folder."""
        return list(self.tables) if self.tables else self.folder_path()

    # ---------------------------------------------------------------- inputs

    @Inputs.metadata
    def set_metadata(self, index: int, table: Table):
        self.tables[index] = table

    @Inputs.metadata.insert
    def insert_metadata(self, index: int, table: Table):
        self.tables.insert(index, table)

    @Inputs.metadata.remove
    def remove_metadata(self, index: int):
        self.tables.pop(index)

    def handleNewSignals(self):
        self.load_classes()

    # ------------------------------------------------------------ class list

    def load_classes(self):
        self.cancel()
        self.Error.clear()
        self.Information.from_tables.clear()
        self.entries = None
        self.class_list.set_classes([], [])
        if self.tables:
            self.Information.from_tables(len(self.tables))
        metadata = self.metadata()
        if not metadata:
            self.info_label.setText("Choose a metadata folder.")
            self._send(None)
            return
        self.info_label.setText("Reading the class list …")
        self._job = "load"
        self.cancel_button.setEnabled(True)
        self.start(load, metadata)

    def _show_checked(self):
        self.checked_label.setText("Checked: " + (", ".join(self.classes) or "none"))

    def _classes_changed(self):
        self.classes = self.class_list.checked()
        self._show_checked()
        self.Warning.unknown_classes.clear()
        self.commit.deferred()

    def _url_field_changed(self):
        self.url_field = URL_FIELDS[self.url_index][1]
        self.commit.deferred()

    # ---------------------------------------------------------------- commit

    @gui.deferred
    def commit(self):
        if self.entries is None:  # still loading; committed when loaded
            return
        self.cancel()
        for msg in (self.Warning.missing_classes, self.Warning.skipped, self.Error.failed,
                    self.Error.no_kind, self.Information.note):
            msg.clear()
        self.result = None
        if not self.classes:
            self.info_label.setText(f"{len(self.entries):,} classes; check the ones "
                                    "you want.")
            self._send(None)
            return
        kinds = tuple(kind for kind, on in (("boxes", self.from_boxes),
                                            ("labels", self.from_labels)) if on)
        if not kinds:
            self.Error.no_kind()
            self._send(None)
            return
        options = dict(max_per_class=self.max_per_class if self.use_cap else None,
                       hierarchy=self.use_hierarchy, kinds=kinds, url_field=self.url_field)
        self.info_label.setText(f"Selecting {', '.join(self.classes)} …")
        self._job = "select"
        self.cancel_button.setEnabled(True)
        self.start(select, self.metadata(), list(self.classes), options)

    def cancel_job(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.info_label.setText("Cancelled.")

    def on_partial_result(self, entries):
        self._show_classes(entries)

    def _show_classes(self, entries):
        missing = self.class_list.set_classes(entries, self.classes)
        if missing:
            self.Warning.unknown_classes(", ".join(missing))
            self.classes = self.class_list.checked()
        self._show_checked()

    def on_done(self, result):
        self.cancel_button.setEnabled(False)
        if self._job == "load":
            if self.entries is None and not self.class_list.model.rowCount():
                self._show_classes(result)
            self.class_list.set_counts(result)
            self.entries = result
            # not from here: Orange forbids starting a task in on_done
            QTimer.singleShot(0, self.commit.deferred)
            return
        self.result = result
        n_images = len(result.images) if result.images is not None else 0
        n_boxes = len(result.boxes) if result.boxes is not None else 0
        k = len(result.classes)
        self.info_label.setText(f"{n_images:,} images, {n_boxes:,} boxes of "
                                f"{k:,} class{'es' * (k != 1)}.")
        if result.missing_classes:
            self.Warning.missing_classes(", ".join(result.missing_classes))
        if result.skipped:
            self.Warning.skipped(skipped_summary(result.skipped, n_images + len(result.skipped),
                                                 noun="images"))
        if result.notes:
            self.Information.note(" ".join(result.notes))
        self._send(result)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        if isinstance(ex, Cancelled):
            return
        if self._job == "load":
            self.Error.load(error_text(ex))
            self.info_label.setText("The metadata could not be read.")
        else:
            self.Error.failed(error_text(ex))
        self._send(None)

    def _send(self, result: Optional[SubsetResult]):
        self.Outputs.images.send(result.images if result else None)
        self.Outputs.boxes.send(result.boxes if result else None)

    def send_report(self):
        source = f"{len(self.tables)} input tables" if self.tables else \
            (self.folder_path() or "none")
        self.report_items("Settings", [
            ("Metadata", source), ("Classes", ", ".join(self.classes) or "none"),
            ("Per class", f"at most {self.max_per_class:,}" if self.use_cap else "all"),
            ("Subclasses", self.use_hierarchy),
            ("Images from", ", ".join(k for k, on in (("boxes", self.from_boxes),
                                                      ("labels", self.from_labels)) if on)),
            ("URLs", URL_FIELDS[self.url_index][0])])
        if self.result is not None:
            result = self.result
            self.report_items("Subset", [
                ("Images", len(result.images) if result.images is not None else 0),
                ("Boxes", len(result.boxes) if result.boxes is not None else 0),
                ("Missing classes", ", ".join(result.missing_classes) or "none")])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_path
    _preview = WidgetPreview(OWDatasetSubset)
    _preview.create_widget()
    _preview.widget.classes = ["Dress", "Footwear", "Handbag"]
    _preview.widget.set_folder(sample_path("openimages"))
    _preview.run()
