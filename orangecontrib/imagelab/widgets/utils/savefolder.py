"""What Save Images and Predictions to Folders share: a target folder, a
Save button with an auto-save checkbox (off by default), Cancel, progress and
a summary of what was written.

The Save button stays enabled whenever there is something to save: the
files on disk change outside Orange (a user empties the folder), so "nothing
changed since the last save" is never a reason to refuse saving again; a
second save writes only what is missing.
"""
import os
from typing import Optional

from AnyQt.QtWidgets import QComboBox, QFileDialog, QLabel

from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.widget import Msg, OWWidget

from orangecontrib.imagelab.api import Cancelled, SkippedEntry, skipped_summary
from orangecontrib.imagelab.api.saving import short_path
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (  # noqa: F401 (re-exported)
    TaskState, TaskWidgetMixin, progress_callback)

#: (label shown, value stored) for the file modes.
MODE_ITEMS = (("Copy files (byte for byte)", "copy"),
              ("Hard-link files (no extra space)", "link"),
              ("Convert (re-encode, optionally smaller)", "convert"))


def value_combo(widget, box, attr: str, items, callback=None) -> QComboBox:
    """A combo showing labels and storing the chosen *value* (a literal) in
    ``widget.<attr>``, never an index."""
    combo = QComboBox(box)
    for label, value in items:
        combo.addItem(label, value)
    values = [value for _, value in items]
    current = getattr(widget, attr)
    combo.setCurrentIndex(values.index(current) if current in values else 0)
    setattr(widget, attr, values[combo.currentIndex()])

    def changed(index):
        setattr(widget, attr, values[index])
        if callback:
            callback()
    combo.activated[int].connect(changed)
    box.layout().addWidget(combo)
    return combo


class SaveToFolderWidget(OWWidget, TaskWidgetMixin, openclass=True):
    """Base of the saving widgets; subclasses implement ``_start_task``,
    ``_set_result`` and ``send_report``."""
    folder: str = Setting("")
    auto_save: bool = Setting(False)

    want_main_area = False
    resizing_enabled = False

    class Error(OWWidget.Error):
        no_folder = Msg("Choose a folder to save into.")
        failed = Msg("{}")
        stopped = Msg("Saving stopped: {}")

    class Warning(OWWidget.Warning):
        skipped = Msg("{}")

    class Information(OWWidget.Information):
        cancelled = Msg("Cancelled: files saved so far are kept and listed in "
                        "the manifest; save again to finish (nothing is written twice).")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.result = None
        box = gui.hBox(self.controlArea, "Folder")
        self.folder_label = QLabel(wordWrap=True, minimumWidth=220)
        box.layout().addWidget(self.folder_label, 1)
        gui.button(box, self, "Choose…", callback=self.choose_folder, autoDefault=False)
        self._show_folder()

    def _add_buttons(self):
        """The Save button with its auto-save box, and Cancel; call last."""
        self.info_label = QLabel("Nothing saved yet.", wordWrap=True)
        gui.widgetBox(self.controlArea, "Info").layout().addWidget(self.info_label)
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_saving, autoDefault=False)
        self.cancel_button.setEnabled(False)
        box = gui.auto_commit(self.buttonsArea, self, "auto_save", "Save", box=False,
                              checkbox_label="Save automatically", commit=self.commit)
        self.save_button = box.button

    def target_folder(self) -> str:
        """The folder to write into; "~" in the setting means the home folder
        (so a workflow can name a folder that exists on any machine)."""
        return os.path.expanduser(self.folder)

    def _show_folder(self):
        self.folder_label.setText(self.folder or "(no folder chosen)")
        self.folder_label.setToolTip(self.target_folder())

    def choose_folder(self):
        start = self.folder if self.folder and os.path.isdir(self.folder) \
            else os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, "Save into folder", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str):
        self.folder = folder
        self._show_folder()
        self.Error.no_folder.clear()
        self.commit.deferred()

    @gui.deferred
    def commit(self):
        self.Error.clear()
        self.Information.cancelled.clear()
        if not self._has_input():
            return
        if not self.folder:
            self.Error.no_folder()
            return
        self.Warning.skipped.clear()
        self.Error.stopped.clear()
        self.cancel_button.setEnabled(True)
        self.info_label.setText(f"Saving into {self.target_folder()} …")
        self._start_task()

    def _has_input(self) -> bool:
        raise NotImplementedError

    def _start_task(self):
        raise NotImplementedError

    def _set_result(self, result: Optional[object]):
        raise NotImplementedError

    def _idle(self):
        """Saving ended: Cancel off, Save on (saving again writes what is missing)."""
        self.cancel_button.setEnabled(False)
        self.save_button.setEnabled(self._has_input())

    def cancel_saving(self):
        self.cancel()
        self._idle()
        self.Information.cancelled()
        self.info_label.setText("Cancelled.")

    def on_done(self, result):
        self._idle()
        self.result = result
        save = self._save_report(result)
        self.info_label.setText(result.summary())
        if save.skipped:
            self.Warning.skipped(skipped_summary(
                [SkippedEntry(short_path(s.path), s.reason) for s in save.skipped],
                save.n_inputs))
        if save.stopped:
            self.Error.stopped(save.stopped)
        self._set_result(result)

    def _save_report(self, result):
        """The ``SaveReport`` in a task's result."""
        return result

    def on_exception(self, ex: Exception):
        self._idle()
        if isinstance(ex, Cancelled):
            self.Information.cancelled()
            return
        self.Error.failed(error_text(ex))
        self.info_label.setText("Nothing saved.")
        self._set_result(None)

    def on_partial_result(self, _):
        pass

    def _report_save(self, report):
        items = [("Folder", self.folder),
                 ("Saved", f"{len(report.saved):,} ({len(report.renamed):,} renamed)"),
                 ("Already present", f"{len(report.already_present):,}"),
                 ("Skipped", f"{len(report.skipped):,}")]
        if report.manifest:
            items.append(("Manifest", report.manifest))
        if report.stopped:
            items.append(("Stopped", report.stopped))
        self.report_items("Saved files", items)
        if report.skipped:
            self.report_items("Skipped files", [(s.path, s.reason)
                                                for s in report.skipped[:20]])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()
