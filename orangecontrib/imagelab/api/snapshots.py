"""Snapshots of image tables: freeze, verify, load, clone, export.

    >>> from orangecontrib.imagelab import snapshot, verify, clone
    >>> snap = snapshot(labelled, "~/data sets", name="fashion")   # doctest: +SKIP
    >>> verify(snap.path).ok                                       # doctest: +SKIP
    True
    >>> editable = clone(snap.path)     # rows point at the snapshot's images

A snapshot is a closed, versioned copy of a table of images (see
``core.store.snapshot`` for the folder layout and the rules). Tables read
from a snapshot carry its mark on the image column (``tables.snapshot_info``)
and are named ``"<name> @ <version>"``, so a model trained downstream, or a
report, can name the exact version; a clone carries the version as its
parent (``tables.parent_info``) instead, and so does whatever Label Images
makes of it, until it is frozen again.
"""
import os
from typing import List, Optional, Tuple, Union

import numpy as np
from Orange.data import (ContinuousVariable, Domain, StringVariable,
                         Table, Variable)

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.store import snapshot as core
from orangecontrib.imagelab.core.store.snapshot import (  # noqa: F401  (re-exported)
    Snapshot, SnapshotError, VerifyReport, VersionInfo, export_zip, list_versions, verify)
from orangecontrib.imagelab.core.progress import ProgressCallback

__all__ = ["snapshot", "verify", "clone", "load_snapshot", "load_boxes", "export_zip",
           "list_snapshots", "Snapshot", "VerifyReport", "VersionInfo", "SnapshotError",
           "table_name", "is_snapshot"]

_SKIPPED_ATTRIBUTES = (tables.SNAPSHOT_ATTRIBUTE, tables.PARENT_ATTRIBUTE, "origin")


def table_name(name: str, version: str) -> str:
    """How a table from a snapshot is named, e.g. "fashion @ 3f9c0a1b2c3d4e5f"."""
    return f"{name} @ {version}"


def is_snapshot(path) -> bool:
    """Whether ``path`` is a snapshot folder (or its datapackage.json)."""
    return core.is_package(path)


def _columns(data: Table, image_var: Variable) -> Tuple[List[core.Column], Optional[str]]:
    """The table as core columns: every variable but embeddings."""
    domain = data.domain
    columns = []
    roles = [(var, "attribute") for var in domain.attributes] + \
        [(var, "class") for var in domain.class_vars] + [(var, "meta") for var in domain.metas]
    for var, role in roles:
        if "embedding" in var.attributes:
            continue
        attributes = {str(k): v for k, v in var.attributes.items()
                      if isinstance(v, str) and k not in _SKIPPED_ATTRIBUTES}
        values = data.get_column(var)
        if var is image_var:
            columns.append(core.Column(var.name, "image", role, list(values),
                                       attributes=attributes))
        elif var.is_discrete:
            labels = [None if np.isnan(v) else var.values[int(v)]
                      for v in values.astype(float)]
            columns.append(core.Column(var.name, "categorical", role, labels,
                                       list(var.values), attributes))
        elif var.is_continuous:
            columns.append(core.Column(var.name, "numeric", role,
                                       values.astype(float).tolist(), attributes=attributes))
        elif var.is_string:
            texts = [None if v is None or v == "" or (isinstance(v, float) and np.isnan(v))
                     else str(v) for v in values]
            columns.append(core.Column(var.name, "text", role, texts, attributes=attributes))
    class_var = domain.class_var
    class_name = class_var.name if class_var is not None and class_var.is_discrete \
        and "embedding" not in class_var.attributes else None
    return columns, class_name


def _parent(data: Table, parent) -> Optional[dict]:
    if parent is None:
        return tables.parent_info(data) or tables.snapshot_info(data)
    if isinstance(parent, dict):
        if "version" not in parent:
            raise ValueError("parent must name a version: a snapshot folder or "
                             "{'name': ..., 'version': ...}")
        return dict(parent)
    if isinstance(parent, (str, os.PathLike)):
        if not core.is_package(parent):
            raise ValueError(f"parent {os.fspath(parent)!r} is not a snapshot folder")
        manifest = core.read_manifest(parent)
        return {"name": (manifest.get("imagelab") or {}).get("snapshot") or
                manifest.get("title"), "version": manifest.get("version"),
                "path": core.find_package(parent)}
    raise ValueError(f"parent must be a snapshot folder or a dict, got {parent!r}")


def snapshot(data: Table, folder, *, name: str, boxes: Optional[Table] = None,
             parent: Union[None, str, dict] = None, link: bool = True,
             description: str = "", callback: ProgressCallback = None) -> Snapshot:
    """Freeze ``data`` (a table of images) as ``folder/<name>/<version>/``.

    ``boxes``: a boxes table (``tables.is_boxes_table``) written as boxes.csv;
    ``parent``: the version this one derives from (a snapshot folder or
    {"name", "version"}); by default the one ``data`` was cloned or loaded
    from. ``link``: hard-link the images (copies where links cannot be made);
    ``False`` copies them. Returns the ``Snapshot`` (``.path``, ``.version``,
    ``.skipped``: rows whose image could not be read, by path and reason;
    ``.reused``: the same content was frozen before). ``callback(fraction)``
    may raise ``Cancelled``; a stopped snapshot leaves no version behind.
    """
    if data is None or not len(data):
        raise ValueError("data has no rows to snapshot")
    image_var = tables.find_image_column(data.domain)
    if image_var is None:
        raise ValueError("data has no image column: expected a text column with "
                         "the attribute type=image (use Import Images)")
    if boxes is not None and not tables.is_boxes_table(boxes):
        raise ValueError("boxes must be a boxes table (x min, y min, x max, y max and "
                         "an image column), or None")
    columns, class_name = _columns(data, image_var)
    sources = tables.image_locations(data, image_var)
    box_columns = box_sources = None
    if boxes is not None:
        box_var = tables.find_image_column(boxes.domain)
        box_columns, _ = _columns(boxes, box_var)
        box_sources = tables.image_locations(boxes, box_var)
    return core.write_snapshot(
        columns, folder, name=name, sources=sources, boxes=box_columns,
        box_sources=box_sources, parent=_parent(data, parent), description=description,
        link=link, class_name=class_name, callback=callback)


def _table(path: str, resource: str = "labels") -> Optional[Table]:
    columns = core.read_table(path, resource)
    if columns is None:
        return None
    parts = {"attribute": [], "class": [], "meta": []}
    for column in columns:
        if column.kind == "image":
            var = tables.image_variable(column.name, path)
            var.attributes.update({k: v for k, v in column.attributes.items()
                                   if k not in _SKIPPED_ATTRIBUTES})
            var.attributes["type"] = tables.IMAGE_TYPE
            parts[column.role if column.role == "meta" else "meta"].append(
                (var, np.array([v or "" for v in column.values], dtype=object)))
            continue
        if column.kind == "categorical":
            var, codes = tables.discrete_column(column.name, column.values,
                                                values=column.categories)
            pair = (var, codes)
        elif column.kind == "numeric":
            pair = (ContinuousVariable(column.name), np.asarray(column.values, dtype=float))
        else:
            pair = (StringVariable(column.name),
                    np.array([v or "" for v in column.values], dtype=object))
        pair[0].attributes.update(column.attributes)
        role = column.role
        if role != "meta" and pair[0].is_string:
            role = "meta"
        parts[role].append(pair)
    n = len(columns[0].values) if columns else 0

    def matrix(pairs, dtype):
        if not pairs:
            return np.empty((n, 0), dtype=dtype)
        return np.column_stack([values.astype(dtype) for _, values in pairs])

    domain = Domain([v for v, _ in parts["attribute"]], [v for v, _ in parts["class"]],
                    [v for v, _ in parts["meta"]])
    metas = np.empty((n, len(parts["meta"])), dtype=object)
    for j, (var, values) in enumerate(parts["meta"]):
        metas[:, j] = values
    Y = matrix(parts["class"], float)
    return Table.from_numpy(domain, matrix(parts["attribute"], float),
                            Y[:, 0] if Y.shape[1] == 1 else Y, metas)


def _info(path) -> dict:
    root = core.find_package(path)
    manifest = core.read_manifest(root)
    name = (manifest.get("imagelab") or {}).get("snapshot") or manifest.get("title") \
        or manifest.get("name") or os.path.basename(os.path.dirname(root))
    return {"name": str(name), "version": str(manifest.get("version", "")), "path": root}


def load_snapshot(path) -> Table:
    """The table of a snapshot (its labels.csv), marked with the snapshot.

    Rows point at the snapshot's own images. Does not verify: call ``verify``.
    """
    info = _info(path)
    data = _table(info["path"])
    data = tables.mark_snapshot(data, info)
    data.name = table_name(info["name"], info["version"])
    return data


def load_boxes(path) -> Optional[Table]:
    """The boxes of a snapshot (its boxes.csv), or None if it has none."""
    info = _info(path)
    boxes = _table(info["path"], "boxes")
    if boxes is not None:
        boxes.name = f"Boxes of {table_name(info['name'], info['version'])}"
    return boxes


def clone(path) -> Table:
    """An editable table of a snapshot: the same rows, pointing at the
    snapshot's images, whose parent is that version. Label it, then freeze
    it with ``snapshot``: the new version names this one as its parent."""
    info = _info(path)
    data = tables.mark_parent(_table(info["path"]), info)
    data.name = f"{info['name']} (clone of {info['version']})"
    return data


def list_snapshots(folder) -> List[VersionInfo]:
    """Every version under ``folder`` (all names), oldest first."""
    return list_versions(folder)


def read_verified(path, *, callback: ProgressCallback = None):
    """A snapshot's table after checking every file against its manifest.

    Returns ``(data, report)``: rows whose image is missing or changed are
    skipped (``report.bad`` names them); the table is marked as the
    snapshot only when nothing is missing or changed. Used by Import Images
    for snapshot folders and their zip archives.
    """
    info = _info(path)
    report = verify(info["path"], callback=callback)
    data = _table(info["path"])
    bad = {f"{p}" for p in report.missing + report.changed}
    if bad:
        image_var = tables.find_image_column(data.domain)
        keep = np.array([value not in bad for value in data.get_column(image_var)])
        data = data[np.flatnonzero(keep)]
    if not (report.missing or report.changed or report.problems):
        data = tables.mark_snapshot(data, info)
    data.name = table_name(info["name"], info["version"])
    return data, report


def zip_holds_snapshot(path) -> bool:
    """Whether a zip archive has a datapackage.json at its root (``export_zip``'s layout)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            return core.MANIFEST in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
