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
- a **box file**: an Open Images box CSV, a COCO JSON, a Pascal VOC XML file,
  a YOLO ``data.yaml`` or label file (see ``core.io.boxes``); the images are
  in its folder, or the folder above when that is named ``annotations``,
  ``labels``... (COCO's, VOC's and YOLO's layouts), or where ``data.yaml``'s
  ``path`` says.

Boxes come from a box file given as the source or as ``annotations``, from a
regions column (BigML) in the annotation rows, or, for a folder or zip, from
a box file found in it (directly, or in its ``annotations``/``Annotations``/
``labels`` folder). They are matched to the images, converted to pixels and
checked (``api.boxes.match_boxes``): ``ImportResult.boxes`` is the boxes
table, ``box_info`` says what was skipped or fixed, and the images table gets
a ``boxes`` column counting each image's boxes.
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
from orangecontrib.imagelab.api.boxes import BoxesResult
from orangecontrib.imagelab.core.io import annotations as ann
from orangecontrib.imagelab.core.io import boxes as core_boxes
from orangecontrib.imagelab.core.io import boxformats
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
    ``description``: an annotated set's description;
    ``boxes``: the boxes table when the source has boxes (else None);
    ``box_info``: what reading the boxes skipped, fixed and noted."""
    data: Table
    skipped: List[SkippedEntry] = field(default_factory=list)
    origin: Optional[str] = None
    annotations: Optional[str] = None
    description: str = ""
    boxes: Optional[Table] = None
    box_info: Optional[BoxesResult] = None

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
        """Skipped files and rows, then skipped boxes ("a.jpg box 3"), with reasons."""
        boxes = self.box_info.skipped if self.box_info is not None else []
        return tables.skipped_table(list(self.skipped) + list(boxes))


_BOX_SUFFIXES = (".xml", ".yaml", ".yml", ".txt")


def _box_format(path: str) -> Optional[str]:
    try:
        return core_boxes.detect_format(path)
    except AnnotationError:
        return None


def source_kind(source) -> str:
    """"folder", "zip", "annotations", "annotated set", "snapshot" or "boxes";
    raises for anything else. (A BigML regions file is "annotations": rows with boxes.)"""
    source = os.fspath(source)
    if snapshots.is_snapshot(source):
        return "snapshot"
    if os.path.isdir(source):
        return "folder"
    if not os.path.exists(source):
        raise FileNotFoundError(f"not found: {source}")
    lower = source.lower()
    if lower.endswith((".csv", ".tsv", ".json")):
        if _box_format(source) not in (None, "bigml"):
            return "boxes"
        if lower.endswith(".json") and ann.is_annotated_set(source):
            return "annotated set"
        return "annotations"
    if lower.endswith(_BOX_SUFFIXES):
        core_boxes.detect_format(source)  # raises, saying what was expected
        return "boxes"
    if zipfile.is_zipfile(source):
        return "zip"
    raise ValueError(f"cannot import {source}: expected a folder, a .zip archive, "
                     "a .csv/.json annotation file, or a box file (Open Images CSV, COCO "
                     "JSON, Pascal VOC XML, YOLO data.yaml)")


def import_images(source, *, annotations=None, check_full: bool = False,
                  allow_outside: bool = False, box_format: Optional[str] = None,
                  class_names=None,
                  callback: ProgressCallback = None) -> ImportResult:
    """Import the images of ``source`` (see the module docstring) as a table.

    The table has the meta ``image`` (relative paths with "/", attributes
    ``type="image"`` and ``origin``), metas ``image name``, ``size`` (bytes),
    ``width``, ``height``; the class ``category`` from folders when images sit
    in more than one folder (images at the root get a missing value); and
    annotation columns, if any (numeric and categorical as attributes, text
    as metas; ``label``/``class`` as the class, ``category`` then a meta).
    With boxes, also the meta ``boxes`` (boxes per image), and
    ``ImportResult.boxes``.

    ``annotations``: an extra annotation file (CSV/JSON rows) or box file or
    folder for the images of a folder or zip (instead of looking for one in
    it). ``box_format`` forces the box format (``core.io.boxes.FORMATS``);
    ``class_names``: an Open Images class-descriptions CSV.
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
    box_sources: List[str] = []
    if kind == "annotated set":
        aset = ann.read_annotated_set(source, allow_outside=allow_outside)
        description, declared, rows = aset.description, aset.declared, aset.rows
        file_column, ann_path, images = "file", source, aset.images
    elif kind == "annotations":
        ann_path, images = source, os.path.dirname(source)
        rows = ann.read_rows(source)
    elif kind == "boxes":
        box_sources = [source]
        images = boxformats.images_root_of(source, box_format or _box_format(source))
    else:
        images = source
    if annotations is not None:
        annotations = os.path.abspath(os.fspath(annotations))
        if kind not in ("folder", "zip"):
            raise ValueError(f"annotations: an extra annotation file goes with a folder "
                             f"or zip source, not with {os.path.basename(source)}")
        if not os.path.exists(annotations):
            raise FileNotFoundError(f"annotations: not found: {annotations}")
        extra_format = box_format or _box_format(annotations)
        if extra_format not in (None, "bigml"):
            box_sources = [annotations]
        else:
            ann_path = annotations
            if ann.is_annotated_set(annotations):
                aset = ann.read_annotated_set(annotations, allow_outside=allow_outside)
                description, declared, rows = aset.description, aset.declared, aset.rows
                file_column = "file"
            else:
                rows = ann.read_rows(annotations)
    scan = _scan(images, check_full, sub_range(callback, 0.0, 0.9))
    if not box_sources and annotations is None and kind in ("folder", "zip"):
        box_sources = find_box_sources(scan.origin)
    found = None
    regions = None
    if rows is not None:
        regions = boxformats.regions_field(rows, declared)
        if regions is not None:
            declared = dict(declared or {}, **{regions: ann.REGIONS})
    if rows is None:
        found, rows, regions = _auto_annotations(scan, exclude=box_sources)
        ann_path = found.source if found else None
    elif scan.records or file_column:
        found = ann.match_rows(rows, scan.records, source=ann_path,
                               file_column=file_column, declared=declared,
                               skipped_images=[s.path for s in scan.skipped])
    elif rows:
        raise AnnotationError(f"{ann_path}: no images found in {images}")
    box_info = _boxes(scan, box_sources, rows, regions, found, ann_path, box_format,
                      class_names, sub_range(callback, 0.9, 0.99))
    skipped = scan.skipped + (found.skipped if found else [])
    data = _table(scan, found, name=os.path.basename(source.rstrip(os.sep)),
                  box_counts=box_info.counts if box_info is not None else None)
    callback(1.0)
    return ImportResult(data, skipped, scan.origin,
                        found.source if found else None, description,
                        boxes=box_info.data if box_info is not None else None,
                        box_info=box_info)


def find_box_sources(root: str) -> List[str]:
    """Box files in a folder of images: directly in it, or in its
    ``annotations``/``Annotations``/``labels`` folder (a VOC or YOLO folder
    is one source; several COCO JSONs of one data set are read together).
    BigML regions files are annotation rows, found by ``_auto_annotations``."""
    candidates = list(sources.iter_side_files(
        root, suffixes=(".csv", ".tsv", ".json", ".xml", ".yaml", ".yml")))
    try:
        subfolders = sorted(e.name for e in os.scandir(root) if e.is_dir()
                            and e.name.lower() in boxformats.ANNOTATION_FOLDERS)
    except OSError:
        subfolders = []
    for name in subfolders:
        folder = os.path.join(root, name)
        if boxformats.folder_format(folder):
            candidates.append(folder)
        else:
            candidates += list(sources.iter_side_files(folder, suffixes=(".csv", ".json")))
    found, first_format = [], None
    for path in candidates:
        fmt = _box_format(path)
        if fmt in (None, "bigml") or first_format not in (None, fmt):
            continue
        if fmt in ("voc", "yolo") and not os.path.isdir(path) and found:
            continue
        first_format = fmt
        found.append(path)
        if fmt in ("voc", "yolo"):
            break  # one folder (or data.yaml) is the whole set
    return found


def _boxes(scan: ScanResult, box_sources, rows, regions, found, ann_path, box_format,
           class_names, callback):
    from orangecontrib.imagelab.api import boxes as api_boxes  # noqa: F811

    if not box_sources and regions is None:
        return None
    paths = [r.path for r in scan.records]
    image_var = tables.image_variable("image", scan.origin)
    box_files, matcher = [], core_boxes.ImageMatcher(paths)
    if box_sources:
        box_files, matcher = api_boxes.read_for_images(
            paths, box_sources, format=box_format, class_names=class_names,
            callback=callback)
    if regions is not None:
        box_files.append(boxformats.boxes_from_rows(
            rows, ann_path, file_column=found.file_column if found else None, field=regions,
            keep=matcher.__contains__))
    try:
        box_file = api_boxes.merge(box_files)
    except ValueError:
        box_file = box_files[0]
    return api_boxes.match_boxes(
        box_file, image_var, paths, [r.stored_size[0] for r in scan.records],
        [r.stored_size[1] for r in scan.records], matcher=matcher,
        skipped_images={s.path: s.reason for s in scan.skipped})


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


def _auto_annotations(scan: ScanResult, exclude=()):
    """(annotations, their rows, their regions field) of the first CSV/JSON
    beside the images that annotates them; (None, None, None) if none does."""
    if not scan.records:
        return None, None, None
    for path in sources.iter_side_files(scan.origin):
        if path in exclude:
            continue
        try:
            if ann.is_annotated_set(path) or _box_format(path) not in (None, "bigml"):
                continue
            rows = ann.read_rows(path)
            regions = boxformats.regions_field(rows)
            found = ann.match_rows(rows, scan.records, source=path,
                                   declared={regions: ann.REGIONS} if regions else None,
                                   skipped_images=[s.path for s in scan.skipped])
        except AnnotationError:
            continue  # not an annotation file of these images
        return found, rows, regions
    return None, None, None


def _count_var(name: str) -> ContinuousVariable:
    var = ContinuousVariable(name, number_of_decimals=0)
    return var


def _table(scan: ScanResult, found: Optional[ann.Annotations],
           name: str, box_counts=None) -> Optional[Table]:
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
    if box_counts is not None:
        metas.append((_count_var("boxes"), box_counts))
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
