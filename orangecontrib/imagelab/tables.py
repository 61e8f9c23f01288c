"""The adapter between core results (paths, arrays, records) and Orange tables.

Convention, shared with orange3-imageanalytics: one string meta column holds
the image location, with the variable attributes ``type = "image"`` and
``origin = <base folder or URL>``; its values are paths relative to origin
(with "/"), absolute paths, or URLs.
"""
import os
import posixpath
import urllib.parse
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
from Orange.data import (
    ContinuousVariable, DiscreteVariable, Domain, StringVariable, Table,
    Variable)

IMAGE_TYPE = "image"


def image_variable(name: str = "image", origin: Optional[str] = None) -> StringVariable:
    """A string variable marked as holding image locations under ``origin``."""
    var = StringVariable(name)
    var.attributes["type"] = IMAGE_TYPE
    if origin is not None:
        var.attributes["origin"] = str(origin)
    return var


def is_image_variable(var: Variable) -> bool:
    return var.is_string and var.attributes.get("type") == IMAGE_TYPE


def image_column_candidates(domain: Domain) -> List[StringVariable]:
    """String variables that may hold images: marked ones first."""
    strings = [var for var in domain.variables + domain.metas if var.is_string]
    return sorted(strings, key=lambda var: not is_image_variable(var))


def find_image_column(domain: Domain) -> Optional[StringVariable]:
    """The column marked ``type=image``; else the only string column; else None."""
    candidates = image_column_candidates(domain)
    if candidates and (is_image_variable(candidates[0]) or len(candidates) == 1):
        return candidates[0]
    return None


def _is_url(text: str) -> bool:
    return text.split(":", 1)[0].lower() in ("http", "https", "file") and "://" in text


def resolve_location(value: str, origin: Optional[str]) -> Optional[str]:
    """A cell value joined with the column's origin into a path or a URL."""
    if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
        return None
    value = str(value)
    if _is_url(value) or os.path.isabs(value) or not origin:
        return value
    if _is_url(origin):
        return urllib.parse.urljoin(origin.rstrip("/") + "/", urllib.parse.quote(value))
    return os.path.normpath(os.path.join(origin, *value.split("/")))


def image_locations(table: Table, column: Optional[Variable] = None
                    ) -> List[Optional[str]]:
    """Absolute locations (paths or URLs) of the images of ``table``; None where missing."""
    column = column or find_image_column(table.domain)
    if column is None:
        raise ValueError("the table has no image column: expected a text column "
                         "with the attribute type=image")
    values = table.get_column(column)
    origin = column.attributes.get("origin")
    return [resolve_location(value, origin) for value in values]


def relative_value(path: str, origin: str) -> str:
    """A location as stored in the image column: relative to origin, with '/'."""
    rel = os.path.relpath(path, origin)
    return rel.replace(os.sep, posixpath.sep)


def append_columns(table: Table,
                   attributes: Sequence[Tuple[Variable, np.ndarray]] = (),
                   metas: Sequence[Tuple[Variable, np.ndarray]] = (),
                   class_vars: Optional[Sequence[Tuple[Variable, np.ndarray]]] = None,
                   ) -> Table:
    """A copy of ``table`` with extra columns (name clashes get unique names).

    ``class_vars``, if given, replaces the table's class variables.
    Discrete values are given as float indices, strings as objects.
    """
    from Orange.data.util import get_unique_names

    domain = table.domain
    taken = [var.name for var in domain.variables + domain.metas]
    new_vars = list(attributes) + list(metas) + list(class_vars or ())
    names = get_unique_names(taken, [var.name for var, _ in new_vars])
    renamed = [(var.copy(name=name) if name != var.name else var, values)
               for (var, values), name in zip(new_vars, names)]
    n_attr, n_meta = len(attributes), len(metas)
    new_attrs = renamed[:n_attr]
    new_metas = renamed[n_attr:n_attr + n_meta]
    new_classes = renamed[n_attr + n_meta:]
    new_domain = Domain(
        domain.attributes + tuple(var for var, _ in new_attrs),
        tuple(var for var, _ in new_classes) if class_vars is not None
        else domain.class_vars,
        domain.metas + tuple(var for var, _ in new_metas))
    result = table.transform(new_domain)
    # Unlock only the parts written to: unchanged parts may be views into
    # ``table`` (e.g. the output of Orange's Predictions), which cannot be unlocked.
    parts = [part for part, new in ((result.X, new_attrs), (result.Y, new_classes),
                                    (result.metas, new_metas)) if new]
    if not parts:
        return result
    with result.unlocked(*parts):
        for var, values in new_attrs + new_classes:
            result.set_column(var, np.asarray(values, dtype=float))
        for var, values in new_metas:
            dtype = object if var.is_string else float
            result.set_column(var, np.asarray(values, dtype=dtype))
    return result


def table_from_columns(columns: Sequence[Tuple[Variable, Iterable]],
                       class_var: Optional[Variable] = None,
                       name: str = "") -> Table:
    """Build a table: numeric variables become attributes, strings metas.

    ``class_var`` must be one of the given variables.
    """
    attrs = [(var, vals) for var, vals in columns
             if var.is_primitive() and var is not class_var]
    metas = [(var, vals) for var, vals in columns if var.is_string]
    classes = [(var, vals) for var, vals in columns if var is class_var]
    n_rows = len(next(iter(columns))[1]) if columns else 0

    def matrix(pairs, dtype):
        if not pairs:
            return np.empty((n_rows, 0), dtype=dtype)
        return np.column_stack([np.asarray(list(vals), dtype=dtype)
                                for _, vals in pairs])

    domain = Domain([v for v, _ in attrs], [v for v, _ in classes],
                    [v for v, _ in metas])
    Y = matrix(classes, float)
    table = Table.from_numpy(domain, matrix(attrs, float),
                             Y[:, 0] if Y.shape[1] == 1 else Y,
                             matrix(metas, object))
    table.name = name
    return table


def skipped_table(entries: Sequence, name: str = "Skipped") -> Optional[Table]:
    """A two-column table (path, reason) of skipped entries; None if none.

    Entries have ``.path`` and ``.reason`` (e.g. ImageError, SkippedEntry).
    """
    if not entries:
        return None
    return table_from_columns(
        [(StringVariable("path"), [str(e.path) for e in entries]),
         (StringVariable("reason"), [e.reason for e in entries])], name=name)


def discrete_column(name: str, labels: Sequence[Optional[str]],
                    values: Optional[Sequence[str]] = None
                    ) -> Tuple[DiscreteVariable, np.ndarray]:
    """A categorical variable and its float codes (NaN for None)."""
    if values is None:
        values = sorted({label for label in labels if label is not None})
    var = DiscreteVariable(name, values=list(values))
    index = {value: i for i, value in enumerate(values)}
    codes = np.array([index[label] if label is not None else np.nan
                      for label in labels], dtype=float)
    return var, codes


def continuous_columns(names: Sequence[str], matrix: np.ndarray,
                       attributes: Optional[dict] = None
                       ) -> List[Tuple[ContinuousVariable, np.ndarray]]:
    """Continuous variables for the columns of ``matrix`` (e.g. an embedding)."""
    columns = []
    for i, name in enumerate(names):
        var = ContinuousVariable(name)
        if attributes:
            var.attributes.update(attributes)
        columns.append((var, matrix[:, i]))
    return columns
