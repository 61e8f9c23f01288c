"""Image Classifier: a learner that takes images (a frozen network + a trained head),
with augmentation confined to the training data."""
from typing import Optional

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import QComboBox, QGridLayout, QLabel

from Orange.data import Table
from Orange.widgets import gui
from Orange.widgets.settings import Setting
from Orange.widgets.utils.owlearnerwidget import OWBaseLearner
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Msg, Output

from orangecontrib.imagelab.api import Cancelled, skipped_summary
from orangecontrib.imagelab.api.classifier import (
    Augment, ImageClassifierLearner, TrainResult, train_classifier)
from orangecontrib.imagelab.api.embedding import DEFAULT_MODEL, model_specs
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

HEADS = [("logistic", "Logistic regression"), ("mlp", "Neural network (one hidden layer)")]
C_VALUES = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0]


def fit(learner: ImageClassifierLearner, data: Table, embedded: Optional[Table],
        state: TaskState) -> TrainResult:
    """Embed the images unless done already (the slow part), then train; off
    the GUI thread, with progress and Cancel."""
    total = len(data)
    copies = learner.copies
    split = 0.5 if copies else 0.9

    def status(fraction: float) -> str:
        if fraction < split and embedded is None:
            return f"Embedding {total:,} images …"
        if copies and fraction < 0.99:
            return f"Embedding augmented copies ({copies} per image) …"
        return "Training the head …"

    return train_classifier(learner, data, embedded=embedded,
                            callback=progress_callback(state, status))


class OWImageClassifier(OWBaseLearner, TaskWidgetMixin):
    name = "Image Classifier"
    description = "Learn to classify images: a frozen neural network that ships " \
                  "with the add-on and a small trained head, with augmentation " \
                  "inside the training data only."
    icon = "icons/ImageClassifier.svg"
    priority = 400
    keywords = "image classifier, transfer learning, augmentation, neural network, " \
               "learner, efficientnet"

    LEARNER = ImageClassifierLearner
    settings_version = 1

    class Outputs(OWBaseLearner.Outputs):
        embedded = Output("Embedded Images", Table, explicit=False,
                          doc="The input's readable images with their embedding "
                              "columns: connect it to Test and Score's Data.")

    model_key: str = Setting(DEFAULT_MODEL)  # unknown keys: a warning, the default
    head: str = Setting("logistic", choices=tuple(key for key, _ in HEADS))
    C: float = Setting(1.0, range=(1e-4, 1e4))
    hidden: int = Setting(256, range=(8, 4096))
    augment: bool = Setting(False)
    copies: int = Setting(4, range=(1, 50))
    flip_h: bool = Setting(True)
    flip_v: bool = Setting(False)
    rotate: int = Setting(30, range=(0, 180))             # degrees
    shift: float = Setting(0.2, range=(0.0, 1.0))
    zoom: float = Setting(0.5, range=(0.0, 0.95))
    shear: float = Setting(0.2, range=(0.0, 1.2))         # radians
    brightness: float = Setting(0.2, range=(0.0, 0.95))
    seed: int = Setting(0, range=(0, 2 ** 31 - 1))

    class Warning(OWBaseLearner.Warning):
        skipped = Msg("{}")
        unknown_model = Msg("Model '{}' is not available here; using {}.")

    class Error(OWBaseLearner.Error):
        bad_option = Msg("{}")

    def __init__(self):
        self._embedded = None
        TaskWidgetMixin.__init__(self)
        self._models = [spec.key for spec in model_specs()]
        if self.model_key not in self._models:
            self.Warning.unknown_model(self.model_key, self._models[0])
            self.model_key = self._models[0]
        OWBaseLearner.__init__(self)

    # ------------------------------------------------------------------ GUI

    def add_main_layout(self):
        box = gui.vBox(self.controlArea, "Network (frozen)")
        self.model_combo = QComboBox()
        for spec in model_specs():
            self.model_combo.addItem(f"{spec.name} ({spec.dimension} features)")
            self.model_combo.setItemData(
                self.model_combo.count() - 1,
                f"{spec.description}\nLicence: {spec.licence}", Qt.ToolTipRole)
        # the setting is the model's key, never the combo's index
        self.model_combo.setCurrentIndex(self._models.index(self.model_key))
        self.model_combo.activated.connect(self._model_chosen)
        box.layout().addWidget(self.model_combo)

        box = gui.vBox(self.controlArea, "Head (trained)")
        keys = [key for key, _ in HEADS]
        self.head_index = keys.index(self.head) if self.head in keys else 0
        self.head_buttons = gui.radioButtons(
            box, self, "head_index", [text for _, text in HEADS], callback=self._head_chosen)
        self.hidden_box = gui.indentedBox(box)
        gui.spin(self.hidden_box, self, "hidden", 8, 4096, step=8,
                 label="Hidden neurons:", callback=self.settings_changed,
                 controlWidth=70, alignment=Qt.AlignRight)
        self.c_index = min(range(len(C_VALUES)), key=lambda i: abs(C_VALUES[i] - self.C))
        gui.hSlider(box, self, "c_index", minValue=0, maxValue=len(C_VALUES) - 1,
                    label="Regularisation C:", createLabel=False,
                    callback=self._c_changed)
        self.c_label = QLabel(alignment=Qt.AlignRight)
        box.layout().addWidget(self.c_label)

        box = gui.vBox(self.controlArea, "Augmentation (training images only)")
        gui.checkBox(box, self, "augment", "Add augmented copies of training images",
                     callback=self.settings_changed)
        self.augment_box = inner = gui.widgetBox(box, orientation=QGridLayout())
        grid = inner.layout()
        grid.setContentsMargins(16, 0, 0, 0)
        fields = (("copies", "Copies:", 1, 50, 1, 0), ("seed", "Seed:", 0, 2 ** 31 - 1, 1, 0),
                  ("rotate", "Rotate ±°:", 0, 180, 1, 0),
                  ("shift", "Shift ±:", 0, 1, 0.05, 2),
                  ("zoom", "Zoom ±:", 0, 0.95, 0.05, 2),
                  ("shear", "Shear ± rad:", 0, 1.2, 0.05, 2),
                  ("brightness", "Brightness ±:", 0, 0.95, 0.05, 2))
        for i, (attr, label, low, high, step, decimals) in enumerate(fields):
            row, column = divmod(i, 2)
            control = gui.spin if decimals == 0 else gui.doubleSpin
            spin = control(None, self, attr, low, high, step, callback=self.settings_changed,
                           controlWidth=70, alignment=Qt.AlignRight)
            grid.addWidget(QLabel(label), row, 2 * column)
            grid.addWidget(spin, row, 2 * column + 1)
        flips = gui.hBox(None)
        gui.checkBox(flips, self, "flip_h", "Flip ↔", callback=self.settings_changed)
        gui.checkBox(flips, self, "flip_v", "Flip ↕", callback=self.settings_changed)
        grid.addWidget(flips, 3, 2, 1, 2)

        box = gui.vBox(self.controlArea, "Info")
        self.info_label = QLabel("No data.", wordWrap=True)
        box.layout().addWidget(self.info_label)
        self._update_controls()

    def add_bottom_buttons(self):
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_fitting, autoDefault=False)
        self.cancel_button.setEnabled(False)
        super().add_bottom_buttons()

    def _model_chosen(self, index: int):
        self.model_key = self._models[index]
        self.settings_changed()

    def _head_chosen(self):
        self.head = HEADS[self.head_index][0]
        self._update_controls()
        self.settings_changed()

    def _c_changed(self):
        self.C = C_VALUES[self.c_index]
        self._update_controls()
        self.settings_changed()

    def settings_changed(self, *args, **kwargs):
        self._update_controls()
        super().settings_changed(*args, **kwargs)

    def _update_controls(self):
        self.c_label.setText(f"C = {self.C:g}")
        self.augment_box.setEnabled(self.augment)
        self.hidden_box.setEnabled(self.head == "mlp")

    # -------------------------------------------------------------- learner

    def create_learner(self) -> Optional[ImageClassifierLearner]:
        self.Error.bad_option.clear()
        try:
            augment = Augment(flip_h=self.flip_h, flip_v=self.flip_v, rotate=self.rotate,
                              shift=self.shift, zoom=self.zoom, shear=self.shear,
                              brightness=self.brightness, seed=self.seed) \
                if self.augment else None
            return self.LEARNER(model=self.model_key, head=self.head, C=self.C,
                                hidden=(self.hidden,), augment=augment,
                                copies=self.copies if self.augment else 0,
                                preprocessors=self.preprocessors)
        except ValueError as err:
            self.Error.bad_option(str(err))
            return None

    def get_learner_parameters(self):
        spec = {spec.key: spec for spec in model_specs()}[self.model_key]
        head = dict(HEADS)[self.head]
        if self.head == "mlp":
            head += f", {self.hidden} hidden neurons"
        items = [("Network", spec.name), ("Head", f"{head}, C={self.C:g}")]
        if self.augment:
            flips = [name for name, on in (("left-right", self.flip_h),
                                           ("up-down", self.flip_v)) if on]
            items.append(("Augmentation",
                          f"{self.copies} copies per training image; flips: "
                          f"{', '.join(flips) or 'none'}; rotation ±{self.rotate}°, shift "
                          f"±{self.shift:g}, zoom ±{self.zoom:g}, shear ±{self.shear:g} rad, "
                          f"brightness ±{self.brightness:g}, seed {self.seed}"))
        else:
            items.append(("Augmentation", "none"))
        return items

    def check_data(self):
        # Images live in a text (meta) column: OWBaseLearner's "no features"
        # check does not apply; the learner says what it needs.
        self.valid_data = False
        if self.data is not None and self.learner is not None:
            self.Error.data_error.clear()
            reason = self.learner.incompatibility_reason(self.data.domain)
            if reason is not None:
                self.Error.data_error(reason)
            elif not len(self.data):
                self.Error.data_error("Dataset is empty.")
            else:
                self.valid_data = True
        return self.valid_data

    def set_data(self, data):  # the input handler OWBaseLearner's Inputs.data names
        self._embedded = None  # (data, model key, embedded table, errors)
        super().set_data(data)

    def update_model(self):
        """Fit in a background task (OWBaseLearner fits on the GUI thread)."""
        self.cancel()
        self.show_fitting_failed(None)
        self.Warning.skipped.clear()
        self.model = None
        if not self.check_data():
            self.cancel_button.setEnabled(False)
            self.info_label.setText("No data." if self.data is None else "")
            self._embedded = None
            self.Outputs.embedded.send(None)
            self._send_model()
            return
        done = self._embedded
        embedded = done[2] if done and done[0] is self.data and \
            done[1] == self.learner.model else None
        self.info_label.setText(f"Embedding {len(self.data):,} images …" if embedded is None
                                else "Training …")
        self.cancel_button.setEnabled(True)
        self.start(fit, self.learner, self.data, embedded)
        self._send_model()  # None until the new model is ready

    def cancel_fitting(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        self.info_label.setText("Cancelled; finished embeddings are cached. "
                                "Press Apply to go on.")

    def on_partial_result(self, text: str):
        self.info_label.setText(text)

    def on_done(self, result: TrainResult):
        self.cancel_button.setEnabled(False)
        done = self._embedded
        if not done or done[2] is not result.embedded:
            errors = result.errors if not done or done[1] != self.learner.model else done[3]
            self._embedded = (self.data, self.learner.model, result.embedded, errors)
            self.Outputs.embedded.send(result.embedded)
        skipped = list(self._embedded[3]) + list(result.model.skipped)
        if skipped:
            self.Warning.skipped(skipped_summary(skipped, len(self.data), noun="images"))
        self.model = model = result.model
        model.name = self.effective_learner_name()
        model.instances = self.data
        text = f"Trained on {model.n_images:,} images"
        if model.n_augmented:
            text += f" and {model.n_augmented:,} augmented copies"
        self.info_label.setText(text + f"; {len(model.classes)} classes.")
        self._send_model()

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        if isinstance(ex, Cancelled):
            return
        self.info_label.setText("")
        self.show_fitting_failed(RuntimeError(error_text(ex)))
        self._send_model()

    def send_report(self):
        super().send_report()
        if self.model is not None:
            self.report_items("Result", [("Info", self.info_label.text())])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    import os
    from orangecontrib.imagelab import import_images
    sample = os.path.join(os.path.dirname(os.path.dirname(__file__)), "sample", "fashion",
                          "labelled")
    WidgetPreview(OWImageClassifier).run(import_images(sample).data)
