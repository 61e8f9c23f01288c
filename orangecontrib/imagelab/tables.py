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

from orangecontrib.imagelab.core.paths import is_url

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


def resolve_location(value: str, origin: Optional[str]) -> Optional[str]:
    """A cell value joined with the column's origin into a path or a URL."""
    return _resolver(origin)(value)


def _resolver(origin: Optional[str]):
    """``resolve_location`` for one origin, its checks made once (a column of
    10,000 images is resolved at a third of the cost)."""
    origin_url = bool(origin) and is_url(origin)

    def resolve(value) -> Optional[str]:
        if value is None or value == "" or (isinstance(value, float) and np.isnan(value)):
            return None
        value = str(value)
        if is_url(value) or os.path.isabs(value) or not origin:
            return value
        if origin_url:
            return urllib.parse.urljoin(origin.rstrip("/") + "/", urllib.parse.quote(value))
        return os.path.normpath(os.path.join(origin, *value.split("/")))
    return resolve


def image_locations(table: Table, column: Optional[Variable] = None
                    ) -> List[Optional[str]]:
    """Absolute locations (paths or URLs) of the images of ``table``; None where missing."""
    column = column or find_image_column(table.domain)
    if column is None:
        raise ValueError("the table has no image column: expected a text column "
                         "with the attribute type=image")
    values = table.get_column(column)
    resolve = _resolver(column.attributes.get("origin"))
    return [resolve(value) for value in values]


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


def rows_with_matrix(table: Table, rows: np.ndarray, matrix: np.ndarray,
                     variables: Sequence[Variable], *, chunk: int = 4096) -> Table:
    """``table[rows]`` with ``matrix[rows]`` appended as attributes ``variables``.

    ``matrix`` is (len(table), k), e.g. hand-made features; the new X
    (float64, as Orange keeps it) is allocated once and filled ``chunk`` rows
    at a time, so no other copy of the big parts is made (``append_columns``
    on ``table[rows]`` would hold the vectors' rows, the transformed table
    and the filled one at once: 100,000 × 1,280 embeddings cost 2.6 GB that
    way and about 1 GB this way). Name clashes get unique names.
    """
    import scipy.sparse as sp

    rows = np.asarray(rows, dtype=np.intp)
    if sp.issparse(table.X):  # rare for image tables: the simple way
        return append_columns(table[rows], attributes=list(
            zip(_unique_attributes(table.domain, variables),
                np.asarray(matrix[rows], dtype=float).T)))
    n_old = table.X.shape[1]
    X = np.empty((len(rows), n_old + matrix.shape[1]), dtype=np.float64)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        X[start:start + len(part), :n_old] = table.X[part]
        X[start:start + len(part), n_old:] = matrix[part]
    return _rows_with_x(table, rows, X, variables)


def attribute_matrix(table: Table, k: int, *, chunk: int = 4096) -> Optional[np.ndarray]:
    """The X of ``table`` with ``k`` more attributes: (len(table), n + k)
    float64, the table's own n columns copied and the new ones to be filled,
    e.g. an embedding written straight into ``X[:, n:]`` (see
    ``rows_of_attribute_matrix``); None if the table's X is sparse."""
    import scipy.sparse as sp
    if sp.issparse(table.X):
        return None
    n_old = table.X.shape[1]
    X = np.empty((len(table), n_old + k), dtype=np.float64)
    for start in range(0, len(table), chunk):
        X[start:start + chunk, :n_old] = table.X[start:start + chunk]
    return X


def rows_of_attribute_matrix(table: Table, X: np.ndarray, rows: np.ndarray,
                             variables: Sequence[Variable], *, chunk: int = 4096) -> Table:
    """``table[rows]`` with the last ``len(variables)`` columns of ``X`` (from
    ``attribute_matrix``) as attributes ``variables``. ``rows`` (ascending)
    are moved up within ``X`` in place, so the table holds no copy of it;
    ``X`` is the table's from then on."""
    rows = np.asarray(rows, dtype=np.intp)
    if len(rows) and np.any(np.diff(rows) <= 0):
        raise ValueError("rows must be ascending and distinct")
    if not np.array_equal(rows, np.arange(len(rows))):
        # rows[i] >= i, so the rows a later chunk still reads (rows[j] >= j)
        # lie beyond everything written so far: moving chunk by chunk is safe
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            X[start:start + len(part)] = X[part]
    return _rows_with_x(table, rows, X[:len(rows)], variables)


def _unique_attributes(domain: Domain, variables: Sequence[Variable]) -> List[Variable]:
    """``variables``, renamed where a name is taken in ``domain``."""
    from Orange.data.util import get_unique_names
    taken = [var.name for var in domain.variables + domain.metas]
    names = get_unique_names(taken, [var.name for var in variables])
    return [var.copy(name=name) if name != var.name else var
            for var, name in zip(variables, names)]


def _rows_with_x(table: Table, rows: np.ndarray, X: np.ndarray,
                 variables: Sequence[Variable]) -> Table:
    """``table[rows]`` whose X is ``X``: its old attributes then ``variables``."""
    domain = table.domain
    new_domain = Domain(domain.attributes + tuple(_unique_attributes(domain, variables)),
                        domain.class_vars, domain.metas)
    result = Table.from_numpy(
        new_domain, X, table.Y[rows], table.metas[rows],
        W=table.W[rows] if table.has_weights() else None,
        attributes=table.attributes, ids=table.ids[rows])
    result.name = table.name
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


# ------------------------------------------------------------------ boxes
# A boxes table has one row per object box:
#   attributes  "x min", "y min", "x max", "y max" -- continuous, in pixels of
#               the stored image (x to the right, y down, from the top-left
#               corner; max is exclusive; the stored pixels, before any EXIF
#               rotation, as COCO and the annotation tools count them);
#               normalised input is converted once, at import;
#               then "box width" and "box height" (x max - x min, y max - y
#               min; made by boxes_table), so Select Rows can say "box width
#               is below 32";
#   class       "label" -- discrete, the object's class;
#   metas       the image column (type=image, origin; the same values as in
#               the images table), "image id" and "box id" (text), then any
#               extra annotation fields (IsOccluded, iscrowd, difficult, ...)
#               as their own columns.
# Where the image size is not known yet (a data-set subset before its
# download), the coordinates are fractions of the width/height instead and
# the four coordinate variables carry the attribute ``normalized="true"``;
# whoever learns the sizes converts them (``boxes_in_pixels``).

BOX_COORDINATES = ("x min", "y min", "x max", "y max")
BOX_SIZE = ("box width", "box height")
BOX_LABEL = "label"
BOX_IMAGE_ID = "image id"
BOX_ID = "box id"


def box_coordinate_variables(normalized: bool = False) -> List[ContinuousVariable]:
    """The four coordinate variables of a boxes table, then box width and height."""
    variables = []
    for name in BOX_COORDINATES + BOX_SIZE:
        var = ContinuousVariable(name, number_of_decimals=4 if normalized else 1)
        if normalized:
            var.attributes["normalized"] = "true"
        variables.append(var)
    return variables


def boxes_table(image_var: StringVariable, images: Sequence[str],
                labels: Sequence[Optional[str]], coordinates: np.ndarray, *,
                image_ids: Sequence[str], box_ids: Sequence[str],
                classes: Optional[Sequence[str]] = None,
                extra: Sequence[Tuple[Variable, Sequence]] = (),
                normalized: bool = False, name: str = "Boxes") -> Table:
    """A boxes table (see the convention above) from per-box columns.

    ``coordinates``: (n, 4) x min, y min, x max, y max; box width and
    height are computed from them. ``classes``: the label's values in order
    (default: sorted distinct labels). ``extra``: (variable, values) pairs;
    numeric ones become attributes after the box size, text ones metas after
    the box id.
    """
    coordinates = np.asarray(coordinates, dtype=float).reshape(-1, 4)
    n = len(coordinates)
    for what, values in (("images", images), ("labels", labels),
                         ("image_ids", image_ids), ("box_ids", box_ids)):
        if len(values) != n:
            raise ValueError(f"{what} has {len(values)} values for {n} boxes")
    label_var, codes = discrete_column(BOX_LABEL, list(labels), values=classes)
    coordinate_vars = box_coordinate_variables(normalized)
    numeric = [(var, values) for var, values in extra if var.is_primitive()]
    text = [(var, values) for var, values in extra if not var.is_primitive()]
    attributes = coordinate_vars + [var for var, _ in numeric]
    metas = [image_var, StringVariable(BOX_IMAGE_ID), StringVariable(BOX_ID)] \
        + [var for var, _ in text]
    X = np.empty((n, len(attributes)))
    X[:, :4] = coordinates
    X[:, 4] = coordinates[:, 2] - coordinates[:, 0]
    X[:, 5] = coordinates[:, 3] - coordinates[:, 1]
    for j, (_, values) in enumerate(numeric, start=6):
        X[:, j] = np.asarray(values, dtype=float)
    M = np.empty((n, len(metas)), dtype=object)
    M[:, 0] = list(images)
    M[:, 1] = [str(v) for v in image_ids]
    M[:, 2] = [str(v) for v in box_ids]
    for j, (_, values) in enumerate(text, start=3):
        M[:, j] = [("" if v is None else str(v)) for v in values]
    table = Table.from_numpy(Domain(attributes, label_var, metas), X, codes, M)
    table.name = name
    return table


def is_boxes_table(table: Optional[Table]) -> bool:
    """Whether ``table`` follows the boxes convention (coordinates + an image column)."""
    if table is None:
        return False
    domain = table.domain
    names = {var.name for var in domain.attributes}
    return all(name in names for name in BOX_COORDINATES) and \
        find_image_column(domain) is not None


def box_coordinates(table: Table) -> Tuple[np.ndarray, bool]:
    """``((n, 4) array of x min, y min, x max, y max, normalized?)`` of a boxes table."""
    domain = table.domain
    variables = [domain[name] for name in BOX_COORDINATES]
    normalized = variables[0].attributes.get("normalized") == "true"
    return np.column_stack([table.get_column(var) for var in variables]).astype(float), \
        normalized


def boxes_in_pixels(table: Table, widths: np.ndarray, heights: np.ndarray) -> Table:
    """A normalised boxes table converted to pixels, given each row's image size.

    A table already in pixels is returned unchanged. Rows whose size is NaN
    keep NaN coordinates.
    """
    coordinates, normalized = box_coordinates(table)
    if not normalized:
        return table
    scale = np.column_stack([widths, heights, widths, heights]).astype(float)
    pixels = coordinates * scale
    pixel_vars = dict(zip(BOX_COORDINATES + BOX_SIZE, box_coordinate_variables(False)))
    domain = table.domain
    attributes = [pixel_vars.get(var.name, var) for var in domain.attributes]
    X = np.array(table.X, dtype=float)  # a copy: the input stays as it was
    columns = {name: pixels[:, j] for j, name in enumerate(BOX_COORDINATES)}
    columns[BOX_SIZE[0]] = pixels[:, 2] - pixels[:, 0]
    columns[BOX_SIZE[1]] = pixels[:, 3] - pixels[:, 1]
    for name, values in columns.items():
        if name in domain and domain[name] in domain.attributes:
            X[:, domain.attributes.index(domain[name])] = values
    result = Table.from_numpy(Domain(attributes, domain.class_vars, domain.metas),
                              X, table.Y, table.metas, table.W, ids=table.ids)
    result.name = table.name
    return result


# --------------------------------------------------------------- snapshots
# A table that comes from a closed snapshot says so: its image variable
# carries the attribute ``snapshot`` = JSON {"name", "version", "path"}.
# A variable attribute (not ``Table.attributes``) because it survives every
# widget that keeps the column (Select Rows, Data Sampler, Test and Score's
# folds), so a model trained downstream can still name the exact version.

SNAPSHOT_ATTRIBUTE = "snapshot"
# An editable table made from a snapshot (a clone, or a snapshot's rows after
# Label Images) names the version it came from instead, in
# ``snapshot parent``; freezing it again records that version as the parent.
PARENT_ATTRIBUTE = "snapshot parent"


def _mark_image_column(table: Table, changes: dict) -> Table:
    """A copy of ``table`` whose image column's attributes are updated with
    ``changes`` (a value None removes the attribute)."""
    column = find_image_column(table.domain)
    if column is None:
        raise ValueError("the table has no image column to mark as a snapshot")
    marked = column.copy()
    marked.attributes = dict(column.attributes)
    for key, value in changes.items():
        if value is None:
            marked.attributes.pop(key, None)
        else:
            marked.attributes[key] = value
    domain = table.domain

    def swap(variables):
        return [marked if var is column else var for var in variables]

    result = Table.from_numpy(
        Domain(swap(domain.attributes), swap(domain.class_vars), swap(domain.metas)),
        table.X.copy(), table.Y.copy(), table.metas.copy(), table.W.copy(), ids=table.ids)
    result.name = table.name
    result.attributes = dict(table.attributes)
    return result


def mark_snapshot(table: Table, info: dict) -> Table:
    """A copy of ``table`` whose image column names the snapshot ``info``
    (a dict with at least "name" and "version"; literals only)."""
    import json

    return _mark_image_column(table, {SNAPSHOT_ATTRIBUTE: json.dumps(info, sort_keys=True),
                                      PARENT_ATTRIBUTE: None})


def mark_parent(table: Table, info: Optional[dict]) -> Table:
    """A copy of ``table`` marked as an editable table taken from the snapshot
    ``info`` (None: from none); any closed-snapshot mark is removed."""
    import json

    return _mark_image_column(table, {
        SNAPSHOT_ATTRIBUTE: None,
        PARENT_ATTRIBUTE: json.dumps(info, sort_keys=True) if info else None})


def _image_column_json(table: Optional[Table], key: str) -> Optional[dict]:
    import json

    if table is None:
        return None
    column = find_image_column(table.domain)
    text = column.attributes.get(key) if column is not None else None
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def snapshot_info(table: Optional[Table]) -> Optional[dict]:
    """The snapshot a table was taken from ({"name", "version", ...}), or None."""
    return _image_column_json(table, SNAPSHOT_ATTRIBUTE)


def parent_info(table: Optional[Table]) -> Optional[dict]:
    """The snapshot an editable table was cloned from, or None."""
    return _image_column_json(table, PARENT_ATTRIBUTE)
