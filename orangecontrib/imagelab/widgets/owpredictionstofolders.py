"""Predictions to Folders: one folder per predicted class, ``_review`` for the
unsure ones, from the output of Orange's Predictions widget."""
from typing import Optional

from AnyQt.QtCore import Qt

from Orange.data import DiscreteVariable, Table
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, Setting
from Orange.widgets.utils.itemmodels import VariableListModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.saving import (
    SortReport, find_prediction_columns, plan_predictions, sort_predictions)
from orangecontrib.imagelab.widgets.utils.contexts import CategoricalContextHandler
from orangecontrib.imagelab.widgets.utils.savefolder import (
    MODE_ITEMS, SaveToFolderWidget, TaskState, progress_callback, value_combo)


def run(data: Table, folder: str, column: str, min_confidence: float,
        review_below: Optional[float], max_images: Optional[int], mode: str,
        state: TaskState) -> SortReport:
    """Sort and save off the GUI thread, reporting percentages."""
    return sort_predictions(data, folder, prediction_column=column,
                            min_confidence=min_confidence, review_below=review_below,
                            max_images=max_images, mode=mode,
                            callback=progress_callback(state))


class OWPredictionsToFolders(SaveToFolderWidget):
    name = "Predictions to Folders"
    description = "Save predicted images into one folder per class, with a " \
                  "_review folder for unsure predictions."
    icon = "icons/PredictionsToFolders.svg"
    priority = 910
    keywords = "predictions to folders, sort images, save predictions, review, threshold"

    class Inputs:
        predictions = Input("Predictions", Table, default=True)

    class Outputs:
        sorted = Output("Sorted", Table, default=True)
        review = Output("Review", Table)
        rejected = Output("Rejected", Table)

    # Stores the categorical columns only (see utils/contexts.py), not every
    # feature of the predicted table.
    settingsHandler = CategoricalContextHandler()
    settings_version = 2
    prediction_column: Optional[DiscreteVariable] = ContextSetting(None)
    min_confidence: int = Setting(80)  # percent
    use_review: bool = Setting(True)
    review_below: int = Setting(50)    # percent
    limit_images: bool = Setting(False)
    max_images: int = Setting(100)
    mode: str = Setting("copy")

    class Error(SaveToFolderWidget.Error):
        no_predictions = Msg("{}")

    class Warning(SaveToFolderWidget.Warning):
        no_probabilities = Msg(
            "'{}' has no probabilities, so every image goes to its predicted "
            "class: in Predictions, show probabilities for 'Classes known to the model'.")

    @classmethod
    def migrate_context(cls, context, version):
        if version is None or version < 2:
            CategoricalContextHandler.shrink(context)  # all columns were stored

    def __init__(self):
        super().__init__()
        self.data: Optional[Table] = None
        self._has_probs = False

        box = gui.vBox(self.controlArea, "Prediction")
        self.column_model = VariableListModel()
        gui.comboBox(box, self, "prediction_column", model=self.column_model,
                     callback=self._options_changed)

        box = gui.vBox(self.controlArea, "Confidence")
        self.threshold_box = box
        gui.hSlider(box, self, "min_confidence", minValue=0, maxValue=100, step=1,
                    label="Class folder at ≥", labelFormat="%d %%",
                    callback=self._options_changed, createLabel=True)
        review = gui.hBox(box)
        gui.checkBox(review, self, "use_review", "_review at ≥",
                     callback=self._options_changed)
        self.review_slider = gui.hSlider(
            review, self, "review_below", minValue=0, maxValue=100, step=1,
            labelFormat="%d %%", callback=self._review_changed, createLabel=True)
        gui.spin(box, self, "max_images", 1, 1_000_000, label="At most per folder",
                 checked="limit_images", checkCallback=self._options_changed,
                 callback=self._options_changed, alignment=Qt.AlignRight,
                 controlWidth=80)
        self.plan_label = gui.widgetLabel(box, "")

        box = gui.vBox(self.controlArea, "Files")
        value_combo(self, box, "mode", MODE_ITEMS[:2], callback=self.commit.deferred)
        self._add_buttons()

    # ------------------------------------------------------------- input

    @Inputs.predictions
    def set_predictions(self, data: Optional[Table]):
        self.closeContext()
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.Error.no_predictions.clear()
        self.data, self.result = data, None
        candidates = find_prediction_columns(data.domain) if data is not None else []
        self.column_model[:] = [var for var, _ in candidates]
        self.prediction_column = candidates[0][0] if candidates else None
        if data is not None:
            if not candidates:
                self.Error.no_predictions(
                    "No prediction column: connect the output of Predictions.")
                self.data = None
            elif tables.find_image_column(data.domain) is None:
                self.Error.no_predictions("The data has no image column (type=image).")
                self.data = None
            self.openContext(data.domain)
        self._send(None)
        self._options_changed(commit=False)
        self.commit.deferred()

    def _has_input(self) -> bool:
        return self.data is not None and self.prediction_column is not None

    def _review_changed(self):
        self.use_review = True
        self._options_changed()

    def _arguments(self):
        probs = dict(find_prediction_columns(self.data.domain)).get(
            self.prediction_column, {})
        self._has_probs = bool(probs)
        if not probs:
            return 0.0, None, self.max_images if self.limit_images else None
        low = min(self.review_below, self.min_confidence) / 100
        return (self.min_confidence / 100, low if self.use_review else None,
                self.max_images if self.limit_images else None)

    def _options_changed(self, commit=True):
        self.review_slider.setEnabled(self.use_review)
        self.Warning.no_probabilities.clear()
        if not self._has_input():
            self.plan_label.setText("")
            return
        min_conf, review, max_images = self._arguments()
        self.threshold_box.setEnabled(True)
        if not self._has_probs:
            self.Warning.no_probabilities(self.prediction_column.name)
        plan = plan_predictions(self.data, prediction_column=self.prediction_column,
                                min_confidence=min_conf, review_below=review,
                                max_images=max_images)
        counts = plan.counts
        self.plan_label.setText(f"{counts['sorted']:,} to class folders, "
                                f"{counts['review']:,} to _review, "
                                f"{counts['rejected']:,} left out")
        if commit:
            self.commit.deferred()

    # ------------------------------------------------------------- saving

    def _start_task(self):
        min_conf, review, max_images = self._arguments()
        self.start(run, self.data, self.target_folder(), self.prediction_column.name,
                   min_conf, review, max_images, self.mode)

    def _save_report(self, result: SortReport):
        return result.save

    def _set_result(self, result: Optional[SortReport]):
        self._send(result)

    def _send(self, result: Optional[SortReport]):
        self.Outputs.sorted.send(result.sorted if result else None)
        self.Outputs.review.send(result.review if result else None)
        self.Outputs.rejected.send(result.rejected if result else None)

    def send_report(self):
        items = [("Folder", self.folder or "(none)"),
                 ("Prediction", self.prediction_column.name
                  if self.prediction_column is not None else "(none)"),
                 ("Class folder at", f"≥ {self.min_confidence} %")]
        if self.use_review:
            items.append(("_review at", f"≥ {min(self.review_below, self.min_confidence)} %"))
        if self.limit_images:
            items.append(("At most per folder", f"{self.max_images:,}"))
        self.report_items("Settings", items)
        if self.result is not None:
            self.report_items("Sorted", [(k, f"{v:,}") for k, v in self.result.counts.items()])
            self._report_save(self.result.save)


if __name__ == "__main__":  # pragma: no cover
    WidgetPreview(OWPredictionsToFolders).run()
