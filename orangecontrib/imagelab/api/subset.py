"""``select_subset``: pick classes from Open Images-format metadata; get images and boxes.

    >>> from orangecontrib.imagelab import select_subset, download_images
    >>> subset = select_subset("open-images/", ["Bus", "Bicycle"], max_per_class=50)
    >>> subset.images     # one row per image: URL (type=image), label, licence, ...
    >>> subset.boxes      # one row per box, coordinates as fractions (normalized)
    >>> download_images(subset.images, "photos/", boxes=subset.boxes)  # doctest: +SKIP

``metadata`` is a folder holding the files as published (see
``core.io.openimages``), or a list of Orange tables read from them (e.g. by
File widgets; recognised by their columns).

``images`` has the image column ``url`` (``type=image``, the URL as given
or, for a relative ``file:`` URL, resolved against the metadata folder),
the class ``label`` (the requested class with most boxes in the image), and
metas ``image id``, ``split``, ``classes`` (every requested class in the
image), ``boxes`` (their count) and the image list's licence, author,
title, landing page, size, MD5 and rotation where present. ``boxes``
follows the boxes convention of ``tables.py`` with fractions of the image
size (``normalized="true"``): Download Images converts them to pixels.
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from Orange.data import ContinuousVariable, StringVariable, Table

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.errors import AnnotationError, SkippedEntry
from orangecontrib.imagelab.core.io import openimages as oi
from orangecontrib.imagelab.core.progress import ProgressCallback, sub_range

__all__ = ["select_subset", "SubsetResult", "class_list", "ClassEntry", "metadata_sources",
           "UnknownClassError"]

UnknownClassError = oi.UnknownClassError

#: Image-list column -> column name in the images table.
_FIELD_NAMES = {"License": "license", "Author": "author", "Title": "title",
                "OriginalLandingURL": "landing url", "AuthorProfileURL": "author profile",
                "OriginalSize": "original size", "OriginalMD5": "original md5",
                "Rotation": "rotation"}
_NUMERIC_FIELDS = ("OriginalSize", "Rotation")

Metadata = Union[str, os.PathLike, Sequence[Table]]


@dataclass
class SubsetResult:
    """``images`` and ``boxes`` tables (None when empty); ``classes`` as
    resolved (display names); ``missing_classes``: requested and known but
    without any image in the metadata; ``skipped``: images skipped
    (``SkippedEntry(image id, reason)``); ``notes``: things to tell the user."""
    images: Optional[Table]
    boxes: Optional[Table]
    classes: List[str] = field(default_factory=list)
    missing_classes: List[str] = field(default_factory=list)
    skipped: List[SkippedEntry] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class ClassEntry:
    """A row of the class list: MID, display name, counts, subclass names."""
    mid: str
    name: str
    count: oi.ClassCount
    subclasses: List[str]


# --------------------------------------------------------------- sources

class _TableRows:
    """A table's rows as lists of text, made on the fly."""

    def __init__(self, table: Table, columns):
        self.table, self.columns = table, columns

    def __len__(self):
        return len(self.table)

    def __iter__(self):
        columns = [(var, self.table.get_column(var)) for var in self.columns]
        for i in range(len(self.table)):
            yield [_text(var, values[i]) for var, values in columns]


def _text(var, value) -> str:
    if var.is_string:
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) \
            else str(value)
    if np.isnan(value):
        return ""
    if var.is_discrete:
        return var.values[int(value)]
    return str(int(value)) if float(value).is_integer() and "Size" in var.name \
        else repr(float(value))


def _table_source(table: Table) -> oi.Source:
    domain = table.domain
    columns = list(domain.variables + domain.metas)
    header = [var.name for var in columns]
    name = table.name or "table"
    kind = oi.kind_of(header, name)
    if kind is None:
        raise AnnotationError(
            f"{name}: not an Open Images metadata table (columns: {', '.join(header[:8])}); "
            "expected class descriptions, an image list, boxes or image labels")
    rows = _TableRows(table, columns)
    if kind == "classes" and header[:2] != ["LabelName", "DisplayName"]:
        # a header-less CSV read by File: its first row became the column names
        rows = [header[:2]] + list(rows)
        header = None
    return oi.RowsSource(name, kind, header, rows)


def metadata_sources(metadata: Metadata) -> Tuple[List[oi.Source], Optional[dict]]:
    """The metadata sources of a folder or a list of tables, and the hierarchy."""
    if isinstance(metadata, Table):
        metadata = [metadata]
    if isinstance(metadata, (list, tuple)):
        sources = [_table_source(table) for table in metadata]
        oi.check_sources(sources, "among the tables")
        return sources, None
    return oi.find_metadata(metadata)


# ------------------------------------------------------------ class list

def class_list(metadata: Metadata, *, counts: bool = True,
               callback: ProgressCallback = None) -> List[ClassEntry]:
    """Every class of the metadata with its counts (boxes, images), by name.

    Counting streams every box and label file (tens of seconds for the full
    Open Images); ``counts=False`` reads only the class names.
    """
    sources, hierarchy = metadata_sources(metadata)
    names = oi.read_classes(sources)
    found = oi.count_classes(sources, callback=callback) if counts else {}
    children = oi._children(hierarchy)  # pylint: disable=protected-access
    entries = []
    for mid, name in names.items():
        below = sorted(names.get(m, m) for m in oi.subclasses(mid, children) if m != mid)
        entries.append(ClassEntry(mid, name, found.get(mid, oi.ClassCount()), below))
    entries.sort(key=lambda e: e.name.casefold())
    return entries


# ------------------------------------------------------------- selection

def select_subset(metadata: Metadata, classes: Sequence[str], *,
                  max_per_class: Optional[int] = None, hierarchy: bool = True,
                  kinds: Sequence[str] = ("boxes", "labels"), random_state: int = 0,
                  url_field: str = "OriginalURL",
                  callback: ProgressCallback = None) -> SubsetResult:
    """The images and boxes of ``classes`` (see the module docstring).

    ``max_per_class``: at most this many images per class, a random sample
    fixed by ``random_state``. ``hierarchy``: a parent class ("Vehicle")
    selects its subclasses. ``kinds``: images from "boxes" and/or "labels"
    (image-level labels). ``url_field``: "OriginalURL" or
    "Thumbnail300KURL". Unknown class names raise ``UnknownClassError``
    (a ``ValueError``) suggesting the nearest names.
    """
    sources, tree = metadata_sources(metadata)
    subset = oi.select(sources, classes, max_per_class=max_per_class, hierarchy=tree,
                       use_hierarchy=hierarchy, kinds=tuple(kinds),
                       random_state=random_state, url_field=url_field,
                       callback=sub_range(callback, 0.0, 0.95))
    result = SubsetResult(_images_table(subset), _boxes_table(subset), subset.classes,
                          subset.missing_classes, subset.skipped, subset.notes)
    sub_range(callback, 0.0, 1.0)(1.0)
    return result


def _images_table(subset: oi.Subset) -> Optional[Table]:
    images = subset.images
    if not images:
        return None
    label_var, codes = tables.discrete_column(
        "label", [r.classes[0] if r.classes else None for r in images],
        values=subset.classes)
    fields = [f for f in _FIELD_NAMES if any(r.fields.get(f) for r in images)]
    columns = [
        (tables.image_variable("url"), [r.url for r in images]),
        (StringVariable("image id"), [r.image_id for r in images]),
        (StringVariable("split"), [r.split for r in images]),
        (StringVariable("classes"), [", ".join(r.classes) for r in images]),
        (ContinuousVariable("boxes", number_of_decimals=0), [r.n_boxes for r in images]),
    ]
    for f in fields:
        values = [r.fields.get(f, "") for r in images]
        if f in _NUMERIC_FIELDS:
            columns.append((ContinuousVariable(_FIELD_NAMES[f], number_of_decimals=0),
                            [_number(v) for v in values]))
        else:
            columns.append((StringVariable(_FIELD_NAMES[f]), values))
    table = _table(columns, (label_var, codes), len(images))
    table.name = "Subset images"
    return table


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return np.nan


def _table(columns, class_column, n) -> Table:
    """Metas from ``columns`` (text and numbers), the class from ``class_column``."""
    from Orange.data import Domain
    label_var, codes = class_column
    metas = [var for var, _ in columns]
    M = np.empty((n, len(metas)), dtype=object)
    for j, (var, values) in enumerate(columns):
        M[:, j] = values if var.is_string else np.asarray(values, dtype=float)
    return Table.from_numpy(Domain([], label_var, metas), np.empty((n, 0)), codes, M)


def _boxes_table(subset: oi.Subset) -> Optional[Table]:
    boxes = subset.boxes
    if not boxes:
        return None
    urls: Dict[str, str] = {r.image_id: r.url for r in subset.images}
    splits = {r.image_id: r.split for r in subset.images}
    numbering: Dict[str, int] = {}
    box_ids = []
    for box in boxes:
        k = numbering.get(box.image_id, 0)
        numbering[box.image_id] = k + 1
        box_ids.append(f"{box.image_id}-{k}")
    flags = np.array([box.flags for box in boxes], dtype=float).reshape(len(boxes), -1)
    # always all five (NaN where unknown), so the domain does not depend on the selection
    extra = [(ContinuousVariable(name, number_of_decimals=0), flags[:, j])
             for j, name in enumerate(oi.BOX_FLAGS)]
    extra += [(StringVariable("box class"), [box.box_class for box in boxes]),
              (StringVariable("split"), [splits.get(box.image_id, box.split) for box in boxes]),
              (StringVariable("source"), [box.source for box in boxes])]
    return tables.boxes_table(
        tables.image_variable("url"), [urls[box.image_id] for box in boxes],
        [box.label for box in boxes], np.array([box.coordinates for box in boxes]),
        image_ids=[box.image_id for box in boxes], box_ids=box_ids,
        classes=subset.classes, extra=extra, normalized=True, name="Subset boxes")
