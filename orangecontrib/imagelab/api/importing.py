"""``import_images``: a folder, zip archive or annotation file to an Orange table.

    >>> from orangecontrib.imagelab import import_images
    >>> result = import_images("photos/")              # doctest: +SKIP
    >>> result.data, result.skipped                    # doctest: +SKIP

What ``source`` may be, decided by what it is on disk:

- a **folder**: every image below it; the innermost folder of each image is
  its ``category`` (when images sit in more than one folder). A CSV or JSON
  annotation file directly in the folder whose file column matches images
  is used automatically (the first such file by name).
- a **.zip** archive (any file that is a zip): extracted once into the cache,
  then as a folder; ``origin`` is the extraction folder.
- a **.csv / .tsv** file or a **.json** list of objects: an annotation file;
  the images are those in the file's folder (and below).
- a **.json** object with ``images_file``: an annotated set; the images are in
  the zip or folder it names, and declared field types are used.
- a **snapshot** (a folder with ``datapackage.json``, that file, or a zip made
  by ``export_zip``): its table, with every file's hash checked on the way in;
  changed or missing images are skipped by name (``api.snapshots``).
"""
import os
import zipfile
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from Orange.data import (ContinuousVariable, Domain,
                         StringVariable, Table)

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import snapshots
from orangecontrib.imagelab.core.io import annotations as ann
from orangecontrib.imagelab.core.io import sources
from orangecontrib.imagelab.core.errors import AnnotationError
from orangecontrib.imagelab.core.progress import ProgressCallback, checked, sub_range
from orangecontrib.imagelab.core.io.sources import ScanResult, SkippedEntry

__all__ = ["import_images", "ImportResult", "SkippedEntry", "source_kind"]


@dataclass
class ImportResult:
    """``data``: the image table (None when no image was found);
    ``skipped``: entries with ``.path`` and ``.reason``;
    ``origin``: the folder the image paths are relative to;
    ``annotations``: the annotation file used, if any;
    ``description``: an annotated set's description."""
    data: Table
    skipped: List[SkippedEntry] = field(default_factory=list)
    origin: Optional[str] = None
    annotations: Optional[str] = None
    description: str = ""

    @property
    def n_images(self) -> int:
        return 0 if self.data is None else len(self.data)

    @property
    def categories(self) -> List[str]:
        if self.data is None or self.data.domain.class_var is None \
                or not self.data.domain.class_var.is_discrete:
            return []
        return list(self.data.domain.class_var.values)

    def skipped_table(self) -> Optional[Table]:
        return tables.skipped_table(self.skipped)


def source_kind(source) -> str:
    """"folder", "zip", "annotations", "annotated set" or "snapshot"; raises for
    anything else."""
    source = os.fspath(source)
    if snapshots.is_snapshot(source):
        return "snapshot"
    if os.path.isdir(source):
        return "folder"
    if not os.path.exists(source):
        raise FileNotFoundError(f"not found: {source}")
    lower = source.lower()
    if lower.endswith((".csv", ".tsv")):
        return "annotations"
    if lower.endswith(".json"):
        return "annotated set" if ann.is_annotated_set(source) else "annotations"
    if zipfile.is_zipfile(source):
        return "zip"
    raise ValueError(f"cannot import {source}: expected a folder, a .zip archive, "
                     "or a .csv/.json annotation file")


def import_images(source, *, check_full: bool = False, allow_outside: bool = False,
                  callback: ProgressCallback = None) -> ImportResult:
    """Import the images of ``source`` (see the module docstring) as a table.

    The table has the meta ``image`` (relative paths with "/", attributes
    ``type="image"`` and ``origin``), metas ``image name``, ``size`` (bytes),
    ``width``, ``height``; the class ``category`` from folders when images sit
    in more than one folder (images at the root get a missing value); and
    annotation columns, if any (numeric and categorical as attributes, text
    as metas; ``label``/``class`` as the class, ``category`` then a meta).

    ``check_full=True`` decodes every image instead of reading headers.
    ``allow_outside=True`` lets an annotated set name images or an
    annotations file outside its own folder tree (refused by default).
    ``callback(fraction)`` may raise ``Cancelled`` to stop. Unreadable
    images and rows naming missing images go to ``skipped``; a broken
    archive raises ``ArchiveError``, a broken annotation file
    ``AnnotationError``.
    """
    source = os.path.abspath(os.fspath(source))
    callback = checked(callback)
    kind = source_kind(source)
    if kind == "snapshot" or kind == "zip" and snapshots.zip_holds_snapshot(source):
        return _import_snapshot(source, kind, callback)
    description, declared, rows, file_column, ann_path = "", None, None, None, None
    if kind == "annotated set":
        aset = ann.read_annotated_set(source, allow_outside=allow_outside)
        description, declared, rows = aset.description, aset.declared, aset.rows
        file_column, ann_path, images = "file", source, aset.images
    elif kind == "annotations":
        ann_path, images = source, os.path.dirname(source)
        rows = ann.read_rows(source)
    else:
        images = source
    scan = _scan(images, check_full, sub_range(callback, 0.0, 0.98))
    found = None
    if rows is None:
        found = _auto_annotations(scan)
    elif scan.records or file_column:
        found = ann.match_rows(rows, scan.records, source=ann_path,
                               file_column=file_column, declared=declared,
                               skipped_images=[s.path for s in scan.skipped])
    elif rows:
        raise AnnotationError(f"{ann_path}: no images found in {images}")
    skipped = scan.skipped + (found.skipped if found else [])
    data = _table(scan, found, name=os.path.basename(source.rstrip(os.sep)))
    callback(1.0)
    return ImportResult(data, skipped, scan.origin,
                        found.source if found else None, description)


def _import_snapshot(source: str, kind: str, callback) -> ImportResult:
    folder = source
    skipped = []
    if kind == "zip":
        folder, skipped = sources.extract_archive(source, callback=sub_range(callback, 0, 0.3))
    data, report = snapshots.read_verified(folder, callback=sub_range(callback, 0.3, 1.0))
    root = tables.find_image_column(data.domain).attributes.get("origin")
    manifest = snapshots.core.read_manifest(root)
    return ImportResult(data, skipped + report.bad, root,
                        os.path.join(root, snapshots.core.MANIFEST),
                        str(manifest.get("description") or ""))


def _scan(images: str, check_full: bool, callback) -> ScanResult:
    if os.path.isdir(images):
        return sources.scan_folder(images, check_full=check_full, callback=callback)
    return sources.scan_archive(images, check_full=check_full, callback=callback)


def _auto_annotations(scan: ScanResult) -> Optional[ann.Annotations]:
    if not scan.records:
        return None
    for path in sources.iter_side_files(scan.origin):
        try:
            if ann.is_annotated_set(path):
                continue
            rows = ann.read_rows(path)
            found = ann.match_rows(rows, scan.records, source=path,
                                   skipped_images=[s.path for s in scan.skipped])
        except AnnotationError:
            continue  # not an annotation file of these images
        return found
    return None


def _count_var(name: str) -> ContinuousVariable:
    var = ContinuousVariable(name, number_of_decimals=0)
    return var


def _table(scan: ScanResult, found: Optional[ann.Annotations],
           name: str) -> Optional[Table]:
    records = scan.records
    n = len(records)
    image_var = tables.image_variable("image", scan.origin)
    metas = [
        (image_var, [r.path for r in records]),
        (StringVariable("image name"),
         [os.path.splitext(r.path.rpartition("/")[2])[0] for r in records]),
        (_count_var("size"), [r.size for r in records]),
        (_count_var("width"), [r.width for r in records]),
        (_count_var("height"), [r.height for r in records]),
    ]
    attributes, class_vars = [], []
    category = None
    if scan.n_folders > 1 and scan.labels:
        category = tables.discrete_column("category", [r.label for r in records],
                                          values=scan.labels)
    if found is not None:
        for f in found.fields:
            pair = _field_column(f)
            if f.name == found.class_field:
                class_vars.append(pair)
            elif f.optype == "text":
                metas.append(pair)
            else:
                attributes.append(pair)
    if category is not None:
        (metas if class_vars else class_vars).append(category)
    return _build(attributes, class_vars, metas, n, name)


def _field_column(f: ann.Field):
    if f.optype == "numeric":
        return ContinuousVariable(f.name), np.asarray(f.values, dtype=float)
    if f.optype == "categorical":
        return tables.discrete_column(f.name, f.values, values=f.categories)
    return StringVariable(f.name), [v if v is not None else "" for v in f.values]


def _build(attributes, class_vars, metas, n, name) -> Table:
    from Orange.data.util import get_unique_names

    pairs = attributes + class_vars + metas
    names = get_unique_names([], [var.name for var, _ in pairs]) \
        if len({var.name for var, _ in pairs}) < len(pairs) else None
    if names:
        pairs = [(var.copy(name=new) if new != var.name else var, values)
                 for (var, values), new in zip(pairs, names)]
        attributes = pairs[:len(attributes)]
        class_vars = pairs[len(attributes):len(attributes) + len(class_vars)]
        metas = pairs[len(attributes) + len(class_vars):]

    def matrix(cols, dtype):
        if not cols:
            return np.empty((n, 0), dtype=dtype)
        return np.column_stack([np.asarray(values, dtype=dtype) for _, values in cols])

    domain = Domain([v for v, _ in attributes], [v for v, _ in class_vars],
                    [v for v, _ in metas])
    Y = matrix(class_vars, float)
    metas_x = np.empty((n, len(metas)), dtype=object)
    for j, (var, values) in enumerate(metas):
        metas_x[:, j] = values if var.is_string else np.asarray(values, dtype=float)
    table = Table.from_numpy(domain, matrix(attributes, float),
                             Y[:, 0] if Y.shape[1] == 1 else Y, metas_x)
    table.name = name
    return table
