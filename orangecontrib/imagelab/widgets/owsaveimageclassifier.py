"""Save Image Classifier: write an Image Classifier model as one portable ONNX file."""
import os
from typing import Optional

from AnyQt.QtWidgets import QLabel

from Orange.base import Model
from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.utils.save.owsavebase import OWSaveBase
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg

from orangecontrib.imagelab.api import Cancelled
from orangecontrib.imagelab.api.classifier import ImageClassifierModel, export_onnx
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import TaskState, TaskWidgetMixin


def save(model: ImageClassifierModel, path: str, state: TaskState) -> str:
    """Build and write the file off the GUI thread (about a second, 13 MB)."""
    state.set_status("Saving …")
    export_onnx(model, path, overwrite=True)  # the save dialog asked before replacing
    return path


class OWSaveImageClassifier(OWSaveBase, TaskWidgetMixin):
    name = "Save Image Classifier"
    description = "Save a model from Image Classifier as one ONNX file that runs " \
                  "on images with onnxruntime alone, without Orange."
    icon = "icons/SaveImageClassifier.svg"
    priority = 410
    keywords = "save image classifier, export, onnx, deploy, model"

    settings_version = 1
    filters = ["ONNX model (*.onnx)"]
    # Two of OWSaveBase's settings, declared again with their types so that a
    # tampered workflow is reset instead of failing (see utils/settings.py);
    # OWSaveBase itself replaces bad paths and filters with defaults of its own.
    stored_name: str = Setting("", schema_only=True)
    auto_save: bool = Setting(False, schema_only=True)

    class Inputs:
        model = Input("Model", Model, default=True)

    class Error(OWSaveBase.Error):
        wrong_model = Msg("{}")
        failed = Msg("Not saved: {}")

    def __init__(self):
        TaskWidgetMixin.__init__(self)
        OWSaveBase.__init__(self, start_row=1)
        self.info_label = QLabel("No model.", wordWrap=True)
        box = gui.vBox(self.controlArea, "Model")
        box.layout().addWidget(self.info_label)
        self.saved_path: Optional[str] = None

    @Inputs.model
    def set_model(self, model: Optional[Model]):
        self.cancel()
        problem = None
        if isinstance(model, ImageClassifierModel) and model.preprocessed:
            problem = "This model was trained with a Preprocessor on the embeddings, " \
                      "which an ONNX file cannot hold; train it without the Preprocessor input."
        elif model is not None and not isinstance(model, ImageClassifierModel):
            problem = f"'{model.name}' is not an Image Classifier model: connect the Model " \
                      "output of Image Classifier (other models: Save Model)."
        self.data = None if problem else model
        self._describe()
        self.on_new_input()  # clears the messages, and saves if auto save is on
        self.Error.wrong_model(problem, shown=problem is not None)

    def _describe(self):
        model = self.data
        if model is None:
            self.info_label.setText("No model.")
            return
        augmented = f", {model.n_augmented:,} augmented copies" if model.n_augmented else ""
        self.info_label.setText(
            f"{model.backbone} + {model.head_kind} head; classes: {', '.join(model.classes)}; "
            f"trained on {model.n_images:,} images{augmented}.")

    def do_save(self):
        """Save in a background task; the GUI never waits for the disk."""
        self.Error.failed.clear()
        self.start(save, self.data, self.filename)

    def on_done(self, path: str):
        self.saved_path = path
        size = os.path.getsize(path) / 1e6
        self._describe()
        self.info_label.setText(
            self.info_label.text() + f"\nSaved {os.path.basename(path)} ({size:.1f} MB). "
            "Run it anywhere with onnxruntime, numpy and Pillow (see the help page).")

    def on_exception(self, ex: Exception):
        if not isinstance(ex, Cancelled):
            self.Error.failed(error_text(ex))

    def send_report(self):
        self.report_items((("File", self.filename or "not set"),
                           ("Model", self.info_label.text())))

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    WidgetPreview(OWSaveImageClassifier).run()
