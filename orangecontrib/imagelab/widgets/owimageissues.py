"""Image Issues: duplicates, bad images, outliers and likely label errors, in one pass."""
from typing import Dict, List, Optional

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import QLabel

from Orange.data import Table, Variable
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, DomainContextHandler, Setting
from Orange.widgets.utils.itemmodels import VariableListModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.api.issues import (
    DEFAULT_THRESHOLDS, TITLES, IssueReport, find_issues)
from orangecontrib.imagelab.widgets.utils.issuesummary import (
    IssueSummaryModel, clean_mask, flagged_mask, summary_view)
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)


def run(data: Table, image_column: Variable, label_column: Optional[Variable],
        predictions: Optional[Table], thresholds: Dict[str, float],
        state: TaskState) -> IssueReport:
    """Find the issues off the GUI thread."""
    return find_issues(data, image_column=image_column,
                       labels=label_column if label_column is not None else False,
                       probabilities=predictions, thresholds=thresholds,
                       callback=progress_callback(state))


class OWImageIssues(OWWidget, TaskWidgetMixin):
    name = "Image Issues"
    description = ("Find duplicates, dark, blurry and odd images, outliers and likely "
                   "label errors; pass the flagged ones on for a look and a fix.")
    icon = "icons/ImageIssues.svg"
    priority = 160
    keywords = "image issues, duplicates, near duplicates, blurry, dark, quality, " \
               "outliers, label errors, mislabelled, clean, cleanvision, cleanlab"

    class Inputs:
        data = Input("Images", Table, default=True)
        predictions = Input("Predictions", Table)

    class Outputs:
        flagged = Output("Flagged", Table, default=True)
        clean = Output("Clean", Table)
        all = Output("All", Table)
        groups = Output("Duplicate Groups", Table)

    settingsHandler = DomainContextHandler()
    image_column: Optional[Variable] = ContextSetting(None)
    label_column: Optional[Variable] = ContextSetting(None)
    #: threshold key -> value, only those the user changed
    thresholds: Dict[str, float] = Setting({})
    #: issues that do not make an image flagged (unticked in the table)
    ignored_issues: List[str] = Setting([])
    keep_one_per_group: bool = Setting(True)
    auto_apply: bool = Setting(True)
    settings_version = 1

    want_main_area = False

    class Information(OWWidget.Information):
        skipped_checks = Msg("{}")

    class Warning(OWWidget.Warning):
        unreadable = Msg("{}")

    class Error(OWWidget.Error):
        no_image_column = Msg("The data has no image column: connect Import Images or "
                              "Image Embedding.")
        failed = Msg("{}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None
        self.predictions: Optional[Table] = None
        self.report_result: Optional[IssueReport] = None
        self.thresholds = {k: v for k, v in self.thresholds.items() if k in DEFAULT_THRESHOLDS}

        box = gui.vBox(self.controlArea, "Issues")
        self.summary = IssueSummaryModel(self)
        self.summary.set_state(self.ignored_issues, self.thresholds)
        self.summary.ticked_changed.connect(self._ticked_changed)
        self.summary.threshold_edited.connect(self._threshold_edited)
        self.summary_view = summary_view(self.summary, box)
        box.layout().addWidget(self.summary_view)
        hint = QLabel("Ticked issues make an image flagged. Double-click a threshold "
                      "to change it (scores below it are flagged).", wordWrap=True)
        hint.setStyleSheet("color: gray")
        box.layout().addWidget(hint)

        box = gui.vBox(self.controlArea, "Columns")
        self.image_model = VariableListModel(placeholder="(none)")
        gui.comboBox(box, self, "image_column", label="Image column:", model=self.image_model,
                     orientation=Qt.Horizontal, callback=self.commit.deferred)
        self.label_model = VariableListModel(placeholder="(no label check)")
        gui.comboBox(box, self, "label_column", label="Labels:", model=self.label_model,
                     orientation=Qt.Horizontal, callback=self.commit.deferred)

        box = gui.vBox(self.controlArea, "Output")
        gui.checkBox(box, self, "keep_one_per_group", "Keep one image per duplicate group in Clean",
                     callback=self._send_outputs,
                     tooltip="The largest image of each group (then the oldest file) "
                             "counts as clean if it has no other issue.")
        gui.button(box, self, "Reset Thresholds", callback=self._reset_thresholds,
                   autoDefault=False)
        self.status_label = QLabel("No data.", wordWrap=True)
        self.controlArea.layout().addWidget(self.status_label)
        gui.auto_apply(self.buttonsArea, self)

    # ---------------------------------------------------------------- inputs

    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.data = data
        domain = data.domain if data is not None else None
        images = tables.image_column_candidates(domain) if domain is not None else []
        labels = [var for var in domain.variables + domain.metas
                  if var.is_discrete] if domain is not None else []
        self.image_model[:] = images
        self.label_model[:] = [None] + labels
        self.image_column = images[0] if images else None
        class_var = domain.class_var if domain is not None else None
        self.label_column = class_var if class_var is not None and class_var.is_discrete \
            else None
        if data is not None:
            self.openContext(data)

    @Inputs.predictions
    def set_predictions(self, predictions: Optional[Table]):
        self.predictions = predictions

    def handleNewSignals(self):
        self.commit.now()

    # -------------------------------------------------------------- controls

    def _ticked_changed(self):
        self.ignored_issues = [check for check in self.summary.checks()
                               if check not in self.summary.ticked()]
        self._send_outputs()

    def _threshold_edited(self, key: str, value: float):
        if value == DEFAULT_THRESHOLDS[key]:
            self.thresholds.pop(key, None)
        else:
            self.thresholds[key] = value
        self.commit.deferred()

    def _reset_thresholds(self):
        self.thresholds = {}
        self.commit.deferred()

    # ---------------------------------------------------------------- commit

    @gui.deferred
    def commit(self):
        self.cancel()
        self.Error.clear()
        self.Warning.clear()
        self.Information.clear()
        self.report_result = None
        self.summary.set_state(self.ignored_issues, self.thresholds)
        if self.data is None or not len(self.data):
            self.status_label.setText("No data." if self.data is None else "No images.")
            self._send_outputs()
            return
        if self.image_column is None:
            self.Error.no_image_column()
            self._send_outputs()
            return
        self.status_label.setText(f"Checking {len(self.data):,} images …")
        self.start(run, self.data, self.image_column, self.label_column, self.predictions,
                   dict(self.thresholds))

    def on_partial_result(self, _):
        pass

    def on_done(self, report: IssueReport):
        self.report_result = report
        if report.errors:
            self.Warning.unreadable(skipped_summary(report.errors, len(self.data),
                                                    noun="images", verb="unreadable"))
        skipped = [f"{TITLES[check].capitalize()}: {note[len('skipped: '):]}"
                   for check, note in report.notes.items() if note.startswith("skipped")]
        if skipped:
            self.Information.skipped_checks("; ".join(skipped))
        self.summary.set_state(self.ignored_issues, self.thresholds, report.counts,
                               report.notes)
        self._send_outputs()

    def on_exception(self, ex: Exception):
        self.status_label.setText("")
        self.Error.failed(error_text(ex))
        self._send_outputs()

    def _masks(self):
        arrays = self.report_result.arrays
        ticked = self.summary.ticked()
        return (flagged_mask(arrays.flags, ticked),
                clean_mask(arrays, ticked, self.keep_one_per_group))

    def _send_outputs(self):
        report = self.report_result
        if report is None or report.data is None:
            for output in (self.Outputs.flagged, self.Outputs.clean, self.Outputs.all,
                           self.Outputs.groups):
                output.send(None)
            return
        flagged, clean = self._masks()
        # "issue" and "issues" name the ticked issues only, as the flags do
        data = report.with_issues(self.summary.ticked())
        self.Outputs.flagged.send(data[flagged.nonzero()[0]] if flagged.any() else None)
        self.Outputs.clean.send(data[clean.nonzero()[0]] if clean.any() else None)
        self.Outputs.all.send(data)
        self.Outputs.groups.send(report.groups)
        n_groups = len(set(report.arrays.groups[report.arrays.groups >= 0].tolist()))
        self.status_label.setText(
            f"{len(data):,} images: {int(flagged.sum()):,} flagged, {int(clean.sum()):,} clean; "
            f"{n_groups:,} duplicate group{'s' if n_groups != 1 else ''}"
            + (f"; {report.cached:,} from the cache." if report.cached else "."))

    def send_report(self):
        if self.data is None:
            return
        items = [("Images", f"{len(self.data):,}"),
                 ("Image column", self.image_column.name if self.image_column else "none"),
                 ("Labels", self.label_column.name if self.label_column else "none"),
                 ("Ticked issues", ", ".join(TITLES[c] for c in self.summary.ticked())),
                 ("Keep one per duplicate group", "yes" if self.keep_one_per_group else "no")]
        if self.report_result is not None:
            items.append(("Result", self.status_label.text()))
        self.report_items("Settings", items)
        if self.report_result is not None:
            rows = []
            for row in self.report_result.summary:
                count, limit = float(row["images"]), row["threshold"].value
                text = "skipped" if count != count else f"{int(count):,} images"
                text += f" ({limit})" if limit else ""
                note = row["how"].value
                rows.append((row["issue"].value, f"{text}; {note}" if note else text))
            self.report_items("Issues (counts and thresholds used)", rows)

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    import os
    from orangecontrib.imagelab import import_images
    import orangecontrib.imagelab as imagelab
    SAMPLE = os.path.join(os.path.dirname(imagelab.__file__), "sample", "fashion", "labelled")
    WidgetPreview(OWImageIssues).run(import_images(SAMPLE).data)
