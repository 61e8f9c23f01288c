"""Snapshot: freeze a labelled image set into a closed, versioned, verifiable package."""
import os
from dataclasses import dataclass, field
from typing import List, Optional

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import QFileDialog, QLabel, QTreeWidget, QTreeWidgetItem

from Orange.data import Table
from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import Cancelled, skipped_summary
from orangecontrib.imagelab.api.snapshots import (
    Snapshot, VerifyReport, VersionInfo, clone, export_zip, list_snapshots, load_boxes,
    load_snapshot, snapshot, verify)
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.reporthooks import install_test_and_score_hook
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

install_test_and_score_hook()  # Test and Score's report names the version (see there)


@dataclass
class Result:
    """What a background job found; fields it did not touch stay None."""
    history: List[VersionInfo] = field(default_factory=list)
    chosen: Optional[str] = None          # version folder now chosen
    frozen: Optional[Snapshot] = None
    verified: Optional[VerifyReport] = None
    exported: Optional[str] = None
    tables: Optional[tuple] = None        # (snapshot, clone, boxes)


def run(job: str, folder: str, chosen: Optional[str], options: dict,
        state: TaskState) -> Result:
    """"freeze", "verify", "export" or "open" off the GUI thread, then list the history."""
    callback = progress_callback(state)
    result = Result(chosen=chosen)
    if job == "freeze":
        result.frozen = snapshot(options["data"], folder, name=options["name"],
                                 boxes=options["boxes"], link=options["link"],
                                 description=options["description"], callback=callback)
        result.chosen = result.frozen.path
    elif job == "verify" and chosen:
        result.verified = verify(chosen, callback=callback)
    elif job == "export" and chosen:
        result.exported = export_zip(chosen, options["zip_path"], callback=callback)
    if folder and os.path.isdir(folder):
        result.history = list_snapshots(folder)
    paths = [v.path for v in result.history]
    if result.chosen not in paths:
        result.chosen = paths[-1] if paths else None
    if result.chosen and job in ("freeze", "open"):
        result.tables = (load_snapshot(result.chosen), clone(result.chosen),
                         load_boxes(result.chosen))
    return result


class OWSnapshot(OWWidget, TaskWidgetMixin):
    name = "Snapshot"
    description = "Freeze labelled images into a closed, versioned data set " \
                  "(a Frictionless data package); verify it, clone it, share it."
    icon = "icons/Snapshot.svg"
    priority = 340
    keywords = "snapshot, freeze, version, data package, dataset, clone, verify, share"

    class Inputs:
        data = Input("Data", Table, default=True)
        boxes = Input("Boxes", Table)

    class Outputs:
        snapshot = Output("Snapshot", Table, default=True)
        clone = Output("Clone", Table)
        boxes = Output("Boxes", Table)

    settings_version = 1
    folder: str = Setting("")
    snapshot_name: str = Setting("images")
    snapshot_description: str = Setting("")
    link: bool = Setting(True)
    #: the chosen version, relative to the folder ("<name>/<version>")
    chosen: str = Setting("", schema_only=True)

    want_main_area = True

    class Warning(OWWidget.Warning):
        skipped = Msg("{}")
        tampered = Msg("{}")

    class Error(OWWidget.Error):
        no_folder = Msg("Choose a folder for the snapshots.")
        no_image_column = Msg("The data has no image column (type=image): "
                              "connect Import Images or Label Images.")
        failed = Msg("{}")

    class Information(OWWidget.Information):
        reused = Msg("The same images and labels were frozen before: version {}.")
        verified = Msg("{}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None
        self.boxes: Optional[Table] = None
        self.history: List[VersionInfo] = []

        box = gui.hBox(self.controlArea, "Folder")
        self.folder_label = QLabel(wordWrap=True, minimumWidth=200)
        box.layout().addWidget(self.folder_label, 1)
        gui.button(box, self, "Choose…", callback=self.choose_folder, autoDefault=False)
        box = gui.vBox(self.controlArea, "Freeze the input")
        gui.lineEdit(box, self, "snapshot_name", label="Name:", orientation=Qt.Horizontal)
        gui.lineEdit(box, self, "snapshot_description", label="Description:",
                     orientation=Qt.Horizontal)
        gui.checkBox(box, self, "link", "Hard-link images (no extra space)",
                     tooltip="Linked images share the disk space of your originals; "
                             "uncheck to copy them (copies are made read-only).")
        self.save_button = gui.button(box, self, "Save (freeze)", callback=self.freeze,
                                      autoDefault=False)
        self.info_label = QLabel("No input.", wordWrap=True)
        box.layout().addWidget(self.info_label)
        box = gui.vBox(self.controlArea, "Chosen version")
        gui.button(box, self, "Verify", callback=self.verify, autoDefault=False)
        gui.button(box, self, "Export zip…", callback=self._export_dialog,
                   autoDefault=False)
        self.cancel_button = gui.button(box, self, "Cancel", callback=self.cancel_job,
                                        autoDefault=False, enabled=False)
        self.controlArea.layout().addStretch(1)

        self.tree = QTreeWidget(rootIsDecorated=False, alternatingRowColors=True)
        self.tree.setHeaderLabels(["Name", "Version", "Parent", "Created", "Images",
                                   "Classes"])
        self.tree.itemSelectionChanged.connect(self._on_version_chosen)
        self.mainArea.layout().addWidget(self.tree)
        self._show_folder()
        self._start("open")

    # --- folder and inputs -----------------------------------------------
    def target_folder(self) -> str:
        return os.path.expanduser(self.folder) if self.folder else ""

    def _show_folder(self):
        self.folder_label.setText(self.folder or "(no folder chosen)")

    def choose_folder(self):
        start = self.target_folder() or os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, "Snapshots folder", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str):
        self.folder = folder
        self.Error.no_folder.clear()
        self._show_folder()
        self._start("open")

    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.Error.no_image_column.clear()
        if data is not None and tables.find_image_column(data.domain) is None:
            self.Error.no_image_column()
            data = None
        self.data = data
        parent = tables.parent_info(data) or tables.snapshot_info(data)
        text = f"{len(data):,} images to freeze" if data is not None else "No input."
        if parent:
            text += f" (from version {parent.get('version')})"
        self.info_label.setText(text + ".")

    @Inputs.boxes
    def set_boxes(self, boxes: Optional[Table]):
        self.boxes = boxes if tables.is_boxes_table(boxes) else None

    # --- jobs -------------------------------------------------------------
    def _chosen_path(self) -> Optional[str]:
        return os.path.join(self.target_folder(), *self.chosen.split("/")) \
            if self.chosen and self.target_folder() else None

    def _start(self, job: str, **options):
        self.Error.failed.clear()
        self.cancel_button.setEnabled(True)
        self.tree.setEnabled(job not in ("freeze",))
        self.start(run, job, self.target_folder(), self._chosen_path(), options)

    def freeze(self):
        """Save: freeze the input into a new version (or find it frozen already)."""
        self.Information.clear()
        self.Warning.skipped.clear()
        if self.data is None:
            return
        if not self.folder:
            self.Error.no_folder()
            return
        self.info_label.setText("Freezing …")
        self._start("freeze", data=self.data, boxes=self.boxes, link=self.link,
                    name=self.snapshot_name or "images",
                    description=self.snapshot_description)

    def verify(self):
        self.Information.verified.clear()
        self.Warning.tampered.clear()
        if self._chosen_path():
            self._start("verify")

    def export(self, zip_path: str):
        if self._chosen_path():
            self._start("export", zip_path=zip_path)

    def _export_dialog(self):
        if not self._chosen_path():
            return
        start = os.path.join(self.target_folder(), self.chosen.replace("/", "-") + ".zip")
        path, _ = QFileDialog.getSaveFileName(self, "Export zip", start, "Zip (*.zip)")
        if path:
            self.export(path)

    def cancel_job(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.tree.setEnabled(True)
        self.info_label.setText("Cancelled: no version was written.")

    def on_done(self, result: Result):
        self.cancel_button.setEnabled(False)
        self.tree.setEnabled(True)
        if result.frozen is not None:
            snap = result.frozen
            self.info_label.setText(
                f"Frozen {snap.n_rows:,} images as version {snap.version}"
                + (f" (parent {snap.parent})" if snap.parent else "") + ".")
            if snap.reused:
                self.Information.reused(snap.version)
            if snap.skipped:
                total = snap.n_rows + len(snap.skipped)
                self.Warning.skipped(skipped_summary(snap.skipped, total, noun="rows"))
        if result.verified is not None:
            report = result.verified
            if report.ok:
                self.Information.verified(f"Version {report.version}: {report.summary()}.")
            else:
                self.Warning.tampered(f"Version {report.version} was changed: "
                                      f"{report.summary()}")
        if result.exported:
            self.info_label.setText(f"Exported {result.exported}")
        self.history = result.history
        folder = self.target_folder()
        self.chosen = os.path.relpath(result.chosen, folder).replace(os.sep, "/") \
            if result.chosen else ""
        self._fill_tree()
        if result.tables is not None:
            self._send(*result.tables)
        elif not result.chosen:
            self._send(None, None, None)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        self.tree.setEnabled(True)
        if not isinstance(ex, Cancelled):
            self.Error.failed(error_text(ex))
            self.info_label.setText("Nothing was frozen." if self.data is not None
                                    else self.info_label.text())

    def on_partial_result(self, _):
        pass

    def _send(self, version, editable, boxes):
        self.Outputs.snapshot.send(version)
        self.Outputs.clone.send(editable)
        self.Outputs.boxes.send(boxes)

    # --- history ----------------------------------------------------------
    def _fill_tree(self):
        self.tree.blockSignals(True)
        self.tree.clear()
        for info in reversed(self.history):  # newest first
            classes = ", ".join(f"{c} {n:,}" for c, n in info.counts.items())
            item = QTreeWidgetItem([info.name, info.version, info.parent or "",
                                    info.created.replace("T", " ")[:19], f"{info.n_rows:,}",
                                    classes])
            item.setData(0, Qt.UserRole, info.path)
            item.setToolTip(0, info.description or info.path)
            self.tree.addTopLevelItem(item)
            if self._chosen_path() and os.path.samefile(info.path, self._chosen_path()):
                item.setSelected(True)
        for column in range(5):
            self.tree.resizeColumnToContents(column)
        self.tree.blockSignals(False)

    def _on_version_chosen(self):
        items = self.tree.selectedItems()
        if not items:
            return
        path = items[0].data(0, Qt.UserRole)
        self.chosen = os.path.relpath(path, self.target_folder()).replace(os.sep, "/")
        self.Information.verified.clear()
        self.Warning.tampered.clear()
        self._start("open")

    def choose_version(self, version: str):
        """Choose the version whose id is ``version`` (as clicking it in the list)."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(1) == version:
                self.tree.clearSelection()
                item.setSelected(True)
                return
        raise ValueError(f"no version {version!r} in {self.target_folder()}")

    def send_report(self):
        self.report_items((("Folder", self.folder or "(none)"),
                           ("Name", self.snapshot_name),
                           ("Chosen version", self.chosen or "(none)"),
                           ("Images", "hard links" if self.link else "copies")))
        if self.history:
            self.report_items("History", [
                (f"{v.name} {v.version}", f"{v.created}, {v.n_rows:,} images"
                 + (f", parent {v.parent}" if v.parent else "")) for v in self.history])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    import tempfile
    from orangecontrib.imagelab.widgets.utils.preview import sample_images
    preview = WidgetPreview(OWSnapshot)
    preview.create_widget()
    preview.widget.set_folder(tempfile.mkdtemp(prefix="snapshots-"))
    preview.run(sample_images("fashion/labelled"))
