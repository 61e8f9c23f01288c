"""Boxes tables: read box files for images, write them, and crop boxes into images.

    >>> from orangecontrib.imagelab import import_images, crop_boxes, write_boxes
    >>> result = import_images("coco/annotations/instances_val.json")   # doctest: +SKIP
    >>> result.boxes                       # one row per box (tables.boxes_table)
    >>> crops = crop_boxes(result.boxes, padding=0.1, classes=["cat", "dog"])  # doctest: +SKIP
    >>> crops.data, crops.skipped          # an images table, and what was skipped
    >>> write_boxes(result.boxes, "boxes.json", format="coco")          # doctest: +SKIP

A boxes table follows the convention in ``tables.py``. Reading goes through
``core.io.boxes`` (formats, matching to images, the rules for bad boxes);
cropping through ``core.pixels.crops`` (one decode per image, crops
content-addressed in the cache, or copied into a folder without ever
overwriting).
"""
import math
import os
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from Orange.data import ContinuousVariable, Domain, StringVariable, Table, Variable

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.errors import SkippedEntry
from orangecontrib.imagelab.core.io import boxes as core
from orangecontrib.imagelab.core.io import boxformats
from orangecontrib.imagelab.core.io.boxes import BoxFile, ImageMatcher
from orangecontrib.imagelab.core.pixels import crops as core_crops
from orangecontrib.imagelab.core.progress import ProgressCallback, checked, sub_range

__all__ = ["BoxesResult", "CropResult", "read_boxes", "write_boxes", "crop_boxes",
           "WRITE_FORMATS", "box_names", "BoxDisplay", "boxes_for_display"]

#: Formats ``write_boxes`` writes: COCO JSON, YOLO labels folder, Open Images CSV.
WRITE_FORMATS = ("coco", "yolo", "open images")


@dataclass
class BoxesResult:
    """Boxes read for a set of images.

    ``data``: the boxes table (None when no box was kept); ``skipped``: rows,
    files and boxes skipped, each named, with the reason (boxes as
    "image box id"); ``fixed``: boxes kept after a change (clipped, swapped),
    named, with what was done; ``unknown_classes``: class ids the file did not
    name -> number of boxes (the id is kept as the label); ``notes``: other
    things worth saying; ``counts``: boxes per image of the images given.
    """
    data: Optional[Table]
    source: str = ""
    format: str = ""
    skipped: List[SkippedEntry] = field(default_factory=list)
    fixed: List[SkippedEntry] = field(default_factory=list)
    unknown_classes: Dict[str, int] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    counts: Optional[np.ndarray] = None
    n_read: int = 0

    @property
    def n_boxes(self) -> int:
        return 0 if self.data is None else len(self.data)

    def summary(self, shown: int = 3) -> str:
        """ "3 of 120 boxes skipped: a.jpg box 2 (zero area ...), ..." ('' if none).

        A missing image's boxes are one entry ("b.jpg (3 boxes; no such image ...)"),
        so the count is of boxes (and bad rows), not of entries."""
        if not self.skipped:
            return ""
        lost = max(self.n_read - self.n_boxes, len(self.skipped))
        first = ", ".join(f"{e.path} ({e.reason})" for e in self.skipped[:shown])
        more = ", ..." if len(self.skipped) > shown else ""
        return f"{lost:,} of {self.n_read:,} boxes skipped: {first}{more}"

    @property
    def fixed_counts(self) -> Counter:
        """How many boxes were clipped, swapped, exchanged, scaled."""
        return Counter(entry.reason.split(":")[0] for entry in self.fixed)

    def skipped_table(self) -> Optional[Table]:
        return tables.skipped_table(self.skipped)


def box_names(images: Sequence[str], box_ids: Sequence[str]) -> List[str]:
    """How messages name boxes: "cats/1.jpg box 3"."""
    return [f"{image} box {box_id}" for image, box_id in zip(images, box_ids)]


# ------------------------------------------------------------------ reading

def merge(found: Sequence[BoxFile]) -> BoxFile:
    """One BoxFile of several (e.g. a COCO train and a val file)."""
    if len(found) == 1:
        return found[0]
    first = found[0]
    merged = BoxFile(source=", ".join(f.source for f in found),
                     format=first.format if len({f.format for f in found}) == 1 else "mixed",
                     normalized=False)
    n = 0
    coords = []
    extra_names = list(dict.fromkeys(name for f in found for name in f.extra))
    for f in found:
        k = len(f)
        merged.image_refs += f.image_refs
        merged.image_ids += f.image_ids
        merged.labels += f.labels
        merged.box_ids += f.box_ids
        coords.append(f.coordinates)
        for name in extra_names:
            numeric = f.extra_numeric.get(name, True)
            values = f.extra.get(name, [math.nan if numeric else ""] * k)
            merged.extra.setdefault(name, [math.nan] * n if numeric else [""] * n)
            merged.extra[name] += values
            merged.extra_numeric[name] = merged.extra_numeric.get(name, True) and numeric
        n += k
        merged.sizes.update(f.sizes)
        merged.skipped += f.skipped
        for key, count in f.unknown_classes.items():
            merged.unknown_classes[key] = merged.unknown_classes.get(key, 0) + count
        for key, count in f.left_out.items():
            merged.left_out[key] = merged.left_out.get(key, 0) + count
        merged.n_left_out += f.n_left_out
        merged.images += f.images
        merged.notes += f.notes
        if f.classes:
            merged.classes = list(dict.fromkeys((merged.classes or []) + f.classes))
    if any(f.normalized for f in found):
        raise ValueError("cannot merge normalised and pixel box files; read them apart")
    for name, numeric in merged.extra_numeric.items():
        if not numeric:
            merged.extra[name] = ["" if isinstance(v, float) and math.isnan(v) else str(v)
                                  for v in merged.extra[name]]
    merged.coordinates = np.vstack(coords) if coords else np.empty((0, 4))
    return merged


def read_for_images(paths: Sequence[str], box_sources: Sequence[str], *,
                    format: Optional[str] = None,  # pylint: disable=redefined-builtin
                    class_names=None, callback: ProgressCallback = None
                    ) -> Tuple[List[BoxFile], ImageMatcher]:
    """Read box files keeping only the boxes of images among ``paths``."""
    callback = checked(callback)
    matcher = ImageMatcher(paths)
    found = []
    for k, source in enumerate(box_sources):
        found.append(core.read_boxes(
            source, format=format, keep=matcher.__contains__, class_names=class_names,
            callback=sub_range(callback, k / len(box_sources), (k + 1) / len(box_sources))))
    return found, matcher


def match_boxes(found: BoxFile, image_var: StringVariable, paths: Sequence[str],
                widths: Sequence[float], heights: Sequence[float], *,
                matcher: Optional[ImageMatcher] = None,
                skipped_images: Optional[Dict[str, str]] = None) -> BoxesResult:
    """The boxes table for boxes read from a file, matched to images.

    ``paths``: the images' values in ``image_var`` (relative to its origin);
    ``widths``/``heights``: their sizes in pixels (NaN where unknown: boxes
    then keep normalised coordinates only if all do). ``skipped_images``:
    path -> reason for images that were found but could not be read.
    Coordinates are converted to pixels, checked (``core.check_boxes``) and
    scaled where the file states another size than the image has.
    """
    matcher = matcher or ImageMatcher(paths)
    skipped = list(found.skipped)
    widths = np.asarray(widths, dtype=float)
    heights = np.asarray(heights, dtype=float)
    unreadable = ImageMatcher(list(skipped_images)) if skipped_images else None
    unreadable_paths = list(skipped_images or ())

    def missing_reason(ref: str, n: int) -> str:
        what = f"{n:,} box{'es' * (n != 1)}"
        if unreadable is not None:
            j = unreadable.find(ref)
            if j is not None:
                return f"{what}; image unreadable: {skipped_images[unreadable_paths[j]]}"
        return f"{what}; no such image among the imported ones"

    index = np.array([(-1 if (i := matcher.find(ref)) is None else i)
                      for ref in found.image_refs], dtype=int)
    unmatched = Counter(ref for ref, i in zip(found.image_refs, index) if i < 0)
    for ref, n in list(found.left_out.items()) + list(unmatched.items()):
        skipped.append(SkippedEntry(ref, missing_reason(ref, n)))
    rest = found.n_left_out - sum(found.left_out.values())
    if rest > 0:
        skipped.append(SkippedEntry(os.path.basename(found.source), (
            f"{rest:,} more boxes of images not among the imported ones "
            f"(only the first {len(found.left_out):,} images are named)")))
    matched = index >= 0
    sub = found.take(matched) if not matched.all() else found
    index = index[matched]
    coords = np.array(sub.coordinates, dtype=float).reshape(-1, 4)
    w = widths[index] if len(index) else np.empty(0)
    h = heights[index] if len(index) else np.empty(0)
    fixed_notes: Dict[int, str] = {}
    if not sub.normalized and sub.sizes and len(index):
        stated = np.array([sub.sizes.get(ref, (np.nan, np.nan)) for ref in sub.image_refs],
                          dtype=float).reshape(-1, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            sx, sy = w / stated[:, 0], h / stated[:, 1]
            rescale = np.isfinite(sx) & np.isfinite(sy) & ((np.abs(sx - 1) > 1e-6)
                                                            | (np.abs(sy - 1) > 1e-6))
        for i in np.flatnonzero(rescale):
            fixed_notes[int(i)] = (f"scaled: the file says {stated[i, 0]:g}×{stated[i, 1]:g}, "
                                   f"the image is {w[i]:g}×{h[i]:g}")
        coords[rescale] *= np.column_stack([sx, sy, sx, sy])[rescale]
    check = core.check_boxes(coords, w, h, normalized=sub.normalized)
    if sub.normalized:  # fractions of an image whose size is unknown cannot be pixels
        unsized = check.keep & ~(np.isfinite(w) & np.isfinite(h))
        for i in np.flatnonzero(unsized):
            check.reasons[int(i)] = "image size unknown; normalised coordinates " \
                                    "cannot be converted to pixels"
        check.keep &= ~unsized
    image_paths = [paths[i] for i in index]
    names = box_names(image_paths, sub.box_ids)
    for i, why in sorted(check.reasons.items()):
        skipped.append(SkippedEntry(names[i], why))
    fixed = []
    for i in sorted(set(fixed_notes) | set(check.fixed)):
        if check.keep[i]:
            text = "; ".join(t for t in (fixed_notes.get(i), check.fixed.get(i)) if t)
            fixed.append(SkippedEntry(names[i], text))
    keep = check.keep
    counts = np.bincount(index[keep], minlength=len(paths)) if len(paths) else None
    unknown = dict(found.unknown_classes)
    notes = list(found.notes)
    if unknown:
        shown = ", ".join(f"{k} ({v:,})" for k, v in sorted(unknown.items(),
                                                             key=lambda kv: -kv[1])[:5])
        notes.append(f"{len(unknown):,} class id{'s' * (len(unknown) != 1)} not named by "
                     f"the file, kept as labels: {shown}")
    data = _table(sub, keep, image_var, image_paths, check.coordinates) \
        if keep.any() else None
    return BoxesResult(data, found.source, found.format, skipped, fixed, unknown, notes,
                       counts, n_read=len(found) + found.n_left_out + len(found.skipped))


def _extra_variables(sub: BoxFile, keep: np.ndarray) -> List[Tuple[Variable, list]]:
    from Orange.data.util import get_unique_names

    reserved = list(tables.BOX_COORDINATES + tables.BOX_SIZE) + [tables.BOX_LABEL,
                                                                  tables.BOX_IMAGE_ID,
                                                tables.BOX_ID, "image"]
    names = list(sub.extra)
    unique = get_unique_names(reserved, names)
    rows = np.flatnonzero(keep)
    columns = []
    for name, new_name in zip(names, unique):
        values = sub.extra[name]
        picked = [values[i] for i in rows]
        if sub.extra_numeric.get(name):
            var = ContinuousVariable(new_name)
        else:
            var = StringVariable(new_name)
        columns.append((var, picked))
    return columns


def _table(sub: BoxFile, keep: np.ndarray, image_var: StringVariable,
           image_paths: Sequence[str], coordinates: np.ndarray) -> Table:
    rows = np.flatnonzero(keep)
    labels = [sub.labels[i] for i in rows]
    present = {label for label in labels if label is not None}
    declared = [c for c in (sub.classes or []) if c is not None]
    classes = list(dict.fromkeys(declared + sorted(present - set(declared))))
    return tables.boxes_table(
        image_var, [image_paths[i] for i in rows], labels, coordinates[rows],
        image_ids=[sub.image_ids[i] for i in rows], box_ids=[sub.box_ids[i] for i in rows],
        classes=classes, extra=_extra_variables(sub, keep),
        name=os.path.basename(sub.source.split(", ")[0].rstrip(os.sep)) or "Boxes")


def read_boxes(path, images: Optional[Table] = None, *,
               format: Optional[str] = None,  # pylint: disable=redefined-builtin
               class_names=None, callback: ProgressCallback = None) -> BoxesResult:
    """Read a box file (or folder) as a boxes table.

    Parameters
    ----------
    path : an Open Images box CSV, COCO JSON, Pascal VOC XML file or folder,
        YOLO folder or data.yaml, BigML regions CSV/JSON, or a CSV with one
        row per box; the format is found from the content.
    images : an images table (e.g. ``import_images(...).data``) whose images
        the boxes describe (their headers give the sizes). Default: the images
        found next to the file, as ``import_images(path)`` finds them.
    format : force a format (one of ``core.io.boxes.FORMATS``).
    class_names : an Open Images class-descriptions CSV, if not beside the file.

    Returns
    -------
    BoxesResult : ``data`` (the boxes table), ``skipped``, ``fixed``, ...
    """
    if images is None:
        from orangecontrib.imagelab.api.importing import import_images
        path = os.path.abspath(os.fspath(path))
        format = format or core.detect_format(path)
        result = import_images(boxformats.images_root_of(path, format), annotations=path,
                               box_format=format, class_names=class_names,
                               callback=callback)
        if result.box_info is None:
            return BoxesResult(None, os.fspath(path), format or "",
                               skipped=list(result.skipped))
        return result.box_info
    column = tables.find_image_column(images.domain)
    if column is None:
        raise ValueError("images: the table has no image column (type=image)")
    paths = [str(v) if v is not None else "" for v in images.get_column(column)]
    widths, heights = image_sizes(images, column)
    found, matcher = read_for_images(paths, [os.fspath(path)], format=format,
                                     class_names=class_names, callback=callback)
    image_var = tables.image_variable(column.name, column.attributes.get("origin"))
    return match_boxes(found[0], image_var, paths, widths, heights, matcher=matcher)


def image_sizes(images: Table, column: Variable) -> Tuple[np.ndarray, np.ndarray]:
    """Width and height of each image's stored pixels (what boxes count in), from
    the headers: the table's ``width``/``height`` follow the EXIF orientation."""
    return probe_sizes(tables.image_locations(images, column))


def probe_sizes(locations: Sequence[Optional[str]]) -> Tuple[np.ndarray, np.ndarray]:
    """Stored width and height from the image headers (NaN where unreadable);
    each image read once, in threads."""
    geometry = _stored_geometry([loc for loc in dict.fromkeys(locations) if loc])
    sizes = np.array([geometry[loc][:2] if loc else (math.nan, math.nan)
                      for loc in locations], dtype=float).reshape(-1, 2)
    return sizes[:, 0], sizes[:, 1]


@dataclass
class BoxDisplay:
    """Boxes ready to be drawn over images: ``classes`` (the label's values)
    and, per image location, an (n, 5) array of x min, y min, x max, y max as
    fractions of the image as shown (EXIF-oriented), and the class index (-1:
    none). Boxes whose image size cannot be read are left out (``missing``
    counts them)."""
    classes: List[str]
    by_location: Dict[str, np.ndarray]
    missing: int = 0

    def n_boxes(self) -> int:
        return sum(len(v) for v in self.by_location.values())


def boxes_for_display(boxes: Table) -> BoxDisplay:
    """What a viewer needs to draw ``boxes`` on thumbnails; reads image headers
    (sizes and EXIF orientation), so call it off the GUI thread."""
    column, _, label_var, _, coordinates, normalized = _box_columns(boxes)
    locations = tables.image_locations(boxes, column)
    codes = boxes.get_column(label_var)
    codes = np.where(np.isnan(codes), -1, codes).astype(float)
    unique = [loc for loc in dict.fromkeys(locations) if loc]
    geometry = _stored_geometry(unique)
    rows: Dict[str, List[int]] = {}
    for i, location in enumerate(locations):
        if location:
            rows.setdefault(location, []).append(i)
    by_location, missing = {}, 0
    for location, index in rows.items():
        width, height, orientation = geometry[location]
        picked = coordinates[index]
        if not normalized:
            if not (width > 0 and height > 0):
                missing += len(index)
                continue
            picked = picked / [width, height, width, height]
        shown = core.displayed_fractions(picked, orientation)
        good = np.isfinite(shown).all(axis=1)
        missing += int((~good).sum())
        by_location[location] = np.column_stack([np.clip(shown[good], 0, 1),
                                                 codes[index][good]])
    return BoxDisplay(list(label_var.values), by_location, missing)


def _stored_geometry(locations: Sequence[str]) -> Dict[str, Tuple[float, float, int]]:
    """location -> (stored width, stored height, EXIF orientation); NaN sizes
    for images that cannot be read."""
    from orangecontrib.imagelab.core.executors import get_executor
    from orangecontrib.imagelab.core.io.sources import quick_probe
    from orangecontrib.imagelab.core.paths import is_url
    from orangecontrib.imagelab.core.pixels import decoding

    def geometry(location):
        info = None if is_url(location) else quick_probe(location)
        try:
            info = info or decoding.probe(location)
        except Exception:  # pylint: disable=broad-except
            return math.nan, math.nan, 1  # the viewer shows why the image is missing
        return float(info.width), float(info.height), int(getattr(info, "orientation", 1))

    with get_executor("threads", name="imagelab-box-sizes") as pool:
        return dict(zip(locations, pool.map(geometry, locations)))


# ------------------------------------------------------------------ writing

def _box_columns(boxes: Table):
    if not tables.is_boxes_table(boxes):
        raise ValueError("boxes: expected a boxes table (columns 'x min', 'y min', "
                         "'x max', 'y max' and an image column)")
    column = tables.find_image_column(boxes.domain)
    values = [str(v) if v is not None else "" for v in boxes.get_column(column)]
    label_var = boxes.domain[tables.BOX_LABEL] if tables.BOX_LABEL in boxes.domain \
        else boxes.domain.class_var
    if label_var is None or not label_var.is_discrete:
        raise ValueError("boxes: expected a categorical 'label' column")
    codes = boxes.get_column(label_var)
    labels = [label_var.values[int(c)] if not np.isnan(c) else None for c in codes]
    coordinates, normalized = tables.box_coordinates(boxes)
    return column, values, label_var, labels, coordinates, normalized


def write_boxes(boxes: Table, path, *, format: str,  # pylint: disable=redefined-builtin
                ) -> List[SkippedEntry]:
    """Write a boxes table as a COCO JSON, a YOLO folder or an Open Images CSV.

    ``format``: "coco" (``path`` is the .json to create), "yolo" (``path``
    is a folder: ``labels/<image path>.txt`` and ``classes.txt``) or "open
    images" (``path`` is the .csv to create). Nothing is overwritten: an
    existing .json/.csv raises ``FileExistsError``; existing YOLO label files
    with other content are left alone and returned as skipped. Image sizes
    (COCO states them; YOLO and Open Images are normalised) come from the
    image headers. Boxes without a label or coordinates are skipped (returned).
    """
    if format not in WRITE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, WRITE_FORMATS))}, "
                         f"got {format!r}")
    path = os.fspath(path)
    column, values, label_var, labels, coordinates, normalized = _box_columns(boxes)
    widths, heights = _sizes_for_boxes(boxes, column)
    skipped = []
    valid = np.isfinite(coordinates).all(axis=1) & np.array([label is not None for label in labels])
    box_ids = [str(v) for v in boxes.get_column(tables.BOX_ID)] \
        if tables.BOX_ID in boxes.domain else [str(i + 1) for i in range(len(boxes))]
    for i in np.flatnonzero(~valid):
        skipped.append(SkippedEntry(f"{values[i]} box {box_ids[i]}",
                                    "no label or coordinates; not written"))
    scale = np.column_stack([widths, heights, widths, heights])
    if normalized:
        pixels, fractions = coordinates * scale, coordinates
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            pixels, fractions = coordinates, coordinates / scale
    needs_size = fractions if format in ("yolo", "open images") else pixels
    unsized = valid & ~np.isfinite(needs_size).all(axis=1)
    for i in np.flatnonzero(unsized):
        skipped.append(SkippedEntry(f"{values[i]} box {box_ids[i]}",
                                    "image size unknown (image unreadable); not written"))
    rows = np.flatnonzero(valid & ~unsized)
    classes = list(label_var.values)
    pick = lambda seq: [seq[i] for i in rows]  # noqa: E731
    extra = _extra_for_writing(boxes, rows)
    if format == "coco":
        sizes = {values[i]: (widths[i], heights[i]) for i in rows}
        boxformats.write_coco(path, pick(values), pick(labels), pixels[rows], sizes, classes,
                              box_ids=pick(box_ids), extra=extra)
    elif format == "open images":
        image_ids = [core.split_suffix(posixpath.basename(v))[0] for v in pick(values)]
        boxformats.write_open_images(path, image_ids, pick(labels), fractions[rows], extra)
    else:
        skipped += boxformats.write_yolo(path, pick(values), pick(labels), fractions[rows],
                                         classes)
    return skipped


def _extra_for_writing(boxes: Table, rows) -> Dict[str, list]:
    domain = boxes.domain
    skip = set(tables.BOX_COORDINATES + tables.BOX_SIZE) | {
        tables.BOX_LABEL, tables.BOX_IMAGE_ID, tables.BOX_ID}
    image = tables.find_image_column(domain)
    extra = {}
    for var in domain.attributes + domain.metas:
        if var.name in skip or var is image:
            continue
        if var.is_continuous or var.is_string:
            values = boxes.get_column(var)
            extra[var.name] = [values[i] if var.is_string else float(values[i]) for i in rows]
    return extra


def _sizes_for_boxes(boxes: Table, column):
    """The stored size of each box's image, from the headers (each image once)."""
    return probe_sizes(tables.image_locations(boxes, column))


# ----------------------------------------------------------------- cropping

@dataclass
class CropResult:
    """``data``: one row per crop (an images table; None when no crop was
    made); ``skipped``: boxes that gave no crop, named "image box id", with
    the reason; ``left_out``: boxes not asked for, by why ("class",
    "max per image"); ``cached``: crops found in the cache instead of cut."""
    data: Optional[Table]
    skipped: List[SkippedEntry] = field(default_factory=list)
    left_out: Dict[str, int] = field(default_factory=dict)
    cached: int = 0
    total: int = 0

    def skipped_table(self) -> Optional[Table]:
        return tables.skipped_table(self.skipped)


def _check_classes(classes, label_var) -> Optional[set]:
    if classes is None:
        return None
    if isinstance(classes, str):
        classes = [classes]
    try:
        wanted = [str(c) for c in classes]
    except TypeError:
        raise ValueError(f"classes must be a list of class names, got {classes!r}") from None
    known = set(label_var.values)
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"classes: {', '.join(map(repr, unknown))} not among the boxes' "
                         f"classes ({', '.join(label_var.values[:20])})")
    return set(wanted)


def crop_boxes(boxes: Table, *, folder=None, padding: float = 0.0, square: bool = False,
               min_size: float = 8, classes: Optional[Iterable[str]] = None,
               max_per_image: Optional[int] = None,
               format: str = "png",  # pylint: disable=redefined-builtin
               max_side: Optional[int] = None, callback: ProgressCallback = None
               ) -> CropResult:
    """Cut every box of a boxes table into an image of its own.

    Parameters
    ----------
    boxes : a boxes table (``tables.boxes_table``; pixels, or normalised).
    folder : where the crops go: None -- the cache (content-addressed, reused
        by later runs); a folder -- ``folder/<label>/<image>-<box id>.<ext>``,
        never overwriting (a clash gets "name (2).png"; the same content is
        reused).
    padding : fraction of the box's width/height added on each side.
    square : grow the shorter side to a square (shifted inside the image).
    min_size : boxes narrower or lower than this (pixels, before padding)
        are skipped and named.
    classes : crop only the boxes of these classes (names of ``label``).
    max_per_image : at most this many boxes per image, the largest first.
    format : "png" (lossless) or "jpeg".
    max_side : scale crops down to at most this many pixels (JPEGs are then
        decoded at reduced size where all of an image's crops allow it).
    callback : progress ``callback(fraction)``; may raise ``Cancelled``.

    Returns
    -------
    CropResult : ``data`` is an images table: the image column (the crops),
    class ``label``, metas ``source image`` (the original's location),
    ``image id``, ``box id``, ``x min``..``y max`` (the box in the source),
    ``width``, ``height`` (of the crop), and the boxes' other columns.
    """
    options = core_crops.CropOptions(padding=padding, square=bool(square), min_size=min_size,
                                     max_side=max_side, format=format)
    if max_per_image is not None and (not isinstance(max_per_image, int)
                                      or isinstance(max_per_image, bool) or max_per_image < 1):
        raise ValueError(f"max_per_image must be a positive whole number or None, "
                         f"got {max_per_image!r}")
    if folder is not None:
        folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError(f"folder: {folder} exists and is not a folder")
    callback = checked(callback)
    column, values, label_var, labels, coordinates, normalized = _box_columns(boxes)
    wanted = _check_classes(classes, label_var)
    locations = tables.image_locations(boxes, column)
    box_ids = [str(v) for v in boxes.get_column(tables.BOX_ID)] \
        if tables.BOX_ID in boxes.domain else [str(i + 1) for i in range(len(boxes))]
    names = box_names(values, box_ids)
    left_out: Counter = Counter()
    skipped: List[SkippedEntry] = []
    selected = []
    for i in range(len(boxes)):
        if wanted is not None and labels[i] not in wanted:
            left_out["class"] += 1
        elif not locations[i]:
            skipped.append(SkippedEntry(names[i], "no image named"))
        elif not np.isfinite(coordinates[i]).all():
            skipped.append(SkippedEntry(names[i], "coordinates missing"))
        else:
            selected.append(i)
    if max_per_image is not None:
        selected, dropped = _largest_per_image(selected, locations, coordinates, max_per_image)
        if dropped:
            left_out["max per image"] = dropped
    taken = Counter()
    jobs: Dict[str, core_crops.CropJob] = {}
    for i in selected:
        stem = core.split_suffix(posixpath.basename(values[i].replace("\\", "/")))[0] or "image"
        name = f"{stem}-{box_ids[i]}"
        label = labels[i]
        subfolder = None
        if folder is not None:
            from orangecontrib.imagelab.core.store.saving import UNLABELED, safe_name
            subfolder = safe_name(label) if label is not None else UNLABELED
            name = safe_name(name)
        taken[name] += 1
        spec = core_crops.BoxSpec(i, tuple(float(v) for v in coordinates[i]), normalized,
                                  name, subfolder)
        jobs.setdefault(locations[i], core_crops.CropJob(locations[i])).boxes.append(spec)
    made: Dict[int, core_crops.Crop] = {}
    done, total = 0, max(len(selected), 1)
    callback(0.0)
    results = core_crops.crop_images(list(jobs.values()), options, folder=folder)
    try:
        for outcome in results:
            for item in outcome:
                if isinstance(item, core_crops.Crop):
                    made[item.index] = item
                else:
                    skipped.append(SkippedEntry(names[item.index], item.reason))
            done += len(outcome)
            callback(done / total)
    finally:
        results.close()
    order = [i for i in selected if i in made]
    origin = folder if folder is not None else core_crops.cache_folder()
    data = _crop_table(boxes, order, made, origin, locations, label_var, labels) \
        if order else None
    skipped.sort(key=lambda e: e.path)
    cached = sum(1 for crop in made.values() if crop.status in ("cached", "already present"))
    return CropResult(data, skipped, dict(left_out), cached, len(boxes))


def _largest_per_image(selected, locations, coordinates, limit):
    areas = (coordinates[:, 2] - coordinates[:, 0]) * (coordinates[:, 3] - coordinates[:, 1])
    by_image: Dict[str, List[int]] = {}
    for i in selected:
        by_image.setdefault(locations[i], []).append(i)
    keep = set()
    for rows in by_image.values():
        keep.update(sorted(rows, key=lambda i: (-areas[i], i))[:limit])
    return [i for i in selected if i in keep], len(selected) - len(keep)


def _crop_table(boxes: Table, order: List[int], made, origin: str, locations,
                label_var, labels) -> Table:
    from Orange.data.util import get_unique_names

    image_var = tables.image_variable("image", origin)
    rel = [tables.relative_value(made[i].path, origin) for i in order]
    domain = boxes.domain
    source_column = tables.find_image_column(domain)
    label_codes = boxes.get_column(label_var)[order]
    metas: List[Tuple[Variable, list]] = [
        (image_var, rel),
        (StringVariable("source image"), [locations[i] for i in order]),
    ]
    for name in (tables.BOX_IMAGE_ID, tables.BOX_ID):
        if name in domain:
            metas.append((StringVariable(name), [str(v) for v in boxes.get_column(name)[order]]))
    for name in tables.BOX_COORDINATES:
        var = domain[name]
        metas.append((var.copy(), list(boxes.get_column(var)[order])))
    metas.append((ContinuousVariable("width", number_of_decimals=0),
                  [made[i].size[0] for i in order]))
    metas.append((ContinuousVariable("height", number_of_decimals=0),
                  [made[i].size[1] for i in order]))
    skip = set(tables.BOX_COORDINATES + tables.BOX_SIZE) | {tables.BOX_IMAGE_ID, tables.BOX_ID}
    for var in domain.attributes + domain.metas:
        if var.name in skip or var is source_column or var is label_var:
            continue
        values = boxes.get_column(var)[order]
        metas.append((var.copy(), list(values)))
    names = get_unique_names([label_var.name], [var.name for var, _ in metas])
    metas = [(var.copy(name=new) if new != var.name else var, vals)
             for (var, vals), new in zip(metas, names)]
    n = len(order)
    M = np.empty((n, len(metas)), dtype=object)
    for j, (var, vals) in enumerate(metas):
        if var.is_string:
            M[:, j] = vals
        else:
            M[:, j] = np.asarray(vals, dtype=float)
    label = label_var.copy()
    table = Table.from_numpy(Domain([], label, [var for var, _ in metas]),
                             np.empty((n, 0)), np.asarray(label_codes, dtype=float), M)
    table.name = "Crops"
    return table
