"""Image Embedding: images to numbers, with a shipped neural network or hand-made features."""
import time
from typing import List, Optional

from AnyQt.QtCore import Qt
from AnyQt.QtWidgets import QCheckBox, QComboBox, QLabel

from Orange.data import Table, Variable
from Orange.widgets import gui
from Orange.widgets.settings import ContextSetting, DomainContextHandler, Setting
from Orange.widgets.utils.itemmodels import VariableListModel
from Orange.widgets.utils.widgetpreview import WidgetPreview
from Orange.widgets.widget import Input, Msg, Output, OWWidget

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import skipped_summary
from orangecontrib.imagelab.api.embedding import (
    DEFAULT_MODEL, FEATURE_SETS, EmbedResult, clear_cache, embed_images, extract_features,
    feature_set_descriptions, model_specs)
from orangecontrib.imagelab.widgets.utils.cluster import ComputeOnBox
from orangecontrib.imagelab.widgets.utils.messages import error_text
from orangecontrib.imagelab.widgets.utils.tasks import (
    TaskState, TaskWidgetMixin, progress_callback)

HAND_MADE = "hand-made"  # the `method` value for hand-made features


def run(data: Table, column: Variable, method: str, feature_sets: List[str],
        wavelet_levels: int, scheduler: Optional[str], state: TaskState) -> EmbedResult:
    """Embed off the GUI thread (on the Dask ``scheduler``, if given);
    partial results are (done, total, images/s)."""
    total = len(data)
    start = time.perf_counter()

    def status(fraction: float):
        done = round(fraction * total)
        return done, total, done / max(time.perf_counter() - start, 1e-6)

    callback = progress_callback(state, status=status)
    if method == HAND_MADE:
        return extract_features(data, feature_sets, image_column=column,
                                wavelet_levels=wavelet_levels, callback=callback)
    return embed_images(data, model=method, image_column=column, callback=callback,
                        scheduler=scheduler)


class OWImageEmbedding(OWWidget, TaskWidgetMixin):
    name = "Image Embedding"
    description = "Turn images into numeric features with a neural network " \
                  "that ships with the add-on (offline) or hand-made features."
    icon = "icons/ImageEmbedding.svg"
    priority = 20
    keywords = "image embedding, embedder, features, neural network, efficientnet, " \
               "squeezenet, histogram, hog, wavelet"

    class Inputs:
        images = Input("Images", Table)

    class Outputs:
        embeddings = Output("Embeddings", Table, default=True)
        skipped = Output("Skipped Images", Table)

    settings_version = 1
    settingsHandler = DomainContextHandler()
    image_column: Optional[Variable] = ContextSetting(None)
    #: a model key (e.g. "efficientnet-lite0-int8") or "hand-made"
    method: str = Setting(DEFAULT_MODEL)
    feature_sets: List[str] = Setting(["level_histogram", "histogram_of_gradients"],
                                      check=lambda sets: set(sets) <= set(FEATURE_SETS))
    wavelet_levels: int = Setting(5, range=(1, 8))
    #: compute on a Dask cluster (the scheduler's address) or on this computer
    use_cluster: bool = Setting(False)
    scheduler_address: str = Setting("")
    auto_commit: bool = Setting(True)

    want_main_area = False
    resizing_enabled = False

    class Warning(OWWidget.Warning):
        skipped = Msg("{}")
        no_features = Msg("Choose at least one hand-made feature set.")
        unknown_model = Msg("Model '{}' is not available here; using {}.")
        cache = Msg("{}")

    class Error(OWWidget.Error):
        no_image_column = Msg("The data has no text column with image paths or URLs.")
        all_failed = Msg("No image could be embedded ({}).")
        failed = Msg("{}")

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.data: Optional[Table] = None
        self.result: Optional[EmbedResult] = None
        self._methods = [spec.key for spec in model_specs()] + [HAND_MADE]
        if self.method not in self._methods:
            self.Warning.unknown_model(self.method, self._methods[0])
            self.method = self._methods[0]

        box = gui.widgetBox(self.controlArea, "Images")
        self.column_model = VariableListModel(placeholder="(none)")
        gui.comboBox(box, self, "image_column", label="Image column:",
                     orientation="horizontal", model=self.column_model,
                     callback=self.commit.deferred)

        box = gui.widgetBox(self.controlArea, "Embedder")
        names = [f"{spec.name} – {spec.trade_off} ({spec.dimension} features)"
                 for spec in model_specs()]
        self.method_combo = QComboBox()
        self.method_combo.addItems(names + ["Hand-made features"])
        self.method_combo.activated.connect(self._method_changed)
        box.layout().addWidget(self.method_combo)
        self.method_combo.setCurrentIndex(self._methods.index(self.method))
        for i, spec in enumerate(model_specs()):
            self.method_combo.setItemData(
                i, f"{spec.description}\nPre-processing: {spec.preprocessing}\n"
                   f"Licence: {spec.licence}\nWeights: {spec.source}", Qt.ToolTipRole)
        self.features_box = gui.indentedBox(box)
        self.feature_checks = {}
        for key, text in feature_set_descriptions().items():
            check = QCheckBox(key.replace("_", " ").capitalize(), toolTip=text)
            self.features_box.layout().addWidget(check)
            check.setChecked(key in self.feature_sets)
            check.toggled.connect(self._features_changed)
            self.feature_checks[key] = check
        gui.spin(self.features_box, self, "wavelet_levels", 1, 8,
                 label="Wavelet levels:", callback=self._features_changed)

        self.compute_on = ComputeOnBox(self, self.controlArea, self.commit.deferred)

        box = gui.widgetBox(self.controlArea, "Info")
        self.info_label = QLabel("No data.", wordWrap=True)
        box.layout().addWidget(self.info_label)
        gui.button(box, self, "Clear Cache", callback=self.clear_cache, autoDefault=False,
                   tooltip="Forget the stored embeddings of all images and models.")
        self.cancel_button = gui.button(self.buttonsArea, self, "Cancel",
                                        callback=self.cancel_embedding, autoDefault=False)
        self.cancel_button.setEnabled(False)
        gui.auto_apply(self.buttonsArea, self, "auto_commit")
        self._update_features_box()

    # ------------------------------------------------------------- controls

    def _method_changed(self):
        self.method = self._methods[self.method_combo.currentIndex()]
        self._update_features_box()
        self.commit.deferred()

    def _features_changed(self):
        self.feature_sets = [key for key, check in self.feature_checks.items()
                             if check.isChecked()]
        if self.method == HAND_MADE:
            self.commit.deferred()

    def _update_features_box(self):
        # Shown only for hand-made features: a network has no such options.
        self.features_box.setVisible(self.method == HAND_MADE)

    def clear_cache(self):
        clear_cache()
        self.info_label.setText("Cache cleared.")

    # ---------------------------------------------------------------- input

    @Inputs.images
    def set_data(self, data: Optional[Table]):
        self.closeContext()
        self.cancel()
        self.Error.no_image_column.clear()
        self.data = data
        candidates = tables.image_column_candidates(data.domain) if data else []
        self.column_model[:] = candidates
        self.image_column = candidates[0] if candidates else None
        if data is not None and not candidates:
            self.Error.no_image_column()
        if data is not None:
            self.openContext(data.domain)
        self.commit.now()

    # --------------------------------------------------------------- commit

    @gui.deferred
    def commit(self):
        self.cancel()
        self.clear_messages_for_run()
        if self.data is None or self.image_column is None or not len(self.data):
            self._set_result(None)
            self.info_label.setText("No data." if self.data is None else "No images.")
            return
        if self.method == HAND_MADE and not self.feature_sets:
            self.Warning.no_features()
            self._set_result(None)
            return
        scheduler = self.compute_on.scheduler() if self.method != HAND_MADE else None
        if self.use_cluster and self.method != HAND_MADE and scheduler is None:
            self.Error.failed("Enter the address of a Dask scheduler, or compute on "
                              "this computer.")
            self._set_result(None)
            return
        where = f" on the Dask cluster at {scheduler}" if scheduler else ""
        self.info_label.setText(f"Embedding {len(self.data):,} images{where} …")
        self.cancel_button.setEnabled(True)
        self.start(run, self.data, self.image_column, self.method,
                   list(self.feature_sets), self.wavelet_levels, scheduler)

    def clear_messages_for_run(self):
        self.Warning.skipped.clear()
        self.Warning.cache.clear()
        self.Warning.no_features.clear()
        self.Error.all_failed.clear()
        self.Error.failed.clear()

    def cancel_embedding(self):
        self.cancel()
        self.cancel_button.setEnabled(False)
        kept = "; finished embeddings are cached" if self.method != HAND_MADE else ""
        self.info_label.setText(f"Cancelled{kept}.")

    def on_partial_result(self, progress):
        done, total, rate = progress
        self.info_label.setText(f"{done:,} of {total:,} images, {rate:,.1f} images/s")

    def on_done(self, result: EmbedResult):
        self.cancel_button.setEnabled(False)
        self._set_result(result)

    def on_exception(self, ex: Exception):
        self.cancel_button.setEnabled(False)
        self.Error.failed(error_text(ex))
        self._set_result(None)

    def _set_result(self, result: Optional[EmbedResult]):
        self.result = result
        if result is not None:
            total = len(self.data)
            done = total - result.n_skipped
            text = f"{done:,} of {total:,} images embedded"
            if result.cached:
                text += f" ({result.cached:,} from the cache)"
            self.info_label.setText(text + ".")
            if result.errors and result.data is None:
                self.Error.all_failed(skipped_summary(result.errors, total, noun="images"))
            elif result.errors:
                self.Warning.skipped(skipped_summary(result.errors, total, noun="images"))
            if result.warnings:
                self.Warning.cache(" ".join(result.warnings))
        self.Outputs.embeddings.send(result.data if result else None)
        self.Outputs.skipped.send(result.skipped if result else None)

    def send_report(self):
        if self.data is None:
            return
        method = "Hand-made features: " + ", ".join(self.feature_sets) \
            if self.method == HAND_MADE else self.method
        items = [("Embedder", method),
                 ("Image column", self.image_column.name if self.image_column else "none"),
                 ("Computed on", self.compute_on.scheduler() or "this computer")]
        if self.result is not None:
            items += [("Images", f"{len(self.data):,}"),
                      ("Skipped", f"{self.result.n_skipped:,}")]
        self.report_items(items)
        if self.result is not None and self.result.errors:
            self.report_items("Skipped images", [(e.path, e.reason)
                                                 for e in self.result.errors[:20]])

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


if __name__ == "__main__":  # pragma: no cover
    from orangecontrib.imagelab.widgets.utils.preview import sample_images
    WidgetPreview(OWImageEmbedding).run(sample_images())
