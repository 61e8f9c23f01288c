"""Helpers shared by the image-showing widgets (no Qt here)."""
import hashlib
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
from Orange.data import Table

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import SkippedEntry, skipped_summary


#: Tables with more rows are fingerprinted by this many evenly spaced rows.
KEY_ROWS = 5_000


def selection_key(data: Table) -> str:
    """A short fingerprint of a table's rows, to recognise the same data again.

    Widgets store a selection as row indices together with this key and
    restore it only when data with the same key arrives (e.g. after the
    workflow is saved and reopened); table ids change between sessions, so
    the key hashes the row count and the image column (or, lacking one, X).
    Above ``KEY_ROWS`` rows it hashes that many evenly spaced rows (and the
    count), so that 100,000 rows cost the GUI thread milliseconds, not a
    tenth of a second.
    """
    n = len(data)
    digest = hashlib.sha1(str(n).encode())
    rows = np.linspace(0, n - 1, KEY_ROWS).astype(np.intp) if n > KEY_ROWS else slice(None)
    candidates = tables.image_column_candidates(data.domain)
    if candidates:
        digest.update("\0".join(map(str, data.get_column(candidates[0])[rows])).encode())
    else:
        digest.update(np.ascontiguousarray(data.X[rows], dtype=float).tobytes())
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


class RowSample:
    """The rows a view shows when it cannot show them all (Image Grid).

    ``take(data, size)`` returns the table to show: ``data`` itself when it
    has at most ``size`` rows, else a representative sample of ``size`` rows
    (``api.layout.representative_sample``: reproducible, classes in
    proportion). ``rows`` are the input rows shown (None: all);
    ``full_groups`` turns the view's selection groups into groups of every
    input row, so outputs and selections refer to the input's rows.
    """

    def __init__(self):
        self.data: Optional[Table] = None   # the input, all rows
        self.rows: Optional[np.ndarray] = None

    def take(self, data: Optional[Table], size: int) -> Optional[Table]:
        from orangecontrib.imagelab.api.layout import representative_sample

        self.data, self.rows = data, None
        if data is None or len(data) <= size:
            return data
        class_var = data.domain.class_var
        strata = data.get_column(class_var) if class_var is not None and \
            class_var.is_discrete else None
        self.rows = representative_sample(len(data), size, strata=strata)
        return data[self.rows]

    def message(self) -> str:
        """What the view shows, for an Information message ("" when all)."""
        if self.rows is None:
            return ""
        by = " (each class in proportion)" if self.data.domain.class_var is not None \
            and self.data.domain.class_var.is_discrete else ""
        return (f"A representative sample of {len(self.rows):,} of the {len(self.data):,} "
                f"images is shown{by}; outputs keep all rows.")

    def full_groups(self, groups: np.ndarray) -> np.ndarray:
        """The view's groups (one per shown row) as groups of every input row."""
        if self.rows is None:
            return groups
        full = np.zeros(len(self.data), dtype=np.int64)
        full[self.rows] = groups
        return full


class LazyLocations(Sequence):
    """Image locations of a table, resolved on first access, row by row.

    Resolving 20,000 paths up front costs a tenth of a second or more on the
    GUI thread; views need only the rows on screen.
    """

    def __init__(self, data: Table, column):
        self._values = data.get_column(column)
        self._origin = column.attributes.get("origin")
        self._resolved = {}
        self._seen = set()
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
            self._seen.add(location)
            return location

    def was_resolved(self, location) -> bool:
        """Whether ``location`` was handed out (at once, unlike ``in``, which
        resolves every row): views ask thumbnails only for those."""
        return location in self._seen

    def __contains__(self, location):
        if self._all is None:
            self._all = set(self)
        return location in self._all

    def missing(self) -> np.ndarray:
        """Indices of rows without a location (empty or missing cells)."""
        values = self._values
        if values.dtype != object:
            values = values.astype(object)
        # element-wise comparisons run in C: 100,000 rows in milliseconds
        empty = (values == None) | (values == "") | (values != values)  # noqa: E711 (NaN)
        return np.flatnonzero(empty)
