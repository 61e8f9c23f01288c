"""``find_issues``: duplicates, bad images, outliers and likely label errors of an image table.

    >>> from orangecontrib.imagelab import find_issues
    >>> report = find_issues(embedded)                      # doctest: +SKIP
    >>> report.summary          # one row per check: issue, images, threshold, how
    >>> report.data             # every row + scores, flags, groups, suggested labels
    >>> report.flagged, report.clean(), report.groups

Columns added to ``data`` (metas, so the features stay as they were):

- ``issues`` (text: "dark, blurry"), ``issue`` (categorical: the first issue
  of the row in the order of ``CHECKS``, or "none"; colour Image Grid by it)
  and ``issue count``;
- for every check that ran, ``<issue> score`` (0-1, low = more of the issue)
  and ``<issue>`` (no / yes), e.g. ``dark score`` and ``dark``;
  ``unreadable`` (no / yes) for images that could not be read (their reason
  in ``issues``);
- ``duplicate group`` (1, 2, ...; empty outside groups) and ``keep`` (yes
  for the one image of each group to keep: the largest, then the oldest);
- with labels: ``label quality`` (probability of the given label) and
  ``suggested label`` (the given label where it looks right, another class
  where it looks wrong, the likeliest class for unlabelled rows), so Label
  Images' "disagreeing with" filter shows exactly the suspect rows.

Thresholds are in ``DEFAULT_THRESHOLDS`` (documented in
``core.vectors.issues``, next to CleanVision's); pass ``thresholds={...}``
to change them.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from Orange.data import (ContinuousVariable, DiscreteVariable, Domain, StringVariable,
                         Table, Variable)

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.errors import ImageError
from orangecontrib.imagelab.core.executors import cluster_executor
from orangecontrib.imagelab.core.progress import ProgressCallback
from orangecontrib.imagelab.core.vectors import issues as core
from orangecontrib.imagelab.core.vectors.issues import (  # noqa: F401 (re-exported)
    ALL, CHECKS, DEFAULT_THRESHOLDS, PIXEL_CHECKS, TITLES, UNREADABLE, VECTOR_CHECKS)

__all__ = ["find_issues", "IssueReport", "CHECKS", "ALL", "DEFAULT_THRESHOLDS", "TITLES",
           "issue_column_names", "probabilities_from_predictions", "issue_column",
           "suggested_label_column"]

#: attribute on every added column: the check it belongs to (or "issues")
ISSUE_ATTRIBUTE = "imagelab-issue"
NO_YES = ("no", "yes")
GROUP_COLUMN = "duplicate group"
KEEP_COLUMN = "keep"
QUALITY_COLUMN = "label quality"
SUGGESTED_COLUMN = "suggested label"


def issue_column_names(check: str):
    """(score column, flag column) names of a check, e.g. ("dark score", "dark")."""
    title = TITLES[check]
    return f"{title} score", title


@dataclass
class IssueReport:
    """Result of :func:`find_issues`.

    ``data``: every input row with the issue columns; ``summary``: one row
    per check (issue, images flagged, threshold, how it ran or why it was
    skipped); ``groups``: the rows in duplicate groups, by group, with
    ``duplicate kind`` (exact / near); ``flagged``: rows with any issue;
    ``errors``: ImageError per unreadable image; ``counts``: check ->
    images flagged; ``notes``: check -> how it ran or why it was skipped.
    """
    data: Optional[Table]
    summary: Table
    groups: Optional[Table]
    flagged: Optional[Table]
    counts: Dict[str, int]
    thresholds: Dict[str, float]
    notes: Dict[str, str] = field(default_factory=dict)
    errors: List[ImageError] = field(default_factory=list)
    cached: int = 0
    arrays: Optional[core.IssueArrays] = None

    def clean(self, keep_one_per_group: bool = True) -> Optional[Table]:
        """Rows without issues; with ``keep_one_per_group``, each duplicate
        group's kept image counts as clean if it has no other issue."""
        if self.data is None or self.arrays is None:
            return None
        rows = clean_rows(self.arrays, keep_one_per_group)
        return self.data[rows] if len(rows) else None

    def with_issues(self, checks: Sequence[str]) -> Optional[Table]:
        """``data`` whose ``issues``, ``issue`` and ``issue count`` consider only
        ``checks`` (e.g. those ticked in the widget; ``unreadable`` always
        counts), so colouring by ``issue`` shows what makes an image flagged.
        The score and flag columns of every check stay; the ``issue``
        variable keeps all its values, so its colours do not change."""
        if self.data is None or self.arrays is None:
            return None
        order = _issue_order(self.arrays)
        counted = [c for c in order if c in set(checks) or c == UNREADABLE]
        texts, first, count = _issue_columns(self.arrays, order, counted)
        data = self.data.copy()
        metas = data.domain.metas
        with data.unlocked(data.metas):
            for name, values in (("issues", texts), ("issue", first),
                                 ("issue count", count)):
                var = next(v for v in metas
                           if v.name == name and ISSUE_ATTRIBUTE in v.attributes)
                data.metas[:, metas.index(var)] = values
        return data


def clean_rows(arrays: core.IssueArrays, keep_one_per_group: bool = True) -> np.ndarray:
    """Row indices of the images without issues (see ``IssueReport.clean``)."""
    n = len(arrays.groups)
    other = np.zeros(n, dtype=bool)
    for check, flag in arrays.flags.items():
        if check not in ("exact_duplicates", "near_duplicates"):
            other |= flag
    duplicate = arrays.groups >= 0
    if keep_one_per_group:
        duplicate &= ~arrays.keep
    return np.flatnonzero(~other & ~duplicate)


def _marked_column(domain: Optional[Domain], name: str) -> Optional[DiscreteVariable]:
    if domain is None:
        return None
    return next((var for var in domain.variables + domain.metas
                 if var.name == name and var.is_discrete
                 and ISSUE_ATTRIBUTE in var.attributes), None)


def issue_column(domain: Optional[Domain]) -> Optional[DiscreteVariable]:
    """The ``issue`` column Image Issues added to ``domain``, if any (Image Grid
    colours by it by default)."""
    return _marked_column(domain, "issue")


def suggested_label_column(domain: Optional[Domain]) -> Optional[DiscreteVariable]:
    """The ``suggested label`` column Image Issues added to ``domain``, if any
    (Label Images compares with it by default)."""
    return _marked_column(domain, SUGGESTED_COLUMN)


def _embedding_columns(data: Table) -> List[Variable]:
    return [var for var in data.domain.attributes
            if var.is_continuous and "embedding" in var.attributes]


def _label_variable(data: Table, labels) -> Optional[DiscreteVariable]:
    if labels is False:
        return None
    if labels is None:
        var = data.domain.class_var
        return var if var is not None and var.is_discrete else None
    var = data.domain[labels] if isinstance(labels, str) else labels
    if var not in data.domain or not var.is_discrete:
        raise ValueError(f"labels: {getattr(var, 'name', var)!r} is not a categorical "
                         "column of the data; pass a categorical column or None")
    return var


def probabilities_from_predictions(predictions: Table, data: Table,
                                   label_var: DiscreteVariable) -> np.ndarray:
    """(n, k) class probabilities for the rows of ``data`` from Orange's
    Predictions output (columns "<model> (<class>)"), matched by row id.

    Raises ValueError naming what is missing.
    """
    domain = predictions.domain
    names = {var.name: var for var in domain.metas}
    for model in (var for var in domain.metas if var.is_discrete):
        columns = [names.get(f"{model.name} ({value})") for value in label_var.values]
        if all(var is not None and var.is_continuous for var in columns):
            break
    else:
        raise ValueError(
            "Predictions has no probability column for each class of "
            f"{label_var.name!r}: in Predictions, show the probabilities of "
            "'Classes in data' (or all classes)")
    position = {row_id: i for i, row_id in enumerate(predictions.ids)}
    out = np.full((len(data), len(label_var.values)), np.nan)
    values = np.column_stack([predictions.get_column(var) for var in columns])
    matched = 0
    for i, row_id in enumerate(data.ids):
        j = position.get(row_id)
        if j is not None:
            out[i] = values[j]
            matched += 1
    if not matched:
        raise ValueError("Predictions are for other rows: feed Predictions the same "
                         "data as Image Issues")
    return out


def _vectors(data: Table, embeddings) -> Optional[np.ndarray]:
    if embeddings is False:
        return None
    if embeddings is None:
        columns = _embedding_columns(data)
        if not columns:
            return None
        return np.column_stack([data.get_column(var) for var in columns]).astype(float)
    if isinstance(embeddings, Table):
        if len(embeddings) != len(data):
            raise ValueError(f"embeddings has {len(embeddings)} rows for {len(data)} images")
        return np.asarray(embeddings.X, dtype=float)
    vectors = np.asarray(embeddings, dtype=float)
    if vectors.ndim != 2 or len(vectors) != len(data):
        raise ValueError(f"embeddings must be an (n, d) array with n = {len(data)} "
                         f"rows, got shape {vectors.shape}")
    return vectors


def find_issues(data: Table, *, checks: Sequence[str] = ALL,
                embeddings: Union[None, bool, Table, np.ndarray] = None,
                labels: Union[None, bool, str, Variable] = None,
                probabilities: Union[None, Table, np.ndarray] = None,
                thresholds: Optional[Dict[str, float]] = None,
                image_column: Union[None, str, Variable] = None,
                use_cache: bool = True, callback: ProgressCallback = None,
                client=None, scheduler: Optional[str] = None) -> IssueReport:
    """Find duplicates, bad images, outliers and likely label errors in ``data``.

    Parameters
    ----------
    data : Table with an image column (``type=image``), e.g. from Import Images
        or Image Embedding
    checks : names from ``CHECKS`` (default: all)
    embeddings : None: the table's embedding columns, if any (from Image
        Embedding); False: none; or a Table / (n, d) array, one row per image
    labels : None: the table's categorical class, if any; False: no label
        check; or the name of a categorical column
    probabilities : class probabilities to judge labels with instead of the
        out-of-fold logistic regression: Orange's Predictions output (rows
        matched by id) or an (n, k) array in the label's value order
    thresholds : overrides of ``DEFAULT_THRESHOLDS``; an unknown key or a value
        out of range raises ValueError
    image_column : default: the column marked ``type=image``
    use_cache : read and write the pixel-statistics cache
    callback : progress ``callback(fraction)``; may raise Cancelled
    client, scheduler : read and measure the images on a Dask cluster (see
        ``embed_images``); the statistics come back and are cached here
    """
    core.check_options(checks, thresholds)  # fail before any work
    if isinstance(image_column, str):
        image_column = data.domain[image_column]
    locations = tables.image_locations(data, image_column)
    vectors = _vectors(data, embeddings)
    label_var = _label_variable(data, labels)
    codes = data.get_column(label_var) if label_var is not None else None
    n_classes = len(label_var.values) if label_var is not None else 0
    if isinstance(probabilities, Table):
        if label_var is None:
            raise ValueError("probabilities need labels: the data has no categorical class")
        probabilities = probabilities_from_predictions(probabilities, data, label_var)
    with cluster_executor(client, scheduler) as executor:
        arrays = core.find_issues_arrays(
            locations, checks=checks, embeddings=vectors, labels=codes, n_classes=n_classes,
            probabilities=probabilities, thresholds=thresholds, use_cache=use_cache,
            executor=executor, callback=callback)
    return _report(data, arrays, label_var)


def _flag_var(check: str) -> DiscreteVariable:
    var = DiscreteVariable(TITLES[check], values=NO_YES)
    var.attributes[ISSUE_ATTRIBUTE] = check
    return var


def _score_var(check: str) -> ContinuousVariable:
    var = ContinuousVariable(issue_column_names(check)[0], number_of_decimals=3)
    var.attributes[ISSUE_ATTRIBUTE] = check
    return var


def _strip_issue_columns(data: Table) -> Table:
    """``data`` without the columns of an earlier run (they are recomputed)."""
    domain = data.domain
    keep = [var for var in domain.metas if ISSUE_ATTRIBUTE not in var.attributes]
    if len(keep) == len(domain.metas):
        return data
    return data.transform(Domain(domain.attributes, domain.class_vars, keep))


def _issue_order(arrays: core.IssueArrays) -> List[str]:
    """The checks that ran, in the order of ``CHECKS``, then ``unreadable``."""
    return [check for check in CHECKS if check in arrays.flags] + [UNREADABLE]


def _issue_columns(arrays: core.IssueArrays, order: Sequence[str],
                   counted: Sequence[str]):
    """(issues text, issue code, issue count) per row over the ``counted``
    checks; codes index ``["none"] + order``: the first counted issue."""
    n = len(arrays.groups)
    reasons = dict(zip(arrays.error_rows, (e.reason for e in arrays.errors)))
    counted = set(counted)
    texts, first = np.empty(n, dtype=object), np.zeros(n)
    for i in range(n):
        hit = [k for k, c in enumerate(order) if c in counted and arrays.flags[c][i]]
        names = [TITLES[order[k]] for k in hit]
        if i in reasons:
            names[-1] = f"unreadable ({reasons[i]})"
        texts[i] = ", ".join(names)
        first[i] = hit[0] + 1 if hit else 0
    count = sum((arrays.flags[c].astype(float) for c in order if c in counted),
                np.zeros(n))
    return texts, first, count


def _report(data: Table, arrays: core.IssueArrays,
            label_var: Optional[DiscreteVariable]) -> IssueReport:
    data = _strip_issue_columns(data)
    n = len(data)
    order = _issue_order(arrays)
    issue_text, first, count = _issue_columns(arrays, order, order)
    issue_var = DiscreteVariable("issue", values=["none"] + [TITLES[c] for c in order])
    columns = [(StringVariable("issues"), issue_text),
               (issue_var, first),
               (ContinuousVariable("issue count", number_of_decimals=0), count)]
    for check in order:
        if check in arrays.scores:
            columns.append((_score_var(check), arrays.scores[check]))
        columns.append((_flag_var(check), arrays.flags[check].astype(float)))
    in_group = arrays.groups >= 0
    if in_group.any():
        columns.append((ContinuousVariable(GROUP_COLUMN, number_of_decimals=0),
                        np.where(in_group, arrays.groups + 1.0, np.nan)))
        columns.append((DiscreteVariable(KEEP_COLUMN, values=NO_YES),
                        np.where(in_group, arrays.keep.astype(float), np.nan)))
    if label_var is not None and "label_errors" in arrays.flags:
        columns.append((ContinuousVariable(QUALITY_COLUMN, number_of_decimals=3),
                        arrays.label_quality))
        suggested = arrays.suggested.astype(float)
        suggested[arrays.suggested < 0] = np.nan
        columns.append((DiscreteVariable(SUGGESTED_COLUMN, values=label_var.values),
                        suggested))
    for var, _ in columns:
        var.attributes.setdefault(ISSUE_ATTRIBUTE, "issues")
    annotated = tables.append_columns(data, metas=columns)
    annotated.name = "Image Issues"

    any_issue = np.zeros(n, dtype=bool)
    for check in order:
        any_issue |= arrays.flags[check]
    flagged = annotated[np.flatnonzero(any_issue)] if any_issue.any() else None

    groups = None
    if in_group.any():
        rows = np.flatnonzero(in_group)
        rows = rows[np.lexsort((rows, arrays.groups[rows]))]
        kinds = [arrays.group_kind[g] for g in arrays.groups[rows]]
        groups = tables.append_columns(
            annotated[rows],
            metas=[(DiscreteVariable("duplicate kind", values=("exact", "near")),
                    np.array([0.0 if k == "exact" else 1.0 for k in kinds]))])
        groups.name = "Duplicate Groups"

    counts = {check: int(arrays.flags[check].sum()) for check in order}
    summary = _summary(arrays, counts)
    return IssueReport(annotated, summary, groups, flagged, counts, arrays.thresholds,
                       arrays.notes, list(arrays.errors), arrays.cached, arrays)


def _threshold_text(check: str, limits: Dict[str, float]) -> str:
    if check in ("dark", "light", "blurry", "low_information", "grayscale", "odd_size",
                 "odd_aspect_ratio"):
        return f"score < {limits[check]:g}"
    return {"exact_duplicates": "identical pixels",
            "near_duplicates": "",
            "outliers": f"top {100 * (1 - limits['outlier_quantile']):.3g} %",
            "label_errors": "confident learning", UNREADABLE: ""}[check]


def _summary(arrays: core.IssueArrays, counts: Dict[str, int]) -> Table:
    """One row per check: issue, images, threshold, how (skipped ones with an empty count)."""
    rows = []
    for check in list(CHECKS) + [UNREADABLE]:
        if check in counts:
            rows.append((TITLES[check], counts[check], _threshold_text(check, arrays.thresholds),
                         arrays.notes.get(check, "")))
        elif check in arrays.notes:
            rows.append((TITLES[check], np.nan, "", arrays.notes[check]))
    issue = StringVariable("issue")
    table = tables.table_from_columns(
        [(issue, [r[0] for r in rows]),
         (ContinuousVariable("images", number_of_decimals=0), [r[1] for r in rows]),
         (StringVariable("threshold"), [r[2] for r in rows]),
         (StringVariable("how"), [r[3] for r in rows])], name="Issue Summary")
    return table
