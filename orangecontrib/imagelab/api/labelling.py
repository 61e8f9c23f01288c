"""Labelling by hand: stable keys for images, and tables with the labels applied.

    >>> keys = image_keys(images)                  # content hashes, one per row
    >>> labelled, unlabelled = apply_labels(images, labels, by_hand, classes)

Hand edits are stored by an image's **content hash** (SHA-256 of the file,
the same hash a snapshot records), so they survive a saved and moved
workflow, a changed input order, a renamed file and a snapshot's clone, whose
rows point at copies of the same bytes. An image that cannot be read is keyed
by its location as stored in the table (its relative path) instead.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
from Orange.data import DiscreteVariable, Domain, Table

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.progress import ProgressCallback
from orangecontrib.imagelab.core.store.snapshot import hash_files

__all__ = ["image_keys", "apply_labels", "LABELLED_BY", "BY_INPUT", "BY_HAND",
           "input_labels"]

LABELLED_BY = "labelled by"
BY_INPUT, BY_HAND = "input", "hand"


def image_keys(data: Table, image_var=None, *,
               callback: ProgressCallback = None) -> List[str]:
    """The key of each row's image: its SHA-256 (hex), or, for an image that
    cannot be read, the image column's value (e.g. "cats/IMG_1.jpg")."""
    image_var = image_var or tables.find_image_column(data.domain)
    if image_var is None:
        raise ValueError("data has no image column (a text column with type=image)")
    locations = tables.image_locations(data, image_var)
    values = [str(v) for v in data.get_column(image_var)]
    unique = sorted({loc for loc in locations if loc})
    hashes = dict(zip(unique, hash_files(unique, callback=callback)))
    keys = []
    for location, value in zip(locations, values):
        sha = hashes.get(location, (None,))[0] if location else None
        keys.append(sha or value)
    return keys


def input_labels(data: Table, column) -> List[Optional[str]]:
    """The values of a categorical ``column`` as text (None where missing)."""
    if column is None:
        return [None] * len(data)
    codes = data.get_column(column).astype(float)
    return [None if np.isnan(c) else column.values[int(c)] for c in codes]


def apply_labels(data: Table, labels: Sequence[Optional[str]], by_hand: Sequence[bool],
                 classes: Sequence[str], *, name: str = "label",
                 replace: Optional[DiscreteVariable] = None
                 ) -> Tuple[Optional[Table], Optional[Table]]:
    """``(labelled, unlabelled)`` rows of ``data`` with the labels applied.

    The labels become the class ``name`` with values ``classes`` (in that
    order), replacing the class variable and ``replace`` (the column the
    labels started from) if it is a meta or attribute. A meta ``labelled by``
    says "input" or "hand" for each row with a label. The tables are marked
    as editable (``tables.mark_parent``) with the snapshot the input came
    from, if any. Either is None when it would have no rows.
    """
    n = len(data)
    if len(labels) != n or len(by_hand) != n:
        raise ValueError(f"labels and by_hand need {n} values each, got "
                         f"{len(labels)} and {len(by_hand)}")
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({label for label in labels if label is not None and label not in index})
    if unknown:
        raise ValueError(f"labels {unknown} are not among classes {classes}")
    codes = np.array([index[label] if label is not None else np.nan for label in labels])
    hand = np.array([1.0 if h else 0.0 for h in by_hand])
    hand[np.isnan(codes)] = np.where(np.asarray(by_hand, dtype=bool), 1.0, np.nan)[
        np.isnan(codes)]
    domain = data.domain
    drop = {var for var in (domain.class_var, replace) if var is not None}
    drop |= {var for var in domain.metas if var.name == LABELLED_BY}
    class_var = DiscreteVariable(name, values=classes)
    by_var = DiscreteVariable(LABELLED_BY, values=[BY_INPUT, BY_HAND])
    attributes = [var for var in domain.attributes if var not in drop]
    metas = [var for var in domain.metas if var not in drop]
    new_domain = Domain(attributes, class_var, metas + [by_var])
    X = data.X[:, [domain.attributes.index(var) for var in attributes]] \
        if attributes else np.empty((n, 0))
    M = np.empty((n, len(metas) + 1), dtype=object)
    for j, var in enumerate(metas):
        M[:, j] = data.metas[:, domain.metas.index(var)]
    M[:, -1] = hand
    result = Table.from_numpy(new_domain, X, codes, M,
                              W=data.W if data.has_weights() else None, ids=data.ids)
    result.name = data.name
    if tables.find_image_column(result.domain) is not None:
        parent = tables.parent_info(data) or tables.snapshot_info(data)
        result = tables.mark_parent(result, parent)
    has_label = ~np.isnan(codes)
    labelled = result[np.flatnonzero(has_label)] if has_label.any() else None
    unlabelled = result[np.flatnonzero(~has_label)] if (~has_label).any() else None
    return labelled, unlabelled
