"""Image Classifier: an Orange learner that takes images, and its portable ONNX export.

    >>> from orangecontrib.imagelab import ImageClassifierLearner, Augment, export_onnx
    >>> learner = ImageClassifierLearner(augment=Augment(), copies=4)   # doctest: +SKIP
    >>> model = learner(images)            # an images table with a categorical class
    >>> model(new_images, model.Probs)     # raw images in, probabilities out
    >>> export_onnx(model, "fashion.onnx")  # runs with onnxruntime alone
    >>> classify_images("fashion.onnx", ["a.jpg", "b.png"]).predicted

How it learns (``ImageClassifierLearner.__call__``):

1. the images are embedded by the cached pipeline (the frozen base network);
   a table that already has this model's embedding columns (from Image
   Embedding) is used as it is; images that cannot be read are skipped
   and listed in ``model.skipped``;
2. Orange preprocessors given to the learner (the widget's Preprocessor
   input) apply to the embedding columns;
3. with ``augment`` and ``copies``, each *training* image gets ``copies``
   augmented versions, made in memory and embedded (cached by (image hash,
   transform parameters)). They are made inside ``__call__`` from the rows it
   is given, so in cross-validation only the training fold's images are
   augmented: no copy of a test image can reach training;
4. the head (logistic regression or a small MLP) is trained on the
   standardised features (``core.vectors.classifier``).

The model's domain has the embedding columns, each with a compute value that
embeds images, so a table of images is all it needs to predict (it never
depends on someone remembering an embedding step); a table with the same
model's embedding columns is used directly. Unreadable images get NaN
predictions and an ``UnreadableImagesWarning`` naming them.
"""
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from Orange.base import Learner, Model
from Orange.data import Domain, Instance, StringVariable, Table, Variable
from Orange.data.util import SharedComputeValue

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.embedding import (
    EmbedResult, _split, feature_column_names)
from orangecontrib.imagelab.core.errors import (
    ImageError, ModelError, SkippedEntry, as_image_error, skipped_summary)
from orangecontrib.imagelab.core.executors import bounded_map, cores, get_executor
from orangecontrib.imagelab.core.models import DEFAULT_MODEL, get_model, session_options
from orangecontrib.imagelab.core.paths import cache_dir
from orangecontrib.imagelab.core.pixels.augment import Augment
from orangecontrib.imagelab.core.pixels.decoding import load_rgb, read_bytes
from orangecontrib.imagelab.core.progress import ProgressCallback, checked, sub_range
from orangecontrib.imagelab.core.vectors import classifier as core
from orangecontrib.imagelab.core.vectors import portable
from orangecontrib.imagelab.core.vectors.cache import content_hash, derived_key
from orangecontrib.imagelab.core.vectors.embedding import BATCH_SIZE as EMBEDDING_BATCH
from orangecontrib.imagelab.core.vectors.embedding import EmbeddingArrays

__all__ = ["ImageClassifierLearner", "ImageClassifierModel", "Augment", "train_classifier",
           "TrainResult", "classifier_embeddings",
           "UnreadableImagesWarning", "export_onnx", "load_classifier", "classify_images",
           "OnnxImageClassifier", "ClassifyResult", "augment_images", "AugmentResult"]

MODEL_FORMAT = 1  # of ImageClassifierModel's pickled state


class UnreadableImagesWarning(UserWarning):
    """Some images could not be read; their predictions are NaN."""


def imagelab_version() -> str:
    try:
        from importlib.metadata import version
        return version("orange3-imagelab")
    except Exception:  # pylint: disable=broad-except
        return "unknown"


# ------------------------------------------------------------ embedding


class ImageEmbedder:
    """Table -> ``EmbeddingArrays`` of its images with ``model`` (the shared
    part of the embedding columns' compute values).

    A table with this model's embedding columns is read as it is; otherwise
    the images of its image column (the one named ``image_column``, else the
    column marked ``type=image``) are embedded, resolved against that
    table's own ``origin``.
    """

    def __init__(self, model: str, image_column: Optional[str]):
        self.model = model
        self.image_column = image_column

    def __eq__(self, other):
        return type(self) is type(other) and self.model == other.model \
            and self.image_column == other.image_column

    def __hash__(self):
        return hash((type(self), self.model, self.image_column))

    @property
    def dimension(self) -> int:
        return get_model(self.model).dimension

    def embedding_columns(self, domain: Domain) -> Optional[List[Variable]]:
        names = feature_column_names(self.model, self.dimension)
        columns = [domain[name] if name in domain else None for name in names]
        if all(var is not None and var.is_continuous
               and var.attributes.get("embedding") == self.model for var in columns):
            return columns
        return None

    def image_variable(self, domain: Domain) -> Optional[StringVariable]:
        if self.image_column and self.image_column in domain:
            var = domain[self.image_column]
            if var.is_string:
                return var
        return tables.find_image_column(domain)

    def embed(self, data: Table, callback: ProgressCallback = None) -> EmbeddingArrays:
        columns = self.embedding_columns(data.domain)
        if columns is not None:
            vectors = np.column_stack([data.get_column(var) for var in columns]) \
                .astype(np.float32).reshape(len(data), -1)
            ok = np.isfinite(vectors).all(axis=1)
            rows = list(np.flatnonzero(~ok))
            return EmbeddingArrays(vectors, ok, [ImageError(f"row {i + 1}", "no embedding")
                                                 for i in rows], rows)
        var = self.image_variable(data.domain)
        if var is None:
            raise ValueError(
                f"the data has no image column (type=image) and no {self.model} embedding "
                "columns: connect Import Images (or Image Embedding with the same model)")
        locations = tables.image_locations(data, var)
        return core.embed_plain(locations, model=self.model, callback=callback)

    def __call__(self, data: Table) -> EmbeddingArrays:
        return self.embed(data)


class EmbeddingFeature(SharedComputeValue):
    """Column ``index`` of the embedding that ``ImageEmbedder`` computes."""

    def __init__(self, embedder: ImageEmbedder, index: int):
        super().__init__(embedder)
        self.index = index

    def compute(self, data, shared_data: EmbeddingArrays):
        return shared_data.vectors[:, self.index]

    def __eq__(self, other):
        return super().__eq__(other) and self.index == other.index

    def __hash__(self):
        return hash((super().__hash__(), self.index))


def embedding_domain(embedder: ImageEmbedder) -> Domain:
    """Continuous columns named as Image Embedding names them, computed from images."""
    variables = [var.copy(compute_value=EmbeddingFeature(embedder, i))
                 for i, (var, _) in enumerate(tables.continuous_columns(
                     feature_column_names(embedder.model, embedder.dimension),
                     np.empty((0, embedder.dimension)),
                     attributes={"embedding": embedder.model}))]
    return Domain(variables)


def classifier_embeddings(data: Table, *, model: str = DEFAULT_MODEL,
                          callback: ProgressCallback = None) -> EmbedResult:
    """Like ``embed_images``, with the classifier's decoding (``portable.decode``):
    the table the learner and Test and Score can share, embedded once."""
    var = tables.find_image_column(data.domain)
    if var is None:
        raise ValueError("the table has no image column: expected a text column "
                         "with the attribute type=image")
    arrays = core.embed_plain(tables.image_locations(data, var), model=model,
                              callback=callback)
    names = feature_column_names(model, arrays.vectors.shape[1])
    return _split(data, arrays.vectors, arrays.ok, names, arrays.errors, arrays.error_rows,
                  model, arrays.cached)


# ------------------------------------------------------------- learner


def _check_options(model, head, augment, copies, C, hidden, random_state):
    try:
        spec = get_model(model)
    except ModelError as err:
        raise ValueError(f"model: {err}") from None
    if isinstance(augment, dict):
        augment = Augment.from_dict(augment)
    if augment is not None and not isinstance(augment, Augment):
        raise ValueError(f"augment must be an Augment(...) or None, got {augment!r}")
    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 0:
        raise ValueError(f"copies must be a whole number >= 0, got {copies!r}")
    if augment is None and copies:
        raise ValueError(f"copies={copies} needs augment=Augment(...) to say how to "
                         "augment; or set copies=0")
    if augment is not None and not copies:
        raise ValueError("augment is set but copies=0 makes no augmented images: "
                         "set copies (e.g. 4) or augment=None")
    C, hidden = core._check(head, C, hidden)  # pylint: disable=protected-access
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(
            random_state, (int, np.integer)) or random_state < 0):
        raise ValueError(f"random_state must be a whole number >= 0 or None, "
                         f"got {random_state!r}")
    return spec.key, augment, int(copies), C, hidden


class ImageClassifierLearner(Learner):
    """A classifier that learns from images: a frozen network + a trained head.

    Parameters
    ----------
    model : str
        The frozen base network, a key of ``available_models()``.
    head : "logistic" or "mlp"
        Logistic regression, or a multi-layer perceptron with ``hidden`` ReLU layers.
    augment : Augment or None
        How to augment the training images; needs ``copies`` >= 1.
    copies : int
        Augmented versions of each training image (0 without ``augment``).
    C : float
        Inverse regularisation strength (both heads).
    hidden : tuple of int
        Hidden layer sizes of the "mlp" head.
    random_state : int or None
        Seed of the head's solver.
    preprocessors : Orange preprocessors for the embedding columns.
    """
    name = "image classifier"
    supports_weights = False

    def __init__(self, model: str = DEFAULT_MODEL, head: str = "logistic",
                 augment: Optional[Augment] = None, copies: int = 0, C: float = 1.0,
                 hidden: Sequence[int] = (256,), random_state: Optional[int] = 0,
                 preprocessors=None):
        super().__init__(preprocessors=preprocessors)
        key, augment, copies, C, hidden = _check_options(
            model, head, augment, copies, C, hidden, random_state)
        self.model, self.head, self.augment, self.copies = key, head, augment, copies
        self.C, self.hidden, self.random_state = C, hidden, random_state

    def incompatibility_reason(self, domain: Domain) -> Optional[str]:
        if domain.class_var is None or not domain.class_var.is_discrete \
                or len(domain.class_vars) > 1:
            return "Image Classifier needs a single categorical target (e.g. category)."
        embedder = ImageEmbedder(self.model, None)
        if embedder.image_variable(domain) is None and \
                embedder.embedding_columns(domain) is None:
            return "The data has no image column (a text column with type=image)."
        return None

    # -- steps (methods, so a test can watch them) ---------------------------

    def embed(self, data: Table, callback: ProgressCallback = None
              ) -> Tuple[Table, List[SkippedEntry]]:
        """The rows of ``data`` that have a class and an embedding, in the
        embedding domain (+ the class and metas of ``data``); the rest, skipped."""
        var = ImageEmbedder(self.model, None).image_variable(data.domain)
        embedder = ImageEmbedder(self.model, var.name if var is not None else None)
        arrays = embedder.embed(data, callback)
        columns = embedding_domain(embedder).attributes
        domain = Domain(columns, data.domain.class_vars, data.domain.metas)
        table = Table.from_numpy(domain, arrays.vectors, data.Y, data.metas,
                                 ids=data.ids)
        skipped = [SkippedEntry(err.path, err.reason) for err in arrays.errors]
        has_class = ~np.isnan(data.Y.reshape(len(data), -1)).any(axis=1)
        keep = arrays.ok & has_class
        return table[np.flatnonzero(keep)], skipped

    def augmented_embeddings(self, locations: Sequence[Optional[str]],
                             callback: ProgressCallback = None) -> EmbeddingArrays:
        """Embeddings (n, copies, d) of ``copies`` augmented versions of each image."""
        return core.embed_augmented(locations, self.augment, self.copies, model=self.model,
                                    callback=callback)

    # -- fitting --------------------------------------------------------------

    def __call__(self, data: Table, progress_callback=None) -> "ImageClassifierModel":
        """Learn from the images of ``data``. ``progress_callback(fraction)``
        may raise (e.g. ``Cancelled``) to stop; what was embedded stays cached."""
        if isinstance(data, Instance):
            data = Table.from_list(data.domain, [data])
        reason = self.incompatibility_reason(data.domain)
        if reason is not None:
            raise ValueError(reason)
        report = checked(progress_callback)
        report(0.0)
        image_var = ImageEmbedder(self.model, None).image_variable(data.domain)
        embedder = ImageEmbedder(self.model, image_var.name if image_var is not None else None)
        end = 0.45 if self.copies else 0.9
        train, skipped = self.embed(data, sub_range(report, 0.0, end))
        if not len(train):
            raise ValueError("no image could be embedded: " +
                             skipped_summary(skipped, len(data), noun="images"))
        embedded_domain = train.domain
        for preprocessor in self.preprocessors:
            train = preprocessor(train)
        x, y = train.X.astype(np.float64), train.Y.reshape(len(train))
        n_augmented = 0
        if self.copies:
            if image_var is None:
                raise ValueError("augmentation needs the images: the data has embedding "
                                 "columns but no image column")
            locations = tables.image_locations(train, image_var)
            arrays = self.augmented_embeddings(locations, sub_range(report, end, 0.9))
            extra = arrays.vectors[arrays.ok].reshape(-1, arrays.vectors.shape[-1])
            if self.preprocessors:
                extra = Table.from_numpy(Domain(embedded_domain.attributes), extra) \
                    .transform(Domain(train.domain.attributes)).X
            x = np.vstack([x, extra.astype(np.float64)])
            y = np.concatenate([y, np.repeat(y[arrays.ok], self.copies)])
            n_augmented = len(extra)
        class_var = data.domain.class_var
        head = core.train_head(x, y, n_classes=len(class_var.values), kind=self.head,
                               C=self.C, hidden=self.hidden, random_state=self.random_state)
        report(0.95)
        model = ImageClassifierModel(
            Domain(train.domain.attributes, class_var), head, embedder,
            preprocessed=bool(self.preprocessors),
            augment=self.augment, copies=self.copies, head_kind=self.head,
            n_images=len(train), n_augmented=n_augmented, skipped=skipped,
            snapshot=tables.snapshot_info(data))
        model.used_vals = [np.unique(train.Y).astype(int)]
        model.supports_multiclass = False
        model.name = self.name
        model.original_domain = data.domain
        model.original_data = data
        report(1.0)
        return model


# --------------------------------------------------------------- model


class ImageClassifierModel(Model):
    """Predicts classes of images (see the module's doc).

    ``head``: the trained ``core.vectors.classifier.Head``; ``backbone``: the
    model key; ``skipped``: training images skipped (path, reason);
    ``last_skipped``: images the last prediction could not read;
    ``snapshot``: the training set's snapshot info, if it came from one.
    """

    def __init__(self, domain: Domain, head: core.Head, embedder: ImageEmbedder, *,
                 preprocessed: bool = False, augment: Optional[Augment] = None,
                 copies: int = 0, head_kind: str = "logistic", n_images: int = 0,
                 n_augmented: int = 0, skipped: Sequence[SkippedEntry] = (),
                 snapshot: Optional[dict] = None):
        super().__init__(domain)
        self.head = head
        self.embedder = embedder
        self.preprocessed = preprocessed
        self.augment = augment
        self.copies = copies
        self.head_kind = head_kind
        self.n_images = n_images
        self.n_augmented = n_augmented
        self.skipped = list(skipped)
        self.snapshot = snapshot
        self.last_skipped: List[ImageError] = []
        self.imagelab_version = imagelab_version()
        self.format = MODEL_FORMAT

    @property
    def backbone(self) -> str:
        return self.embedder.model

    @property
    def classes(self) -> List[str]:
        return list(self.domain.class_var.values)

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("last_skipped", [])

    def embed(self, data: Table, callback: ProgressCallback = None) -> Table:
        """``data``'s images (or embedding columns) as a table in the model's domain."""
        arrays = self.embedder.embed(data, callback)
        self.last_skipped = list(arrays.errors)
        if arrays.errors:
            warnings.warn(UnreadableImagesWarning(
                skipped_summary(arrays.errors, len(data), noun="images",
                                verb="could not be read; their predictions are missing")),
                stacklevel=3)
        n = len(data)
        if self.preprocessed:
            table = Table.from_numpy(embedding_domain(self.embedder), arrays.vectors)
            table = table.transform(Domain(self.domain.attributes))
            return Table.from_numpy(self.domain, table.X, np.full(n, np.nan))
        return Table.from_numpy(self.domain, arrays.vectors, np.full(n, np.nan))

    def data_to_model_domain(self, data: Table, progress_callback=None) -> Table:
        # Orange's default would first transform the data into the training
        # table's domain, whose image column carries the *training* folder as
        # its origin, and so look for new photos in the wrong folder. The
        # images are read from the given table's own column instead.
        if data.domain == self.domain:
            return data
        return self.embed(data)

    def predict(self, X):
        probs = self.head.probabilities(np.asarray(X, dtype=np.float64))
        missing = np.isnan(probs).any(axis=1)
        values = np.argmax(np.nan_to_num(probs, nan=-1.0), axis=1).astype(float)
        values[missing] = np.nan
        return values, probs

    def __str__(self):
        return f"ImageClassifierModel({self.backbone} + {self.head_kind}, " \
               f"classes {', '.join(self.classes)})"

    __repr__ = __str__  # Orange's would list all 1,280 columns


#: What the learner returns (Orange's learner widgets type their Model output by it).
ImageClassifierLearner.__returns__ = ImageClassifierModel


@dataclass
class TrainResult:
    """``model``; ``embedded``: the readable images of the input with their
    embedding columns (for Test and Score); ``errors``: the unreadable ones."""
    model: ImageClassifierModel
    embedded: Table
    errors: List[ImageError] = field(default_factory=list)


def train_classifier(learner: ImageClassifierLearner, data: Table, *,
                     embedded: Optional[Table] = None,
                     callback: ProgressCallback = None) -> TrainResult:
    """Embed the images of ``data`` (unless ``embedded``, this function's earlier
    ``.embedded`` for the same data, is given) and train ``learner`` on them.
    The embedding is half of the progress with augmentation, 90 % without."""
    split = 0.5 if learner.copies else 0.9
    errors: List[ImageError] = []
    if embedded is None:
        result = classifier_embeddings(data, model=learner.model,
                                       callback=sub_range(callback, 0.0, split))
        embedded, errors = result.data, result.errors
        if embedded is None:
            raise ValueError("no image could be read: " +
                             skipped_summary(errors, len(data), noun="images"))
    model = learner(embedded, progress_callback=sub_range(callback, split, 1.0))
    return TrainResult(model, embedded, errors)


# ------------------------------------------------------------ ONNX export


def onnx_metadata(model: ImageClassifierModel) -> dict:
    meta = {
        "class_variable": model.domain.class_var.name,
        "training_images": model.n_images,
        "augmented_images": model.n_augmented,
        "augmentation": model.augment.to_dict() if model.augment is not None else None,
        "copies": model.copies,
        "imagelab_version": model.imagelab_version,
        "model_name": model.name,
    }
    if model.snapshot:
        meta["snapshot"] = model.snapshot
        meta["snapshot_name"] = str(model.snapshot.get("name", ""))
        meta["snapshot_version"] = str(model.snapshot.get("version", ""))
    return meta


def export_onnx(model: ImageClassifierModel, path, *, overwrite: bool = False) -> Path:
    """Write ``model`` as one ONNX file (backbone + head; see ``core.vectors.classifier``).

    The file runs with onnxruntime, numpy and Pillow alone (``portable.py``);
    its metadata holds the classes, input size, mean/std, pre-processing, the
    model and head, the training set's snapshot (if any) and Image Lab's
    version. An existing file is replaced only with ``overwrite=True``.
    """
    if not isinstance(model, ImageClassifierModel):
        raise ValueError(f"model must be an ImageClassifierModel (from Image Classifier), "
                         f"got {type(model).__name__}")
    if model.preprocessed:
        raise ValueError("this model was trained with Orange preprocessors on the "
                         "embeddings, which an ONNX file cannot hold: train it without "
                         "the Preprocessor input to export it")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists: pass overwrite=True to replace it")
    return core.export_onnx(get_model(model.backbone), model.head, path,
                            classes=model.classes, metadata=onnx_metadata(model))


@dataclass
class ClassifyResult:
    """``probabilities`` (n, classes) with NaN rows for unreadable images;
    ``predicted``: class name or None per image; ``errors``: ImageError per
    unreadable image, at ``error_rows``."""
    classes: List[str]
    probabilities: np.ndarray
    errors: List[ImageError] = field(default_factory=list)
    error_rows: List[int] = field(default_factory=list)

    @property
    def predicted(self) -> List[Optional[str]]:
        return [None if np.isnan(row).any() else self.classes[int(np.argmax(row))]
                for row in self.probabilities]


class OnnxImageClassifier:
    """An exported classifier loaded with onnxruntime (``load_classifier``)."""

    def __init__(self, path):
        import onnxruntime as ort
        self.path = Path(path)
        try:
            # one batch per core at a time, as the embedding pipeline runs
            self.session = ort.InferenceSession(str(self.path), session_options(),
                                                providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ValueError(f"{self.path} is not a readable ONNX model: {err}") from err
        self.metadata = portable.read_metadata(self.session)
        if "classes" not in self.metadata or "input_size" not in self.metadata:
            raise ValueError(f"{self.path} is not an Image Lab classifier (its metadata "
                             "has no 'classes' and 'input_size')")
        self.classes: List[str] = json.loads(self.metadata["classes"])
        self.input_size = int(self.metadata["input_size"])

    def classify(self, locations: Sequence[Optional[str]], *,
                 callback: ProgressCallback = None,
                 batch_size: int = EMBEDDING_BATCH) -> ClassifyResult:
        callback = checked(callback)
        n = len(locations)
        probabilities = np.full((n, len(self.classes)), np.nan, dtype=np.float32)
        errors = {}

        def load(batch):
            rows, pixels = [], []
            for row in batch:
                location = locations[row]
                try:
                    if location is None:
                        raise ImageError("", "no image")
                    # portable.load_image's pixels, with Image Lab's checks and reasons
                    pixels.append(core.load_pixels(location, self.input_size,
                                                   read_bytes(location)))
                    rows.append(row)
                except Exception as err:  # pylint: disable=broad-except
                    errors[row] = as_image_error(location or "", err)
            if rows:
                (probs,) = self.session.run([core.OUTPUT_PROBABILITIES],
                                            {"image": np.stack(pixels)})
                probabilities[rows] = probs
            return len(batch)

        batches = [range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]
        pool = get_executor("threads", max_workers=max(1, min(cores(), 8)),
                            name="imagelab-classify")
        done = 0
        callback(0.0)
        try:
            for count in bounded_map(pool, load, batches, window=2 * cores()):
                done += count
                callback(done / n)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        callback(1.0)
        rows = sorted(errors)
        return ClassifyResult(self.classes, probabilities, [errors[r] for r in rows], rows)


def load_classifier(path) -> OnnxImageClassifier:
    """Read a classifier written by ``export_onnx`` / Save Image Classifier."""
    return OnnxImageClassifier(path)


def classify_images(path_or_model, images, *, callback: ProgressCallback = None
                    ) -> ClassifyResult:
    """Classify ``images`` (a table with an image column, or paths / URLs) with an
    exported file (path or ``load_classifier``'s result) or an
    ``ImageClassifierModel``."""
    if isinstance(images, Table):
        locations = tables.image_locations(images)
    elif isinstance(images, (str, Path)):
        raise ValueError("images must be a table or a list of paths, got one path: "
                         "wrap it in a list")
    else:
        locations = [None if loc is None else str(loc) for loc in images]
    if isinstance(path_or_model, ImageClassifierModel):
        model = path_or_model
        table = images if isinstance(images, Table) else tables.table_from_columns(
            [(tables.image_variable("image"), ["" if loc is None else loc for loc in locations])])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreadableImagesWarning)
            embedded = model.embed(table, callback)
        probabilities = model.head.probabilities(embedded.X)
        errors = list(model.last_skipped)
        rows = list(np.flatnonzero(np.isnan(probabilities).any(axis=1)))
        return ClassifyResult(model.classes, probabilities, errors, rows)
    classifier = path_or_model if isinstance(path_or_model, OnnxImageClassifier) \
        else load_classifier(path_or_model)
    return classifier.classify(locations, callback=callback)


# ------------------------------------------------------ augmented images


@dataclass
class AugmentResult:
    """``data``: one row per augmented image (the source row's values, the
    image column pointing to the written file, metas ``augmented from`` and
    ``augmentation``); ``skipped``: source images that could not be read."""
    data: Optional[Table]
    errors: List[ImageError] = field(default_factory=list)

    @property
    def skipped(self) -> Optional[Table]:
        return tables.skipped_table(self.errors, name="Skipped Images")


def augmented_folder() -> Path:
    """Where ``augment_images`` writes: content-addressed PNGs in the cache."""
    return cache_dir() / "augmented"


def augment_images(data: Table, augment: Augment, *, copies: int,
                   image_column: Union[Variable, str, None] = None,
                   callback: ProgressCallback = None) -> AugmentResult:
    """``copies`` augmented versions of each image of ``data``, as image files.

    Each copy is written once, as a PNG named by its key (the source image's
    content hash and the transform's parameters) in ``augmented_folder()``;
    the user's folders are never written to. Copy k of an image is the same
    transform the learner applies to it (at full size instead of the model's
    input size).
    """
    if not isinstance(augment, Augment):
        raise ValueError(f"augment must be an Augment(...), got {augment!r}")
    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 1:
        raise ValueError(f"copies must be a whole number >= 1, got {copies!r}")
    if isinstance(image_column, str):
        image_column = data.domain[image_column]
    column = image_column or tables.find_image_column(data.domain)
    if column is None:
        raise ValueError("the table has no image column: expected a text column "
                         "with the attribute type=image")
    locations = tables.image_locations(data, column)
    folder = augmented_folder()
    folder.mkdir(parents=True, exist_ok=True)
    callback = checked(callback)

    def make(row):
        location = locations[row]
        try:
            if location is None:
                raise ImageError("", "no image")
            raw = read_bytes(location)
            source = content_hash(raw)
            image = load_rgb(location, data=raw)
        except Exception as err:  # pylint: disable=broad-except
            return row, as_image_error(location or "", err)
        written = []
        for k in range(copies):
            transform = augment.transform(source, k)
            name = derived_key(source, transform.text()).hex() + ".png"
            target = folder / name
            if not target.exists():
                _write_png(transform.apply(image), target)
            written.append((name, transform.text()))
        return row, written

    results = {}
    errors = {}
    pool = get_executor("threads", name="imagelab-augment")
    callback(0.0)
    try:
        for done, (row, value) in enumerate(
                bounded_map(pool, make, range(len(data)), window=2 * cores()), start=1):
            if isinstance(value, ImageError):
                errors[row] = value
            else:
                results[row] = value
            callback(done / max(len(data), 1))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    callback(1.0)
    rows = sorted(results)
    error_list = [errors[r] for r in sorted(errors)]
    if not rows:
        return AugmentResult(None, error_list)
    source_rows = np.repeat(rows, copies)
    names = [name for r in rows for name, _ in results[r]]
    params = [text for r in rows for _, text in results[r]]
    sources = [locations[r] for r in source_rows]
    subset = data[source_rows]
    new_image = tables.image_variable(column.name, origin=str(folder))
    domain = subset.domain
    swap = [new_image if var is column else var for var in domain.metas]
    attrs = [new_image if var is column else var for var in domain.attributes]
    classes = [new_image if var is column else var for var in domain.class_vars]
    table = Table.from_numpy(Domain(attrs, classes, swap), subset.X, subset.Y,
                             subset.metas.copy())
    with table.unlocked(table.metas, table.X):
        table.set_column(new_image, np.array(names, dtype=object))
    table = tables.append_columns(table, metas=[
        (StringVariable("augmented from"), np.array(sources, dtype=object)),
        (StringVariable("augmentation"), np.array(params, dtype=object))])
    table.name = "Augmented Images"
    return AugmentResult(table, error_list)


def _write_png(image, target: Path) -> None:
    """Write atomically: a temporary name in the same folder, then a rename."""
    import os
    import tempfile
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".png.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
