"""Import Images: a folder, zip archive or annotation file into a data table."""
import html
import os
from typing import List, Optional, Tuple

from AnyQt.QtCore import Qt
from AnyQt.QtGui import QBrush
from AnyQt.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QSizePolicy

from Orange.data import Table
from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.utils.filedialogs import RecentPath
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Msg, Output, OWWidget

from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.api.importing import ImportResult, import_images
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

FILE_FILTERS = ("Zip archives and annotation files (*.zip *.csv *.tsv *.json)",
                "Zip archives (*.zip)", "Annotation files (*.csv *.tsv *.json)",
                "Box files (*.csv *.json *.xml *.yaml *.yml *.txt)",
                "All files (*)")
ANNOTATION_FILTERS = ("Annotation and box files (*.csv *.tsv *.json *.xml *.yaml *.yml *.txt)",
                      "All files (*)")


def is_recent_path(item: list) -> bool:
    """Whether ``item`` is a RecentPath.to_list() list: [abspath, prefix, relpath,
    title, sheet, file format], the first a path and the others text or None."""
    return 3 <= len(item) <= 6 and isinstance(item[0], str) and bool(item[0]) and \
        all(part is None or isinstance(part, str) for part in item[1:])


def run(source: str, check_full: bool, allow_outside: bool, annotations: Optional[str],
        state: TaskState) -> ImportResult:
    """Import ``source`` off the GUI thread, reporting percentages."""
    return import_images(source, annotations=annotations, check_full=check_full,
                         allow_outside=allow_outside, callback=progress_callback(state))


def skipped_list_html(skipped, shown: int = 6) -> str:
    """The first ``shown`` skipped files with their reasons, one a line (HTML)."""
    if not skipped:
        return ""
    lines = [f"<b>{html.escape(s.path)}</b>: {html.escape(s.reason)}" for s in skipped[:shown]]
    if len(skipped) > shown:
        lines.append(f"… and {len(skipped) - shown:,} more (the Skipped Files output "
                     f"lists them all)")
    return f"Skipped {len(skipped):,}:<br/>" + "<br/>".join(lines)


def result_summary(result: ImportResult) -> str:
    """ "1,204 images, 5 categories, 3 skipped" """
    n = result.n_images
    parts = [f"{n:,} image{'s' * (n != 1)}"]
    if result.categories:
        k = len(result.categories)
        parts.append(f"{k:,} categor{'ies' if k != 1 else 'y'}")
    if result.boxes is not None:
        parts.append(f"{len(result.boxes):,} boxes")
    parts.append(f"{len(result.skipped):,} skipped")
    return ", ".join(parts)


def box_messages(result: ImportResult) -> Tuple[str, str]:
    """(warning, information) about the boxes: what was skipped; what was fixed, noted."""
    info = result.box_info
    if info is None:
        return "", ""
    warning = info.summary()
    notes = []
    if info.fixed:
        counts = ", ".join(f"{n:,} {what}" for what, n in sorted(info.fixed_counts.items()))
        notes.append(f"Boxes fixed ({counts}): " + ", ".join(
            f"{e.path} ({e.reason})" for e in info.fixed[:2]) + (", ..." if
                                                                len(info.fixed) > 2 else ""))
    notes += [note[:1].upper() + note[1:] for note in info.notes]
    return warning, "\n".join(notes)


class OWImportImages(OWWidget, TaskWidgetMixin):
    name = "Import Images"
    description = "Import a folder, zip archive or annotation file of images."
    icon = "icons/ImportImages.svg"
    priority = 10
    keywords = "import images, load, folder, directory, zip, annotations, photos"

    class Outputs:
        data = Output("Data", Table, default=True)
        boxes = Output("Boxes", Table)
        skipped = Output("Skipped Files", Table)

    settings_version = 1
    #: Recent sources, as RecentPath.to_list() lists (literals); the first is current.
    recent_paths: List[list] = Setting([], check=lambda paths: all(map(is_recent_path, paths)))
    #: An extra annotation or box file for a folder or zip source, as
    #: RecentPath.to_list() (a literal); empty: none (one found in the folder is used).
    annotations_path: list = Setting([], check=lambda path: not path or is_recent_path(path))
    check_full: bool = Setting(False)
    allow_outside: bool = Setting(False)

    want_main_area = False
    resizing_enabled = False
    MAX_RECENT = 15

    class Warning(OWWidget.Warning):
        skipped = Msg("{}")
        boxes_skipped = Msg("{}")
        no_images = Msg("No images found in {}.")
        missing = Msg("{} does not exist; choose another source.")

    class Error(OWWidget.Error):
        failed = Msg("{}")

    class Information(OWWidget.Information):
        annotations = Msg("Annotations from {}.")
        boxes = Msg("{}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.result: Optional[ImportResult] = None
        self._relocate()

        box = gui.widgetBox(self.controlArea, "Source", orientation=QGridLayout())
        grid = box.layout()
        self.combo = QComboBox(sizeAdjustPolicy=QComboBox.AdjustToMinimumContentsLengthWithIcon,
                               minimumContentsLength=24)
        self.combo.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.combo.activated[int].connect(self.select_recent)
        grid.addWidget(self.combo, 0, 0, 1, 3)
        grid.addWidget(gui.button(None, self, "Folder…", callback=self.browse_folder,
                                  autoDefault=False), 1, 0)
        grid.addWidget(gui.button(None, self, "File…", callback=self.browse_file,
                                  autoDefault=False,
                                  tooltip="A zip archive, or a CSV/JSON annotation file"),
                       1, 1)
        self.reload_button = gui.button(None, self, "Reload", callback=self.reload,
                                        autoDefault=False)
        grid.addWidget(self.reload_button, 1, 2)
        self.annotations_label = QLabel()
        grid.addWidget(self.annotations_label, 2, 0)
        grid.addWidget(gui.button(
            None, self, "Annotations…", callback=self.browse_annotations, autoDefault=False,
            tooltip="An extra annotation or box file (COCO, Open Images, VOC, YOLO, ...)\n"
                    "for the images of a folder or zip"), 2, 1)
        grid.addWidget(gui.button(None, self, "No annotations",
                                  callback=lambda: self.set_annotations(None),
                                  autoDefault=False), 2, 2)

        options = gui.checkBox(self.controlArea, self, "check_full",
                               "Check every image fully (slower)", box="Options",
                               callback=self.reload,
                               tooltip="Decode each image instead of reading its header, "
                                       "to catch files damaged in the middle.").box
        gui.checkBox(options, self, "allow_outside",
                     "Allow files outside the annotation's folder", callback=self.reload,
                     tooltip="An annotated set (JSON) may name images or annotations "
                             "anywhere on this computer. Off: only in its own folder.")

        box = gui.widgetBox(self.controlArea, "Info")
        self.info_label = QLabel("Choose a folder, a zip archive or an annotation "
                                 "file,\nor drop one here.", wordWrap=True)
        box.layout().addWidget(self.info_label)
        # The skipped files, by name, where the user looks: the warning in the
        # status bar is one line and cut off after the first name or two.
        self.skipped_label = QLabel(wordWrap=True, textFormat=Qt.RichText, visible=False)
        self.skipped_label.setMinimumWidth(300)
        box.layout().addWidget(self.skipped_label)
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_import, autoDefault=False)
        self.cancel_button.setEnabled(False)

        self.setAcceptDrops(True)
        self._update_combo()
        if self.current_path():
            self.start_import()

    # ------------------------------------------------------------ recent paths

    def _search_paths(self):
        basedir = self.workflowEnv().get("basedir")
        return [("basedir", basedir)] if basedir else []

    def _recent(self) -> List[RecentPath]:
        return [RecentPath.from_list(item) for item in self.recent_paths]

    def _relocate(self):
        search = self._search_paths()
        relocated = []
        recents = self._recent()
        if self.annotations_path:
            recents.append(RecentPath.from_list(self.annotations_path))
        for recent in recents:
            resolved = recent.resolve(search)
            path = resolved.abspath if resolved else recent.search(search)
            relocated.append((RecentPath.create(path, search) if path else recent)
                             .to_list())
        if self.annotations_path:
            self.annotations_path = relocated.pop()
        self.recent_paths = relocated

    def workflowEnvChanged(self, key, value, oldvalue):
        if key == "basedir":
            self._relocate()
            self._update_combo()

    def current_path(self) -> Optional[str]:
        return self.recent_paths[0][0] if self.recent_paths else None

    def current_annotations(self) -> Optional[str]:
        return self.annotations_path[0] if self.annotations_path else None

    def set_annotations(self, path: Optional[str]):
        """An extra annotation/box file for the folder or zip (None: none), and import."""
        self.annotations_path = RecentPath.create(path, self._search_paths()).to_list() \
            if path else []
        self._update_combo()
        self.reload()

    def browse_annotations(self):
        path, _ = QFileDialog.getOpenFileName(self, "Import Images: Annotations",
                                              self._start_dir(), ";;".join(ANNOTATION_FILTERS))
        if path:
            self.set_annotations(path)

    def _update_combo(self):
        self.combo.clear()
        for recent in self._recent():
            self.combo.addItem(recent.basename or recent.abspath)
            index = self.combo.count() - 1
            self.combo.setItemData(index, recent.abspath, Qt.ToolTipRole)
            if not os.path.exists(recent.abspath):
                self.combo.setItemData(index, QBrush(Qt.red), Qt.ForegroundRole)
        if not self.recent_paths:
            self.combo.addItem("(none)")
        self.combo.setCurrentIndex(0)
        annotations = self.current_annotations()
        self.annotations_label.setText(os.path.basename(annotations) if annotations
                                       else "(annotations in the folder)")
        self.annotations_label.setToolTip(annotations or "")

    def set_path(self, path: str):
        """Make ``path`` the current source (top of the recent list) and import it."""
        recent = RecentPath.create(path, self._search_paths())
        items = [item for item in self._recent() if item != recent]
        self.recent_paths = [r.to_list() for r in [recent] + items][:self.MAX_RECENT]
        self._update_combo()
        self.start_import()

    def select_recent(self, index: int):
        if 0 <= index < len(self.recent_paths):
            self.set_path(self.recent_paths[index][0])

    def _start_dir(self) -> str:
        path = self.current_path()
        return os.path.dirname(path) if path else os.path.expanduser("~")

    def browse_folder(self):
        path = QFileDialog.getExistingDirectory(self, "Import Images: Folder",
                                                self._start_dir())
        if path:
            self.set_path(path)

    def browse_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Import Images: File",
                                              self._start_dir(), ";;".join(FILE_FILTERS))
        if path:
            self.set_path(path)

    # ----------------------------------------------------------- drag and drop

    @staticmethod
    def _dropped_path(event) -> Optional[str]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and urls[0].isLocalFile():
            return urls[0].toLocalFile()
        return None

    def dragEnterEvent(self, event):
        if self._dropped_path(event):
            event.acceptProposedAction()

    def dropEvent(self, event):
        path = self._dropped_path(event)
        if path:
            event.acceptProposedAction()
            self.set_path(path)

    # ----------------------------------------------------------------- import

    def reload(self):
        if self.current_path():
            self.start_import()

    def start_import(self):
        path = self.current_path()
        self.clear_messages()
        if not path or not os.path.exists(path):
            self.Warning.missing(path)
            self._set_result(None)
            return
        self.info_label.setText(f"Importing {os.path.basename(path) or path} …")
        self.cancel_button.setEnabled(True)
        self.start(run, path, self.check_full, self.allow_outside, self.current_annotations())

    def cancel_import(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.info_label.setText("Cancelled.")

    def on_done(self, result: ImportResult):
        self.cancel_button.setEnabled(False)
        self._set_result(result)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        self.Error.failed(error_text(ex))
        self._set_result(None)

    def on_partial_result(self, _):
        pass

    def _show_skipped(self, skipped):
        self.skipped_label.setVisible(bool(skipped))
        self.skipped_label.setText(skipped_list_html(skipped))
        self.skipped_label.setToolTip("\n".join(f"{s.path} ({s.reason})"
                                                for s in skipped[:50]))

    def _set_result(self, result: Optional[ImportResult]):
        self.result = result
        self._show_skipped(result.skipped if result is not None else [])
        if result is None:
            self.info_label.setText("No data.")
            self.Outputs.data.send(None)
            self.Outputs.boxes.send(None)
            self.Outputs.skipped.send(None)
            return
        self.info_label.setText(result_summary(result))
        if result.skipped:
            self.Warning.skipped(skipped_summary(
                result.skipped, result.n_images + len(result.skipped)))
        if not result.n_images:
            self.Warning.no_images(self.current_path())
        if result.annotations:
            self.Information.annotations(os.path.basename(result.annotations))
        warning, information = box_messages(result)
        if warning:
            self.Warning.boxes_skipped(warning)
        if information:
            self.Information.boxes(information)
        self.Outputs.data.send(result.data if result.n_images else None)
        self.Outputs.boxes.send(result.boxes)
        self.Outputs.skipped.send(result.skipped_table())

    def send_report(self):
        if self.result is None:
            self.report_paragraph("No images imported.")
            return
        result = self.result
        items = [("Source", self.current_path()),
                 ("Images", f"{result.n_images:,}"),
                 ("Categories", ", ".join(result.categories) or "none"),
                 ("Skipped", f"{len(result.skipped):,}")]
        if result.annotations:
            items.append(("Annotations", result.annotations))
        if result.boxes is not None:
            items.append(("Boxes", f"{len(result.boxes):,} ({result.box_info.format}, "
                                   f"{len(result.box_info.skipped):,} skipped)"))
        if result.description:
            items.append(("Description", result.description))
        self.report_items(items)
        if result.skipped:
            self.report_items("Skipped files", [(s.path, s.reason)
                                                for s in result.skipped[:20]])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    WidgetPreview(OWImportImages).run()
