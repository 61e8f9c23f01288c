"""``detect_labels`` and ``filter_by_label``: ImageNet labels for image tables.

    >>> from orangecontrib.imagelab import detect_labels, filter_by_label
    >>> labelled = detect_labels(images)                        # doctest: +SKIP
    >>> result = filter_by_label(images, "bird", review_min=0.2)  # doctest: +SKIP
    >>> result.matched, result.review, result.rejected          # doctest: +SKIP

Columns added (as metas, so the table's features stay as they were):
``label 1`` .. ``label k`` (categorical class names), ``confidence 1`` ..
``confidence k`` and ``labels`` (text: "tabby cat 0.71, tiger cat 0.12", or
"unreadable: <reason>" for an image that could not be read). The filter adds
``label confidence`` (probability of the asked names: the sum over the
classes under them) and ``label match`` (matched / review / rejected /
unreadable / not scanned).

Full class probabilities are not stored in the table (1,000 columns per
image): the model's logits are cached with the embeddings by content hash,
so ``filter_by_label`` recomputes them from the cache in a fraction of the
time of the first pass. The label columns remember the model in their
attribute ``imagelab-label-model``, which the filter uses when ``model`` is
not given.
"""
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Union

import numpy as np
from Orange.data import ContinuousVariable, Domain, StringVariable, Table, Variable

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.vectors import labels as core
from orangecontrib.imagelab.core import options
from orangecontrib.imagelab.core.errors import ImageError
from orangecontrib.imagelab.core.executors import cluster_executor
from orangecontrib.imagelab.core.progress import ProgressCallback, checked

__all__ = ["detect_labels", "filter_by_label", "LabelFilterResult", "label_vocabulary"]

DEFAULT_MODEL = core.LABEL_MODEL  # float Lite0, not the embedding default: see there
MODEL_ATTR = "imagelab-label-model"


@dataclass
class LabelFilterResult:
    """Result of :func:`filter_by_label`.

    ``matched``, ``review`` and ``rejected`` (Tables, None when empty)
    partition the *scanned* rows: rows whose images could not be read are in
    ``rejected`` (``label match`` = "unreadable"). Rows after an early stop or
    the cap are in none of the three; ``labelled`` holds every input row with
    the label columns (empty for those rows, ``label match`` = "not scanned").
    """
    matched: Optional[Table]
    review: Optional[Table]
    rejected: Optional[Table]
    labelled: Optional[Table]
    scanned: int
    total: int
    stopped_early: bool = False
    stop_reason: str = ""
    errors: List[ImageError] = field(default_factory=list)
    labels: List[str] = field(default_factory=list)

    @property
    def not_scanned(self) -> int:
        return self.total - self.scanned

    @property
    def counts(self) -> dict:
        """{"matched": n, "review": n, "rejected": n, "unreadable": n, "not scanned": n}."""
        if self.labelled is None or "label match" not in self.labelled.domain:
            return {"unreadable": len(self.errors)}    # labelling without a filter
        var = self.labelled.domain["label match"]
        codes = self.labelled.get_column(var)
        return {name: int(np.sum(codes == i)) for i, name in enumerate(var.values)}

    def skipped_table(self) -> Optional[Table]:
        return tables.skipped_table(self.errors)


def label_vocabulary() -> core.Vocabulary:
    """The names ``filter_by_label`` understands: ``names()`` for completion,
    ``classes_for(text)`` (raises ``UnknownLabelError`` with suggestions),
    ``class_names`` (the 1,000 ImageNet classes)."""
    return core.load_vocabulary()


def _mark(var, model):
    var.attributes[MODEL_ATTR] = model
    return var


def _strip_label_columns(data: Table) -> Table:
    """``data`` without label columns added by an earlier labelling (they are recomputed)."""
    domain = data.domain
    keep = [var for var in domain.metas if MODEL_ATTR not in var.attributes]
    if len(keep) == len(domain.metas):
        return data
    return data.transform(Domain(domain.attributes, domain.class_vars, keep))


def _label_columns(probabilities, errors, *, model, top_k, min_confidence):
    vocab = core.load_vocabulary()
    indices, values = core.top_labels(probabilities, k=top_k, min_confidence=min_confidence)
    columns = []
    for j in range(indices.shape[1]):
        names = [vocab.class_names[i] if i >= 0 else None for i in indices[:, j]]
        var, codes = tables.discrete_column(f"label {j + 1}", names)
        columns.append((_mark(var, model), codes))
    for j in range(indices.shape[1]):
        columns.append((_mark(ContinuousVariable(f"confidence {j + 1}"), model),
                        values[:, j]))
    text = core.format_labels(indices, values, vocab.class_names)
    for row, error in errors:
        text[row] = f"unreadable: {error.reason}"
    columns.append((_mark(StringVariable("labels"), model), np.array(text, dtype=object)))
    return columns


def detect_labels(data: Table, *, model: str = DEFAULT_MODEL, top_k: int = 5,
                  min_confidence: float = 0.0, column: Optional[Variable] = None,
                  callback: ProgressCallback = None, client=None,
                  scheduler: Optional[str] = None) -> Table:
    """Add the top ImageNet labels of each image as columns.

    Parameters
    ----------
    data : Table with an image column (``type=image``).
    model : a model key with ImageNet logits, e.g. "efficientnet-lite0".
    top_k : labels per image (``label 1..k``, ``confidence 1..k``).
    min_confidence : labels with a lower probability are left empty.
    column : the image column; default: the one marked ``type=image``.
    callback : progress ``callback(fraction)``; may raise Cancelled.
    client, scheduler : compute on a Dask cluster (see ``embed_images``).

    Returns
    -------
    Table : ``data`` (all rows, same order) with the label columns as metas;
    unreadable images get empty labels and "unreadable: <reason>" in ``labels``.
    """
    return label_images(data, model=model, top_k=top_k, min_confidence=min_confidence,
                        column=column, callback=callback, client=client,
                        scheduler=scheduler).labelled


def label_images(data: Table, *, model: str = DEFAULT_MODEL, top_k: int = 5,
                 min_confidence: float = 0.0, column: Optional[Variable] = None,
                 callback: ProgressCallback = None, client=None,
                 scheduler: Optional[str] = None) -> LabelFilterResult:
    """:func:`detect_labels` as a LabelFilterResult with no filter: only
    ``labelled`` (and ``errors``, ``scanned`` = ``total``) are set."""
    top_k = options.top_k(top_k)
    min_confidence = options.fraction("min_confidence", min_confidence)
    data = _strip_label_columns(data)
    locations = tables.image_locations(data, column)
    with cluster_executor(client, scheduler) as executor:
        probabilities, errors = core.class_probabilities(
            locations, model=model, callback=callback, executor=executor)
    labelled = tables.append_columns(data, metas=_label_columns(
        probabilities, errors, model=model, top_k=top_k, min_confidence=min_confidence))
    return LabelFilterResult(None, None, None, labelled, scanned=len(data), total=len(data),
                             errors=[error for _, error in errors])


def _default_model(data: Table) -> str:
    for var in data.domain.metas:
        if MODEL_ATTR in var.attributes:
            return var.attributes[MODEL_ATTR]
    return DEFAULT_MODEL


def _label_names(labels: Union[str, Iterable[str]]) -> List[str]:
    if isinstance(labels, str):
        labels = labels.split(",")
    return [name for name in (str(n).strip() for n in labels) if name]


def filter_by_label(data: Table, labels: Union[str, Iterable[str]], *,
                    min_confidence: float = 0.5, review_min: Optional[float] = None,
                    max_scanned: Optional[int] = None,
                    stop_after_misses: Optional[int] = None,
                    model: Optional[str] = None, top_k: int = 5,
                    column: Optional[Variable] = None, callback: ProgressCallback = None,
                    client=None, scheduler: Optional[str] = None) -> LabelFilterResult:
    """Split images into those that show ``labels``, those to review, and the rest.

    Parameters
    ----------
    data : Table with an image column.
    labels : a name ("bird"), several names (a list, or "cat, dog"): an image
        matches if it shows any of them. General WordNet names cover all the
        classes under them. Unknown names raise ``UnknownLabelError`` (a
        ``ValueError``) that suggests the nearest known names.
    min_confidence : an image matches if the probability of the names
        (the sum over their classes) is at least this.
    review_min : images with a probability in [review_min, min_confidence)
        go to ``review``; None: no review band.
    max_scanned : look at the first ``max_scanned`` rows only.
    stop_after_misses : stop after this many scanned images in a row that do
        not match (review or rejected; unreadable images don't count).
    model : model key; default: the one that labelled ``data``, else
        "efficientnet-lite0".
    top_k : label columns added to the outputs.
    column : the image column; default: the one marked ``type=image``.
    callback : progress ``callback(fraction)``; may raise Cancelled.
    client, scheduler : compute on a Dask cluster (see ``embed_images``).

    Returns
    -------
    LabelFilterResult : ``matched``, ``review``, ``rejected`` partition the
    scanned rows; rows not scanned (cap or early stop) are only in
    ``labelled``, and ``scanned``, ``stopped_early``, ``stop_reason`` say why.
    """
    top_k = options.top_k(top_k)
    vocab = core.load_vocabulary()
    names = _label_names(labels)
    class_indices = vocab.classes_for(names)      # raises before any work
    model = model or _default_model(data)
    data = _strip_label_columns(data)
    locations = tables.image_locations(data, column)
    with cluster_executor(client, scheduler) as executor:
        scan = core.scan_labels(
            core.location_predictor(locations, model=model, executor=executor), len(data),
            class_indices, n_classes=len(vocab), min_confidence=min_confidence,
            review_min=review_min, max_scanned=max_scanned,
            stop_after_misses=stop_after_misses, callback=callback)

    errors = list(zip(scan.error_rows, scan.errors))
    columns = _label_columns(scan.probabilities, errors, model=model, top_k=top_k,
                             min_confidence=0.0)
    confidence = _mark(ContinuousVariable("label confidence"), model)
    confidence.attributes["labels"] = ", ".join(names)
    match = _mark(tables.discrete_column("label match", [], core.STATUS_NAMES)[0], model)
    columns += [(confidence, scan.confidence), (match, scan.status.astype(float))]
    labelled = tables.append_columns(data, metas=columns)

    def subset(*codes):
        rows = np.flatnonzero(np.isin(scan.status, codes))
        return labelled[rows] if len(rows) else None

    checked(callback)(1.0)
    return LabelFilterResult(
        matched=subset(core.MATCHED), review=subset(core.REVIEW),
        rejected=subset(core.REJECTED, core.UNREADABLE), labelled=labelled,
        scanned=scan.scanned, total=len(data), stopped_early=scan.stopped_early,
        stop_reason=scan.stop_reason, errors=scan.errors, labels=names)
