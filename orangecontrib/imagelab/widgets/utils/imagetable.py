"""Helpers shared by the image-showing widgets (no Qt here)."""
import hashlib
import os
from collections.abc import Sequence

import numpy as np
from Orange.data import Table

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import SkippedEntry, skipped_summary


def selection_key(data: Table) -> str:
    """A short fingerprint of a table's rows, to recognise the same data again.

    Widgets store a selection as row indices together with this key and
    restore it only when data with the same key arrives (e.g. after the
    workflow is saved and reopened); table ids change between sessions, so
    the key hashes the row count and the image column (or, lacking one, X).
    """
    digest = hashlib.sha1(str(len(data)).encode())
    candidates = tables.image_column_candidates(data.domain)
    if candidates:
        digest.update("\0".join(map(str, data.get_column(candidates[0]))).encode())
    else:
        digest.update(np.ascontiguousarray(data.X, dtype=float).tobytes())
    return digest.hexdigest()[:16]


def skipped_message(failed: dict, total: int) -> str:
    """ "3 of 1,204 images cannot be shown: a.jpg (truncated JPEG), ..."

    ``failed``: location -> reason. The rows stay in the outputs; only their
    thumbnails are missing, hence "cannot be shown" rather than "skipped".
    """
    entries = [SkippedEntry(os.path.basename(path) or path, reason)
               for path, reason in failed.items()]
    return skipped_summary(entries, total, noun="images", verb="cannot be shown")


def group_tables(data: Table, groups: np.ndarray, *, lazy: bool = False):
    """(selected, annotated) tables for selection ``groups`` (0 = unselected).

    ``selected``: the selected rows with a ``Group`` column (G1, G2, ...), or
    None; ``annotated``: all rows with ``Group`` (G1, ..., Unselected) and
    ``Selected`` (No/Yes). Same columns as Orange's ``create_groups_table``
    and ``create_annotated_table``, but built without ``Table.transform``,
    which takes a noticeable fraction of a second with 1,000-feature
    embeddings and would stall the GUI. With ``lazy=True`` the annotated
    table is an Orange ``LazyValue``, built only if a connected widget asks.
    """
    from Orange.data import DiscreteVariable, Domain
    from Orange.data.util import get_unique_names

    groups = np.asarray(groups, dtype=np.int64)
    domain = data.domain
    k = int(groups.max(initial=0))
    group_name, selected_name = get_unique_names(domain, ["Group", "Selected"])
    labels = [f"G{i + 1}" for i in range(k)]
    group_all = DiscreteVariable(group_name, values=labels + ["Unselected"])
    selected_var = DiscreteVariable(selected_name, values=["No", "Yes"])
    codes = np.where(groups > 0, groups - 1, k).astype(float)
    annotated_domain = Domain(domain.attributes, domain.class_vars,
                              domain.metas + (group_all, selected_var))

    def make_annotated():
        metas = np.hstack([data.metas.astype(object),
                           codes[:, None], (groups > 0).astype(float)[:, None]])
        table = Table.from_numpy(
            annotated_domain, data.X, data.Y, metas,
            W=data.W if data.has_weights() else None,
            ids=data.ids, attributes=data.attributes)
        table.name = data.name
        return table

    if lazy:
        from orangewidget.utils.signals import LazyValue
        annotated = LazyValue[Table](make_annotated, length=len(data),
                                     domain=annotated_domain)
    else:
        annotated = make_annotated()
    rows = np.flatnonzero(groups)
    if not len(rows):
        return None, annotated
    group_var = DiscreteVariable(group_name, values=labels)
    selected = Table.from_numpy(
        Domain(domain.attributes, domain.class_vars, domain.metas + (group_var,)),
        data.X[rows], data.Y[rows],
        np.hstack([data.metas[rows].astype(object), codes[rows, None]]),
        W=data.W[rows] if data.has_weights() else None,
        ids=data.ids[rows], attributes=data.attributes)
    selected.name = data.name
    return selected, annotated


class LazyLocations(Sequence):
    """Image locations of a table, resolved on first access, row by row.

    Resolving 20,000 paths up front costs a tenth of a second or more on the
    GUI thread; views need only the rows on screen.
    """

    def __init__(self, data: Table, column):
        self._values = data.get_column(column)
        self._origin = column.attributes.get("origin")
        self._resolved = {}
        self._all = None

    def __len__(self):
        return len(self._values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = int(index)
        if index < 0:
            index += len(self)
        try:
            return self._resolved[index]
        except KeyError:
            location = tables.resolve_location(self._values[index], self._origin)
            self._resolved[index] = location
            return location

    def __contains__(self, location):
        if self._all is None:
            self._all = set(self)
        return location in self._all

    def missing(self) -> np.ndarray:
        """Indices of rows without a location (empty or missing cells)."""
        return np.array([i for i, value in enumerate(self._values)
                         if value is None or value == "" or
                         (isinstance(value, float) and np.isnan(value))], dtype=int)
