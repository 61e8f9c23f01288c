"""Download Images: fetch the images named by a URL column into a folder,
in parallel, once, resumably; every failure named."""
import os
from typing import Optional

from AnyQt.QtWidgets import QFileDialog, QFormLayout, QLabel

from Orange.data import Table, Variable
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, DomainContextHandler, Setting
from Orange.widgets.utils.itemmodels import VariableListModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.api.download import (
    DownloadResult, DownloadStats, download_images, find_id_column, url_column_candidates)
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    Cancelled, TaskState, TaskWidgetMixin, progress_callback)

DEFAULT_FOLDER = "~/Image Lab/downloads"


def run(data: Table, boxes: Optional[Table], folder: str, url_column: Variable,
        id_column: Optional[Variable], options: dict, state: TaskState) -> DownloadResult:
    """Download off the GUI thread; partial results are (done, total, images/s, MB/s)."""
    stats = DownloadStats()

    def status(_fraction):
        images, megabytes = stats.rates()
        return stats.done, stats.total, images, megabytes

    return download_images(data, folder, url_column=url_column,
                           id_column=id_column if id_column is not None else False,
                           boxes=boxes, stats=stats,
                           callback=progress_callback(state, status=status), **options)


class OWDownloadImages(OWWidget, TaskWidgetMixin):
    name = "Download Images"
    description = "Download the images of a URL column into a folder: in parallel, " \
                  "each once, resuming broken downloads, naming every failure."
    icon = "icons/DownloadImages.svg"
    priority = 15
    keywords = "download images, fetch, url, http, web, open images, dataset"

    class Inputs:
        data = Input("Data", Table, default=True)
        boxes = Input("Boxes", Table)

    class Outputs:
        images = Output("Images", Table, default=True)
        failed = Output("Failed", Table)
        boxes = Output("Boxes", Table)

    settingsHandler = DomainContextHandler()
    url_column: Optional[Variable] = ContextSetting(None)
    id_column: Optional[Variable] = ContextSetting(None)
    folder: str = Setting(DEFAULT_FOLDER)
    skip_existing: bool = Setting(True)
    threads: int = Setting(16, range=(1, 64))
    timeout: int = Setting(30, range=(1, 600))           # seconds per attempt, in all
    retries: int = Setting(3, range=(0, 10))
    max_megabytes: int = Setting(50, range=(1, 2000))
    auto_commit: bool = Setting(True)
    settings_version = 1

    want_main_area = False
    resizing_enabled = False

    class Warning(OWWidget.Warning):
        failed = Msg("{}")
        boxes_left_out = Msg("{} boxes skipped: their images were not downloaded.")
        not_boxes = Msg("The Boxes input is not a boxes table (x min, y min, x max, "
                        "y max and an image column); it is ignored.")

    class Error(OWWidget.Error):
        no_url_column = Msg("The data has no column of URLs (http://, https:// or file:).")
        no_folder = Msg("Choose a folder to download into.")
        all_failed = Msg("No image could be downloaded: {}")
        failed = Msg("{}")

    class Information(OWWidget.Information):
        cancelled = Msg("Cancelled: the files that were complete are kept; download "
                        "again to fetch the rest (nothing is fetched twice).")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None
        self.boxes: Optional[Table] = None
        self.result: Optional[DownloadResult] = None

        box = gui.vBox(self.controlArea, "URLs")
        form = QFormLayout()
        box.layout().addLayout(form)
        self.url_model = VariableListModel(placeholder="(none)")
        self.url_combo = gui.comboBox(None, self, "url_column", model=self.url_model,
                                      callback=self.commit.deferred)
        form.addRow("URL column:", self.url_combo)
        self.id_model = VariableListModel(placeholder="(from the URLs)")
        self.id_combo = gui.comboBox(
            None, self, "id_column", model=self.id_model, callback=self.commit.deferred,
            tooltip="Files are named by this column (e.g. an image ID), else by "
                    "their URL; the extension follows what arrived.")
        form.addRow("File names:", self.id_combo)

        box = gui.hBox(self.controlArea, "Folder")
        self.folder_label = QLabel(wordWrap=True, minimumWidth=220)
        box.layout().addWidget(self.folder_label, 1)
        gui.button(box, self, "Choose…", callback=self.choose_folder, autoDefault=False)
        self._show_folder()

        box = gui.vBox(self.controlArea, "Options")
        gui.checkBox(box, self, "skip_existing", "Skip images already in the folder",
                     callback=self.commit.deferred,
                     tooltip="On: an image already downloaded is kept and counted as "
                             "present. Off: it is fetched again; different content "
                             "goes to a new name (nothing is overwritten).")
        gui.spin(box, self, "threads", 1, 64, label="Downloads at once:",
                 callback=self.commit.deferred)
        gui.spin(box, self, "timeout", 1, 600, label="Give up on a request after (s):",
                 callback=self.commit.deferred,
                 tooltip="A total deadline per attempt: a server that answers slowly "
                         "or not at all cannot hold a download longer.")
        gui.spin(box, self, "retries", 0, 10, label="Retries (server errors, timeouts):",
                 callback=self.commit.deferred)
        gui.spin(box, self, "max_megabytes", 1, 2000, label="Largest image (MB):",
                 callback=self.commit.deferred)

        box = gui.vBox(self.controlArea, "Info")
        self.info_label = QLabel("No data.", wordWrap=True)
        box.layout().addWidget(self.info_label)
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_download, autoDefault=False)
        self.cancel_button.setEnabled(False)
        gui.auto_apply(self.buttonsArea, self, "auto_commit", commit=self.commit)

    # --------------------------------------------------------------- folder

    def target_folder(self) -> str:
        """The folder to download into; "~" is the home folder, so a workflow
        can name a folder that exists on any machine."""
        return os.path.expanduser(self.folder)

    def _show_folder(self):
        self.folder_label.setText(self.folder or "(no folder chosen)")
        self.folder_label.setToolTip(self.target_folder())

    def choose_folder(self):
        start = self.target_folder() if os.path.isdir(self.target_folder()) \
            else os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self, "Download into folder", start)
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str):
        self.folder = folder
        self._show_folder()
        self.commit.deferred()

    # --------------------------------------------------------------- inputs

    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.cancel()
        self.Error.no_url_column.clear()
        self.data = data
        urls = url_column_candidates(data) if data is not None else []
        self.url_model[:] = urls
        self.url_column = urls[0] if urls else None
        ids = [var for var in data.domain.metas + data.domain.variables
               if var.is_string or var.is_discrete] if data is not None else []
        self.id_model[:] = [None] + ids
        self.id_column = find_id_column(data.domain) if data is not None else None
        if data is not None and not urls:
            self.Error.no_url_column()
        elif data is not None:
            self.openContext(data.domain)
            if self.url_column not in urls:  # a context may hold no column at all
                self.url_column = urls[0]

    @Inputs.boxes
    def set_boxes(self, boxes: Optional[Table]):
        self.boxes = boxes

    def handleNewSignals(self):
        self.commit.now()

    # --------------------------------------------------------------- commit

    @gui.deferred
    def commit(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        for msg in (self.Warning.failed, self.Warning.boxes_left_out, self.Warning.not_boxes,
                    self.Error.no_folder, self.Error.all_failed, self.Error.failed,
                    self.Information.cancelled):
            msg.clear()
        self.result = None
        if self.data is None or self.url_column is None or not len(self.data):
            self.info_label.setText("No data." if self.data is None else "No URLs.")
            self._send(None)
            return
        if not self.folder.strip():
            self.Error.no_folder()
            self._send(None)
            return
        boxes = self.boxes
        if boxes is not None and not tables.is_boxes_table(boxes):
            self.Warning.not_boxes()
            boxes = None
        options = dict(skip_existing=self.skip_existing, threads=self.threads,
                       timeout=self.timeout, retries=self.retries,
                       max_bytes=self.max_megabytes * 1_000_000)
        self.info_label.setText(f"Downloading {len(self.data):,} images into "
                                f"{self.target_folder()} …")
        self.cancel_button.setEnabled(True)
        self.start(run, self.data, boxes, self.target_folder(), self.url_column,
                   self.id_column, options)

    def cancel_download(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.Information.cancelled()
        self.info_label.setText("Cancelled.")

    def on_partial_result(self, progress):
        done, total, images, megabytes = progress
        self.info_label.setText(f"{done:,} of {total:,} images, {images:,.1f} images/s, "
                                f"{megabytes:,.2f} MB/s")

    def on_done(self, result: DownloadResult):
        self.cancel_button.setEnabled(False)
        self.result = result
        total = len(self.data)
        text = (f"{result.n_downloaded:,} downloaded, {result.n_present:,} already there, "
                f"{result.n_failed:,} failed; {result.received / 1e6:,.1f} MB in "
                f"{result.seconds:,.1f} s.")
        if result.failed:
            summary = skipped_summary(result.failed, total, noun="URLs", verb="failed")
            (self.Warning.failed if result.data is not None else self.Error.all_failed)(summary)
            text += "\n" + summary  # the message bar cuts long texts; here they wrap
        self.info_label.setText(text)
        if self.boxes is not None and result.boxes is not None \
                and len(result.boxes) < len(self.boxes):
            self.Warning.boxes_left_out(f"{len(self.boxes) - len(result.boxes):,}")
        self._send(result)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        if isinstance(ex, Cancelled):
            return
        self.Error.failed(error_text(ex))
        self.info_label.setText("Nothing downloaded.")
        self._send(None)

    def _send(self, result: Optional[DownloadResult]):
        self.Outputs.images.send(result.data if result else None)
        self.Outputs.failed.send(result.failed_data if result else None)
        self.Outputs.boxes.send(result.boxes if result else None)

    def send_report(self):
        self.report_items("Settings", [
            ("URL column", self.url_column.name if self.url_column else "none"),
            ("File names", self.id_column.name if self.id_column else "from the URLs"),
            ("Folder", self.folder), ("Skip existing", self.skip_existing),
            ("Downloads at once", self.threads), ("Deadline per request", f"{self.timeout} s"),
            ("Retries", self.retries), ("Largest image", f"{self.max_megabytes} MB")])
        if self.result is not None:
            result = self.result
            self.report_items("Result", [("Downloaded", f"{result.n_downloaded:,}"),
                                         ("Already there", f"{result.n_present:,}"),
                                         ("Failed", f"{result.n_failed:,}")])
            if result.failed:
                self.report_items("Failed URLs", [(e.path, e.reason)
                                                  for e in result.failed[:20]])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    import tempfile
    from orangecontrib.imagelab.api.subset import select_subset
    from orangecontrib.imagelab.widgets.utils.preview import sample_path
    _subset = select_subset(sample_path("openimages"), ["Dress", "Footwear", "Handbag"])
    _preview = WidgetPreview(OWDownloadImages)
    _preview.create_widget()
    _preview.widget.folder = tempfile.mkdtemp(prefix="imagelab-download-")
    _preview.widget._show_folder()  # pylint: disable=protected-access
    _preview.run(set_data=_subset.images, set_boxes=_subset.boxes)
