"""``save_images`` and ``sort_predictions``: write image tables into folders.

    >>> from orangecontrib.imagelab import save_images, sort_predictions
    >>> report = save_images(images, "out/", by="category")       # doctest: +SKIP
    >>> report.summary()                                          # doctest: +SKIP
    '120 saved, 3 already present, 1 of 124 skipped: a/x.jpg (file not found)'
    >>> result = sort_predictions(predictions, "sorted/",
    ...                           min_confidence=0.8, review_below=0.5)  # doctest: +SKIP
    >>> result.sorted, result.review, result.rejected                  # doctest: +SKIP

Nothing is ever deleted or overwritten (see ``core.store.saving``); a rerun
into the same folder finds the files already there and writes nothing twice.
``read_manifest(folder / "manifest.csv")`` reads a manifest back, values
exactly as written (the spreadsheet-safe escaping undone).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from Orange.data import ContinuousVariable, DiscreteVariable, StringVariable, Table, Variable

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.store import saving as core
from orangecontrib.imagelab.core import options
from orangecontrib.imagelab.core.progress import ProgressCallback
from orangecontrib.imagelab.core.store.manifest import read_manifest
from orangecontrib.imagelab.core.store.saving import (
    FORMATS, MODES, SavedFile, SaveReport, SkippedFile, TargetFolderError, short_path)

__all__ = ["save_images", "sort_predictions", "plan_predictions", "SaveReport", "SortReport",
           "PredictionPlan",
           "categorical_columns", "find_prediction_columns", "TargetFolderError",
           "MODES", "FORMATS", "REVIEW_FOLDER", "read_manifest", "short_path"]

REVIEW_FOLDER = "_review"
_REVIEW_KEY = ("review",)  # a label that no class value can equal

ColumnSpec = Union[Variable, str, None]


def categorical_columns(domain) -> List[DiscreteVariable]:
    """Categorical columns to sort by: class variables, then metas, then features."""
    return [var for var in domain.class_vars + domain.metas + domain.attributes
            if var.is_discrete]


def _get_column(domain, spec: ColumnSpec, what: str, candidates: Sequence[Variable]):
    names = ", ".join(repr(var.name) for var in candidates) or "none"
    if isinstance(spec, Variable):
        spec = spec.name
    for var in candidates:
        if var.name == spec:
            return var
    raise ValueError(f"{what} {spec!r} is not in the table; choose one of: {names}")


def _labels(table: Table, var: DiscreteVariable) -> List[Optional[str]]:
    codes = table.get_column(var)
    return [None if np.isnan(code) else var.values[int(code)] for code in codes]


def _image_column(table: Table, image_column: ColumnSpec):
    if image_column is None:
        column = tables.find_image_column(table.domain)
        if column is None:
            raise ValueError("the table has no image column (a text column with the "
                             "attribute type=image); pass image_column=<name>")
        return column
    return _get_column(table.domain, image_column, "image_column",
                       tables.image_column_candidates(table.domain))


def save_images(data, folder, *, by=None, image_column: ColumnSpec = None,
                mode: str = "copy", format: Optional[str] = None,
                max_size: Optional[int] = None, manifest: bool = True,
                callback: ProgressCallback = None) -> SaveReport:
    """Save the images of a table into ``folder``, one subfolder per value of ``by``.

    Parameters
    ----------
    data : Orange Table with an image column (or a list of image paths)
    folder : target folder, created if needed; nothing in it is replaced
    by : a categorical column (name or variable; class, meta or feature).
        None: the class variable if it is categorical, else one flat folder;
        False: one flat folder. Rows with a missing value go to ``_unlabeled``.
    image_column : the column with image locations (default: the one marked
        ``type=image``)
    mode : "copy" (byte for byte), "link" (hard links, copies across
        devices) or "convert" (re-encode to ``format``: jpeg, png, webp,
        tiff, bmp; default the source's format)
    max_size : in convert mode, scale down so the longest side is at most this
    manifest : append a row per file to ``folder/manifest.csv``
    callback : ``callback(fraction)``; may raise ``Cancelled``

    Returns a ``SaveReport`` (``saved``, ``renamed``, ``already_present``,
    ``skipped``, ``manifest``, ``destinations`` per row, ``summary()``).
    """
    if not isinstance(data, Table):
        return core.save_files([None if p is None else str(p) for p in data], folder,
                               mode=mode, format=format, max_size=max_size,
                               manifest=manifest, callback=callback)
    column = _image_column(data, image_column)
    locations = tables.image_locations(data, column)
    labels = None
    if by is None:
        class_var = data.domain.class_var
        if class_var is not None and class_var.is_discrete:
            labels = _labels(data, class_var)
    elif by is not False:
        var = _get_column(data.domain, by, "by", categorical_columns(data.domain))
        labels = _labels(data, var)
    return core.save_files(locations, folder, labels=labels, mode=mode, format=format,
                           max_size=max_size, manifest=manifest, callback=callback)


# ------------------------------------------------------------ predictions

def find_prediction_columns(domain) -> List[Tuple[DiscreteVariable,
                                                  Dict[str, ContinuousVariable]]]:
    """Prediction columns made by Orange's Predictions widget, with their
    probability columns ``"<model> (<class>)"`` (a dict class -> variable).

    Columns with probabilities come first; a table with no probabilities
    (Predictions shows none for data without a class) lists its categorical
    metas, the last added first.
    """
    by_name = {var.name: var for var in domain.variables + domain.metas}
    found = []
    for var in domain.metas:
        if not var.is_discrete:
            continue
        probs = {}
        for value in var.values:
            prob = by_name.get(f"{var.name} ({value})")
            if prob is not None and prob.is_continuous:
                probs[value] = prob
        found.append((var, probs))
    with_probs = [item for item in found if item[1]]
    without = [item for item in reversed(found) if not item[1]]
    return with_probs + without


@dataclass
class SortReport:
    """Result of :func:`sort_predictions`.

    ``sorted``, ``review`` and ``rejected`` partition the input rows (Tables,
    None when empty), each with the columns ``confidence``, ``saved as``
    (the path now holding the image; empty if not saved) and ``status``.
    ``save`` is the ``SaveReport`` of the files written.
    """
    save: SaveReport
    prediction_column: str
    decisions: List[str]
    confidence: np.ndarray
    sorted: Optional[Table] = None
    review: Optional[Table] = None
    rejected: Optional[Table] = None
    counts: Dict[str, int] = field(default_factory=dict)

    @property
    def saved(self) -> List[SavedFile]:
        return self.save.saved

    @property
    def renamed(self) -> List[SavedFile]:
        return self.save.renamed

    @property
    def already_present(self) -> List[SavedFile]:
        return self.save.already_present

    @property
    def skipped(self) -> List[SkippedFile]:
        return self.save.skipped

    @property
    def manifest(self) -> Optional[str]:
        return self.save.manifest

    def summary(self, max_names: int = 3) -> str:
        n_sorted, n_review, n_rejected = (self.counts.get(k, 0)
                                          for k in ("sorted", "review", "rejected"))
        return (f"{n_sorted:,} sorted, {n_review:,} to review, {n_rejected:,} rejected; "
                + self.save.summary(max_names))


@dataclass
class PredictionPlan:
    """Where each row of a predictions table goes, before anything is written."""
    prediction_column: DiscreteVariable
    predicted: List[Optional[str]]
    confidence: np.ndarray
    decisions: List[str]  # "sorted", "review" or "rejected"
    status: List[str]     # why a row is rejected ("" otherwise)

    @property
    def counts(self) -> Dict[str, int]:
        return {k: self.decisions.count(k) for k in ("sorted", "review", "rejected")}


def plan_predictions(data: Table, *, prediction_column: ColumnSpec = None,
                     min_confidence: float = 0.0, review_below: Optional[float] = None,
                     max_images: Optional[int] = None) -> PredictionPlan:
    """Decide where each row goes (see ``sort_predictions``); writes nothing."""
    min_confidence = options.fraction("min_confidence", min_confidence)
    review_below = options.fraction("review_below", review_below, optional=True)
    if review_below is not None and review_below > min_confidence:
        raise ValueError(f"review_below must lie in [0, min_confidence={min_confidence}]; "
                         f"got {review_below}")
    if max_images is not None and int(max_images) < 1:
        raise ValueError(f"max_images must be at least 1; got {max_images}")
    candidates = find_prediction_columns(data.domain)
    if not candidates:
        raise ValueError("the table has no prediction column: connect the Predictions "
                         "widget's output (a categorical column per model)")
    if prediction_column is None:
        pred_var, probs = candidates[0]
    else:
        pred_var = _get_column(data.domain, prediction_column, "prediction_column",
                               [var for var, _ in candidates])
        probs = dict(candidates)[pred_var]
    thresholds = min_confidence > 0 or review_below is not None
    if thresholds and not probs:
        raise ValueError(
            f"the table has no probabilities for {pred_var.name!r}, so min_confidence "
            "and review_below cannot be applied: in Predictions, set 'Show "
            "probabilities for' to 'Classes known to the model'")
    predicted = _labels(data, pred_var)
    n = len(data)
    confidence = np.full(n, np.nan)
    for value, var in probs.items():
        rows = np.array([p == value for p in predicted], dtype=bool)
        confidence[rows] = data.get_column(var)[rows]

    decisions, status = [], []
    for label, conf in zip(predicted, confidence):
        if label is None:
            decisions.append("rejected")
            status.append("rejected: no prediction")
        elif not thresholds or conf >= min_confidence:
            decisions.append("sorted")
            status.append("")
        elif np.isnan(conf):
            decisions.append("rejected")
            status.append("rejected: no probability")
        elif review_below is not None and conf >= review_below:
            decisions.append("review")
            status.append("")
        else:
            decisions.append("rejected")
            status.append(f"rejected: confidence {conf:.2f} < "
                          f"{review_below if review_below is not None else min_confidence:.2f}")
    if max_images is not None:
        groups: Dict[object, List[int]] = {}
        for i, decision in enumerate(decisions):
            if decision != "rejected":
                key = predicted[i] if decision == "sorted" else _REVIEW_KEY
                groups.setdefault(key, []).append(i)
        for rows in groups.values():
            conf = np.nan_to_num(confidence[rows], nan=-1.0)
            order = np.argsort(-conf, kind="stable")
            for j in order[int(max_images):]:
                decisions[rows[j]] = "rejected"
                status[rows[j]] = f"rejected: over max_images={max_images}"

    return PredictionPlan(pred_var, predicted, confidence, decisions, status)


def sort_predictions(data: Table, folder, *, prediction_column: ColumnSpec = None,
                     min_confidence: float = 0.0, review_below: Optional[float] = None,
                     max_images: Optional[int] = None, mode: str = "copy",
                     image_column: ColumnSpec = None, manifest: bool = True,
                     callback: ProgressCallback = None) -> SortReport:
    """Sort predicted images into one folder per predicted class.

    Parameters
    ----------
    data : the table from Orange's Predictions widget (image column,
        a categorical prediction column, and probability columns
        ``"<model> (<class>)"``)
    folder : target folder; nothing in it is replaced
    prediction_column : name or variable; default the first prediction with
        probabilities (see ``find_prediction_columns``)
    min_confidence : an image goes to its predicted class's folder when the
        probability of that class is at least this
    review_below : images with ``review_below <= probability < min_confidence``
        go to ``_review``; the others are rejected (not saved). None: no review.
    max_images : at most this many images per folder, the most confident first
        (the rest are rejected)
    mode : "copy", "link" or "convert" (as in ``save_images``)

    Raises ValueError when thresholds are set but the table has no
    probabilities (in Predictions, choose "Show probabilities for: Classes
    known to the model").
    """
    plan = plan_predictions(data, prediction_column=prediction_column,
                            min_confidence=min_confidence, review_below=review_below,
                            max_images=max_images)
    pred_var, predicted, confidence = plan.prediction_column, plan.predicted, plan.confidence
    decisions, status = plan.decisions, list(plan.status)
    n = len(data)
    locations = tables.image_locations(data, _image_column(data, image_column))
    chosen = [i for i, d in enumerate(decisions) if d != "rejected"]
    labels = [predicted[i] if decisions[i] == "sorted" else _REVIEW_KEY for i in chosen]
    report = core.save_files([locations[i] for i in chosen], folder, labels=labels,
                             mode=mode, manifest=manifest, callback=callback,
                             fixed_folders={_REVIEW_KEY: REVIEW_FOLDER})
    saved_as = [""] * n
    skipped = {s.index: s.reason for s in report.skipped}
    for k, i in enumerate(chosen):
        destination = report.destinations[k]
        saved_as[i] = destination or ""
        if destination is None:
            status[i] = f"skipped: {skipped[k]}" if k in skipped else \
                "not saved: saving stopped" if report.stopped else "skipped: not saved"
        else:
            status[i] = "saved"
    for item in report.already_present:
        status[chosen[item.index]] = "already present"
    result = SortReport(save=report, prediction_column=pred_var.name,
                        decisions=decisions, confidence=confidence, counts=plan.counts)
    annotated = tables.append_columns(
        data, metas=[(ContinuousVariable("confidence"), confidence),
                     (StringVariable("saved as"), np.array(saved_as, dtype=object)),
                     (StringVariable("status"), np.array(status, dtype=object))])
    for kind in ("sorted", "review", "rejected"):
        rows = [i for i, d in enumerate(decisions) if d == kind]
        setattr(result, kind, annotated[rows] if rows else None)
    return result
