"""Image Labels: ImageNet labels for each image, and a filter that keeps the
images that show a label ("bird", "cat, dog", ...), with a review band."""
import os
from typing import Optional

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import QCompleter, QLineEdit

from Orange.data import StringVariable, Table
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, DomainContextHandler, Setting
from Orange.widgets.utils.itemmodels import VariableListModel
from Orange.widgets.utils.signals import Input, Output
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Msg, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import SkippedEntry, UnknownLabelError, skipped_summary
from orangecontrib.imagelab.api.labels import (
    LabelFilterResult, filter_by_label, label_images, label_vocabulary)
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

#: The control area's width (the widget keeps it whatever the texts say).
CONTROL_WIDTH = 340

MODELS = (("efficientnet-lite0", "EfficientNet-Lite0"), ("squeezenet", "SqueezeNet 1.1"))


def run(data: Table, column, labels: str, options: dict, state: TaskState
        ) -> LabelFilterResult:
    """Label (and, if ``labels`` is given, filter) ``data`` in a worker thread."""
    callback = progress_callback(state)
    if labels.strip():
        return filter_by_label(data, labels, column=column, callback=callback, **options)
    options = {k: options[k] for k in ("model", "top_k")}
    return label_images(data, column=column, callback=callback, **options)


class CommaCompleter(QCompleter):
    """Completes the last of several comma-separated names."""

    def pathFromIndex(self, index):
        path = super().pathFromIndex(index)
        before = self.widget().text().split(",")[:-1]
        return ", ".join([part.strip() for part in before] + [path])

    def splitPath(self, path):
        return [path.split(",")[-1].strip()]


def sentence(text: str) -> str:
    """First letter upper case, the rest as it is (str.capitalize lowers names)."""
    return text[:1].upper() + text[1:]


def short_entries(errors, origin: Optional[str]):
    """``errors`` with paths relative to the image column's ``origin`` where
    they are under it, else file names: what a user recognises."""
    def short(path):
        if origin and os.path.isabs(path) and path.startswith(os.path.abspath(origin)):
            return os.path.relpath(path, origin).replace(os.sep, "/")
        return os.path.basename(path) or path
    return [SkippedEntry(short(e.path), e.reason) for e in errors]


class OWImageLabels(OWWidget, TaskWidgetMixin):
    name = "Image Labels"
    description = ("Detect what each image shows (1,000 ImageNet classes with their "
                   "general WordNet names) and keep the images that show a label.")
    icon = "icons/ImageLabels.svg"
    priority = 150
    keywords = ["label", "detect", "classify", "imagenet", "filter", "tag", "wordnet"]

    class Inputs:
        data = Input("Images", Table)

    class Outputs:
        matched = Output("Matched", Table, default=True)
        review = Output("Review", Table)
        rejected = Output("Rejected", Table)
        labelled = Output("Labelled Images", Table)

    settings_version = 1
    settingsHandler = DomainContextHandler()
    image_column: Optional[StringVariable] = ContextSetting(None)
    label_text: str = Setting("", schema_only=True)
    model: str = Setting("efficientnet-lite0", choices=tuple(key for key, _ in MODELS))
    top_k: int = Setting(5, range=(1, 20))
    threshold: int = Setting(50, range=(1, 99))         # percent
    use_review: bool = Setting(True)
    review_min: int = Setting(20, range=(0, 99))        # percent
    use_cap: bool = Setting(False)
    max_scanned: int = Setting(1000, range=(1, 10_000_000))
    use_stop: bool = Setting(False)
    stop_after_misses: int = Setting(200, range=(1, 1_000_000))
    auto_apply: bool = Setting(True)

    want_main_area = False
    resizing_enabled = False

    class Information(OWWidget.Information):
        stopped = Msg("{}; {:,} of {:,} images not scanned (in no output but "
                      "Labelled Images, as 'not scanned').")

    class Warning(OWWidget.Warning):
        unreadable = Msg("{}")

    class Error(OWWidget.Error):
        unknown_label = Msg("{}")
        no_image_column = Msg("Input has no image column: connect Import Images, or data "
                              "with a text column of file paths.")
        failed = Msg("Labelling failed: {}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None
        self.result: Optional[LabelFilterResult] = None
        self.vocabulary = label_vocabulary()
        if self.model not in dict(MODELS):
            self.model = MODELS[0][0]

        box = gui.vBox(self.controlArea, "Label")
        self.label_edit = QLineEdit(self.label_text, placeholderText="e.g. bird, or cat, dog")
        self.label_edit.setToolTip(
            "One or more names, separated by commas; an image matches if it shows any.\n"
            "General names (bird, dog, vehicle, fruit) cover all classes under them.\n"
            "Leave empty to only add labels to all images.")
        completer = CommaCompleter(self.vocabulary.names(), self.label_edit)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setFilterMode(Qt.MatchContains)
        self.label_edit.setCompleter(completer)
        self.label_edit.editingFinished.connect(self._label_edited)
        self.label_edit.textChanged.connect(self._update_hint)
        box.layout().addWidget(self.label_edit)
        self.hint = gui.widgetLabel(box, "")
        self.hint.setWordWrap(True)

        box = gui.vBox(self.controlArea, "Thresholds")
        gui.hSlider(box, self, "threshold", minValue=1, maxValue=99, label="Match at:",
                    callback=self._threshold_changed, labelFormat=" %d %%",
                    createLabel=True)
        row = gui.hBox(box)
        gui.checkBox(row, self, "use_review", "Review from:", callback=self._options_changed)
        gui.hSlider(row, self, "review_min", minValue=0, maxValue=99,
                    callback=self._review_changed, labelFormat=" %d %%", createLabel=True)

        box = gui.vBox(self.controlArea, "Scan")
        gui.spin(box, self, "max_scanned", 1, 10_000_000, step=100,
                 label="Look at the first", checked="use_cap",
                 checkCallback=self._options_changed, callback=self._options_changed,
                 controlWidth=90)
        gui.spin(box, self, "stop_after_misses", 1, 1_000_000, step=10,
                 label="Stop after misses in a row:", checked="use_stop",
                 checkCallback=self._options_changed, callback=self._options_changed,
                 controlWidth=90)

        box = gui.vBox(self.controlArea, "Labels")
        self.column_model = VariableListModel(placeholder="(none)")
        gui.comboBox(box, self, "image_column", label="Image column:",
                     orientation=Qt.Horizontal, model=self.column_model,
                     callback=self._options_changed)
        self.model_combo = gui.comboBox(
            box, self, None, label="Model:", orientation=Qt.Horizontal,
            items=[name for _, name in MODELS], callback=self._model_changed)
        self.model_combo.setCurrentIndex([key for key, _ in MODELS].index(self.model))
        gui.spin(box, self, "top_k", 1, 20, label="Labels per image:",
                 callback=self._options_changed, controlWidth=60)

        self.counts_label = gui.widgetLabel(self.controlArea, "No data.")
        self.counts_label.setWordWrap(True)
        gui.auto_apply(self.buttonsArea, self)
        self._update_hint()
        # Long hints and counts wrap instead of widening the window at every run.
        self.controlArea.setFixedWidth(max(self.controlArea.sizeHint().width(), CONTROL_WIDTH))

    # -- controls ----------------------------------------------------------
    def _label_edited(self):
        text = self.label_edit.text().strip()
        if text != self.label_text:
            self.label_text = text
            self.commit.deferred()

    def _update_hint(self):
        text = self.label_edit.text().strip()
        if not text:
            self.hint.setText("No label: every image gets its top labels.")
            return
        try:
            classes = self.vocabulary.classes_for(text)
        except UnknownLabelError as err:
            self.hint.setText(sentence(str(err)))
            return
        names = [self.vocabulary.class_names[i] for i in classes[:4]]
        more = ", ..." if len(classes) > 4 else ""
        self.hint.setText(f"{len(classes)} class{'es' if len(classes) > 1 else ''}: "
                          f"{', '.join(names)}{more}")

    def _threshold_changed(self):
        if self.review_min > self.threshold:
            self.review_min = self.threshold
        self.commit.deferred()

    def _review_changed(self):
        if self.review_min > self.threshold:
            self.threshold = self.review_min
        self.commit.deferred()

    def _model_changed(self):
        self.model = MODELS[self.model_combo.currentIndex()][0]
        self.commit.deferred()

    def _options_changed(self):
        self.commit.deferred()

    # -- data --------------------------------------------------------------
    @Inputs.data
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.data = data
        candidates = tables.image_column_candidates(data.domain) if data else []
        self.column_model[:] = candidates
        self.image_column = candidates[0] if candidates else None
        if data is not None:
            self.openContext(data)
        self.commit.now()

    @gui.deferred
    def commit(self):
        self.cancel()
        self.clear_messages()
        self.result = None
        self.counts_label.setText("")   # no counts of an earlier run next to an error
        self.label_text = self.label_edit.text().strip()
        if self.data is None or not len(self.data):
            self._send(None)
            self.counts_label.setText("No data.")
            return
        if self.image_column is None:
            self.Error.no_image_column()
            self._send(None)
            return
        if self.label_text:
            try:
                self.vocabulary.classes_for(self.label_text)
            except UnknownLabelError as err:
                self.Error.unknown_label(sentence(str(err)))
                self._send(None)
                return
        options = dict(model=self.model, top_k=self.top_k,
                       min_confidence=self.threshold / 100,
                       review_min=self.review_min / 100 if self.use_review else None,
                       max_scanned=self.max_scanned if self.use_cap else None,
                       stop_after_misses=self.stop_after_misses if self.use_stop else None)
        self.counts_label.setText("Labelling ...")
        self.start(run, self.data, self.image_column, self.label_text, options)

    def on_partial_result(self, _):
        pass

    def on_done(self, result: LabelFilterResult):
        self.result = result
        if result.errors:
            origin = self.image_column.attributes.get("origin") if self.image_column else None
            self.Warning.unreadable(skipped_summary(
                short_entries(result.errors, origin), result.scanned, noun="images"))
        if result.stopped_early:
            self.Information.stopped(sentence(result.stop_reason),
                                     result.not_scanned, result.total)
        counts = result.counts
        if "matched" in counts:
            self.counts_label.setText(
                f"Scanned {result.scanned:,} of {result.total:,}: {counts['matched']:,} "
                f"matched, {counts['review']:,} to review, {counts['rejected']:,} rejected"
                + (f", {counts['unreadable']:,} skipped (unreadable)"
                   if counts['unreadable'] else ""))
        else:
            self.counts_label.setText(f"Labelled {result.total:,} images.")
        self._send(result)

    def on_exception(self, ex: Exception):
        self.counts_label.setText("")
        self.Error.failed(error_text(ex))
        self._send(None)

    def _send(self, result: Optional[LabelFilterResult]):
        self.Outputs.matched.send(result and result.matched)
        self.Outputs.review.send(result and result.review)
        self.Outputs.rejected.send(result and result.rejected)
        self.Outputs.labelled.send(result and result.labelled)

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()

    def send_report(self):
        items = [("Label", self.label_text or "(none: top labels only)"),
                 ("Model", dict(MODELS)[self.model]),
                 ("Match at", f"{self.threshold} %")]
        if self.use_review:
            items.append(("Review from", f"{self.review_min} %"))
        if self.use_cap:
            items.append(("Cap", f"first {self.max_scanned:,} images"))
        if self.use_stop:
            items.append(("Early stop", f"after {self.stop_after_misses:,} misses in a row"))
        if self.result is not None:
            items.append(("Result", self.counts_label.text()))
            if self.result.stop_reason:
                items.append(("Stopped", self.result.stop_reason))
        self.report_items("Settings", items)
        if self.result is not None and self.result.matched is not None:
            self.report_table("Matched", self.result.matched, 20)


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_images
    WidgetPreview(OWImageLabels).run(sample_images())
