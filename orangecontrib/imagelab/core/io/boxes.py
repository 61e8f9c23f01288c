"""Object boxes: find the format of a box file, read it, match it to images, check it.

    >>> found = read_boxes("annotations/instances_val.json")   # doctest: +SKIP
    >>> found.format, len(found), found.labels[:2]             # doctest: +SKIP
    ('coco', 36781, ['person', 'bicycle'])

Plain data only (numpy and the standard library; no Orange): a ``BoxFile``
holds one entry per box in columns; ``api.boxes`` turns it into a boxes table
(``tables.boxes_table``). The per-format parsers and writers are in
``boxformats``; this module decides which one reads a file, by content:

=============  ==============================================================
format         what is recognised
=============  ==============================================================
open images    a CSV whose header has ``ImageID``, ``XMin``, ``XMax``,
               ``YMin``, ``YMax`` (normalised); ``LabelName`` MIDs are named
               by a ``class-descriptions*.csv`` beside it (or ``class_names``)
coco           a JSON object with ``annotations`` and ``images`` lists
               (``bbox`` = x, y, width, height in pixels)
voc            an XML file whose root is ``<annotation>``, or a folder of them
               (1-based pixels, corners inclusive)
yolo           a ``data.yaml``, or a folder of ``.txt`` files with lines
               ``class cx cy w h`` (normalised); names from ``classes.txt``,
               ``obj.names`` or ``data.yaml``
bigml          a CSV or JSON list with a column of regions
               (``[["cat" 10 20 80 90] ...]`` or ``[{"label": ..., "xmin": ...}]``),
               or an annotated-set JSON with a field of optype ``regions``
csv            a CSV with one row per box: a file column, a label column and
               ``x min``/``xmin``/``x1``... columns (what Image Lab writes)
=============  ==============================================================

Coordinates everywhere are ``x min, y min, x max, y max`` in pixels of the
stored image (x to the right, y down, from the top-left corner, max
exclusive), or fractions of the width and height where ``normalized``.
Bad boxes are never fatal: a parser skips a malformed row or file with a
``SkippedEntry`` naming it, and ``check_boxes`` clips, fixes or skips boxes
once the image sizes are known (see its docstring for the rules).
"""
import csv
import json
import math
import os
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import AnnotationError, SkippedEntry

FORMATS = ("open images", "coco", "voc", "yolo", "bigml", "csv")

#: Suffixes of image files, for matching names with and without them.
IMAGE_SUFFIXES = frozenset((
    ".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".jp2", ".heic", ".heif", ".avif"))

#: Named skipped entries kept per file; beyond this they are counted in one entry.
MAX_NAMED = 1000

#: Normalised coordinates this far outside 0..1 are clipped; farther, skipped.
NORMALIZED_TOLERANCE = 0.01

#: A box that extends this many pixels beyond its image counts as clipped.
CLIP_TOLERANCE = 0.5

#: Annotation files larger than this are refused (JSON and XML are read whole).
MAX_WHOLE_FILE_BYTES = 2 * 1024 ** 3


@dataclass
class BoxFile:
    """The boxes of one box file (or folder), in columns of equal length.

    ``image_refs[i]`` is how the file names the image of box ``i`` (a path,
    a file name, or a name without suffix, e.g. an Open Images ImageID);
    ``coordinates`` is ``(n, 4)`` float. ``extra`` maps further annotation
    fields to per-box values (floats with NaN for numeric fields, strings
    otherwise; ``extra_numeric`` says which). ``classes`` is the declared
    class order (COCO categories, YOLO names), None when undeclared.
    ``sizes`` holds image sizes the file states, by image ref. Boxes whose
    image ``keep`` refused are not in the columns: ``left_out`` counts them
    by image ref (the first ``MAX_NAMED`` refs by name).
    """
    source: str
    format: str
    image_refs: List[str] = field(default_factory=list)
    image_ids: List[str] = field(default_factory=list)
    labels: List[Optional[str]] = field(default_factory=list)
    coordinates: np.ndarray = field(default_factory=lambda: np.empty((0, 4)))
    box_ids: List[str] = field(default_factory=list)
    normalized: bool = False
    extra: Dict[str, list] = field(default_factory=dict)
    extra_numeric: Dict[str, bool] = field(default_factory=dict)
    classes: Optional[List[str]] = None
    sizes: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    skipped: List[SkippedEntry] = field(default_factory=list)
    unknown_classes: Dict[str, int] = field(default_factory=dict)
    left_out: Dict[str, int] = field(default_factory=dict)
    n_left_out: int = 0
    images_root: Optional[str] = None
    images: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows) -> "BoxFile":
        """A copy with only the boxes at ``rows`` (indices or a boolean mask)."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, int)
        pick = [int(i) for i in rows]
        copy = BoxFile(**{**self.__dict__})
        copy.image_refs = [self.image_refs[i] for i in pick]
        copy.image_ids = [self.image_ids[i] for i in pick]
        copy.labels = [self.labels[i] for i in pick]
        copy.box_ids = [self.box_ids[i] for i in pick]
        copy.coordinates = self.coordinates[rows].reshape(-1, 4)
        copy.extra = {name: [values[i] for i in pick] for name, values in self.extra.items()}
        return copy


class Skips:
    """Skipped entries of one file, named up to ``MAX_NAMED``, then counted."""

    def __init__(self, source: str, limit: int = MAX_NAMED):
        self.name = os.path.basename(os.fspath(source).rstrip("/\\")) or str(source)
        self.limit = limit
        self.entries: List[SkippedEntry] = []
        self.more = 0

    def add(self, path: str, why: str) -> None:
        if len(self.entries) < self.limit:
            self.entries.append(SkippedEntry(path, why))
        else:
            self.more += 1

    def row(self, n: int, why: str) -> None:
        """A bad row ``n`` (1-based, counting the header) of the file."""
        self.add(f"{self.name} row {n}", why)

    def result(self) -> List[SkippedEntry]:
        if self.more:
            return self.entries + [SkippedEntry(
                self.name, f"{self.more:,} more entries skipped (only the first "
                           f"{self.limit:,} are named)")]
        return list(self.entries)


class LeftOut:
    """Counts boxes left out because ``keep`` refused their image, by image ref."""

    def __init__(self, limit: int = MAX_NAMED):
        self.limit = limit
        self.by_ref: Dict[str, int] = {}
        self.total = 0

    def add(self, ref: str, n: int = 1) -> None:
        self.total += n
        if ref in self.by_ref or len(self.by_ref) < self.limit:
            self.by_ref[ref] = self.by_ref.get(ref, 0) + n


# ----------------------------------------------------------------- numbers

def as_number(value) -> float:
    """A float from a cell, a JSON value or an XML text; NaN when not a number."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def typed_column(values: Sequence) -> Tuple[list, bool]:
    """``(values, numeric)``: floats (NaN for missing) when every present value
    is a number, else strings ("" for missing)."""
    strings = bool(values) and all(isinstance(v, str) for v in values)
    if strings:
        try:  # the common case, parsed in C: every value a number
            return np.array(values, dtype=float).tolist(), True
        except ValueError:
            pass
    missing = ("", "?", "nan", "na", "n/a", "none", "null")
    numbers = []
    for value in values:
        if value is None or isinstance(value, str) and value.strip().lower() in missing:
            numbers.append(math.nan)
            continue
        number = as_number(value)
        if math.isnan(number):
            if strings:  # cells of a CSV: text as it is
                return [v.strip() for v in values], False
            return ["" if v is None else _text(v) for v in values], False
        numbers.append(number)
    return numbers, True


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def split_suffix(name: str) -> Tuple[str, str]:
    """``("dir/a.b", ".jpg")`` for "dir/a.b.jpg"; the suffix only when it is an image's."""
    stem, ext = posixpath.splitext(name)
    return (stem, ext) if ext.lower() in IMAGE_SUFFIXES else (name, "")


# ----------------------------------------------------------------- matching

def normalise_ref(ref) -> Optional[str]:
    """An image reference as a relative path with "/", or None when empty."""
    if ref is None:
        return None
    text = str(ref).strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text or None


class ImageMatcher:
    """Finds the image a box file means among relative image paths.

    A reference matches an image whose path ends with it ("val2017/1.jpg"
    or "1.jpg" for "data/val2017/1.jpg"), the longest such ending first and
    only when exactly one image has it; a reference without an image suffix
    (an Open Images ImageID, a YOLO label path, a VOC <filename> without
    extension) matches the paths without theirs. A longer reference than any
    path ("/home/me/set/1.jpg") is tried from its end. An exact path that
    differs only in case matches too.
    """

    def __init__(self, paths: Sequence[str]):
        self.paths = list(paths)
        self.exact: Dict[str, int] = {}
        self.lower: Dict[str, int] = {}
        tails: Dict[str, int] = {}
        bare: Dict[str, int] = {}
        for i, path in enumerate(self.paths):
            self.exact.setdefault(path, i)
            self.lower.setdefault(path.lower(), i)
            parts = path.split("/")
            for start in range(len(parts)):
                tail = "/".join(parts[start:])
                tails[tail] = i if tails.get(tail, i) == i else -1
                stem = split_suffix(tail)[0]
                bare[stem] = i if bare.get(stem, i) == i else -1
        self.tails, self.bare = tails, bare
        self._cache: Dict[str, Optional[int]] = {}

    def find(self, ref) -> Optional[int]:
        """Index of the image ``ref`` names, or None."""
        try:
            return self._cache[ref]
        except (KeyError, TypeError):
            pass
        found = self._find(normalise_ref(ref))
        if isinstance(ref, str):
            self._cache[ref] = found
        return found

    def __contains__(self, ref) -> bool:
        return self.find(ref) is not None

    def _find(self, text: Optional[str]) -> Optional[int]:
        if text is None:
            return None
        text = text.lstrip("/")
        i = self.exact.get(text)
        if i is None:
            i = self.lower.get(text.lower())
        if i is not None:
            return i
        parts = text.split("/")
        table = self.tails if split_suffix(parts[-1])[1] else self.bare
        for start in range(len(parts)):
            i = table.get("/".join(parts[start:]))
            if i is not None and i >= 0:
                return i
        return None


# ---------------------------------------------------------------- checking

@dataclass
class BoxCheck:
    """What ``check_boxes`` made of the boxes.

    ``coordinates``: (n, 4) in pixels (or still normalised where the size
    was unknown); ``keep``: boolean (n,); ``reasons``: index -> why a box
    was skipped; ``fixed``: index -> what was changed (clipped, swapped).
    """
    coordinates: np.ndarray
    keep: np.ndarray
    reasons: Dict[int, str]
    fixed: Dict[int, str]

    @property
    def counts(self) -> Counter:
        """How many boxes were clipped, swapped... (by the first word of the fix)."""
        return Counter(text.split(":")[0] for text in self.fixed.values())


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def check_boxes(coordinates, widths=None, heights=None, *,
                normalized: bool = False) -> BoxCheck:
    """Clip, fix or skip boxes, given their images' sizes (NaN where unknown).

    ``coordinates``: (n, 4) x min, y min, x max, y max; ``widths``/``heights``:
    (n,) image sizes in pixels. Normalised coordinates are converted to
    pixels where the size is known. The rules, in order:

    - a coordinate that is missing or not finite: skipped;
    - normalised coordinates outside 0..1 by more than 1%: skipped (they are
      probably pixels); within 1%: clipped to 0..1;
    - x min > x max (or y min > y max): the two are swapped (fixed);
    - zero width or height: skipped;
    - with a known size: a box outside the image that fits inside when x and
      y are exchanged is exchanged (fixed); a box entirely outside is
      skipped; one partly outside is clipped to the image (counted when it
      reaches more than half a pixel beyond).
    """
    boxes = np.array(coordinates, dtype=float).reshape(-1, 4)
    n = len(boxes)
    widths = np.full(n, np.nan) if widths is None else np.asarray(widths, dtype=float)
    heights = np.full(n, np.nan) if heights is None else np.asarray(heights, dtype=float)
    keep = np.ones(n, dtype=bool)
    reasons: Dict[int, str] = {}
    fixed: Dict[int, str] = {}

    def skip(mask, why: Callable[[int], str]):
        for i in np.flatnonzero(mask & keep):
            reasons[int(i)] = why(int(i))
        keep[mask] = False

    def fix(mask, what: Callable[[int], str]):
        for i in np.flatnonzero(mask & keep):
            fixed[int(i)] = fixed[int(i)] + "; " + what(int(i)) if int(i) in fixed \
                else what(int(i))

    skip(~np.isfinite(boxes).all(axis=1), lambda i: "coordinates missing or not numbers")
    if normalized:
        low, high = -NORMALIZED_TOLERANCE, 1 + NORMALIZED_TOLERANCE
        with np.errstate(invalid="ignore"):
            bad = ((boxes < low) | (boxes > high)).any(axis=1)
        skip(bad, lambda i: "normalised coordinates outside 0–1 "
                            f"({', '.join(_fmt(v) for v in boxes[i])}); are they pixels?")
        boxes[keep] = np.clip(boxes[keep], 0.0, 1.0)
        sized = np.isfinite(widths) & np.isfinite(heights)
        scale = np.column_stack([widths, heights, widths, heights])
        boxes[sized] *= scale[sized]
    else:
        sized = np.isfinite(widths) & np.isfinite(heights)

    for lo, hi, axis in ((0, 2, "x"), (1, 3, "y")):
        with np.errstate(invalid="ignore"):
            swapped = keep & (boxes[:, lo] > boxes[:, hi])
        fix(swapped, lambda i, axis=axis: f"swapped: {axis} min > {axis} max")
        boxes[swapped, lo], boxes[swapped, hi] = boxes[swapped, hi], boxes[swapped, lo].copy()
    with np.errstate(invalid="ignore"):
        flat = keep & ((boxes[:, 2] - boxes[:, 0] <= 0) | (boxes[:, 3] - boxes[:, 1] <= 0))
    skip(flat, lambda i: "zero area (" + ", ".join(_fmt(v) for v in boxes[i]) + ")")

    if sized.any():
        w, h = widths, heights
        with np.errstate(invalid="ignore"):
            beyond = sized & keep & (
                (boxes[:, 0] < -CLIP_TOLERANCE) | (boxes[:, 1] < -CLIP_TOLERANCE)
                | (boxes[:, 2] > w + CLIP_TOLERANCE) | (boxes[:, 3] > h + CLIP_TOLERANCE))
            exchanged_fits = beyond & (boxes[:, 1] >= 0) & (boxes[:, 0] >= 0) \
                & (boxes[:, 3] <= w) & (boxes[:, 2] <= h) & (w != h)
        fix(exchanged_fits, lambda i: "exchanged: x and y swapped (it fits only that way)")
        boxes[exchanged_fits] = boxes[exchanged_fits][:, [1, 0, 3, 2]]
        with np.errstate(invalid="ignore"):
            outside = sized & keep & ((boxes[:, 0] >= w) | (boxes[:, 1] >= h)
                                      | (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
        skip(outside, lambda i: f"outside the image ({int(w[i])}×{int(h[i])}): "
                                + ", ".join(_fmt(v) for v in boxes[i]))
        with np.errstate(invalid="ignore"):
            beyond = sized & keep & (
                (boxes[:, 0] < -CLIP_TOLERANCE) | (boxes[:, 1] < -CLIP_TOLERANCE)
                | (boxes[:, 2] > w + CLIP_TOLERANCE) | (boxes[:, 3] > h + CLIP_TOLERANCE))
        fix(beyond, lambda i: f"clipped: reached beyond the image ({int(w[i])}×{int(h[i])})")
        inside = sized & keep
        boxes[inside, 0] = np.clip(boxes[inside, 0], 0, w[inside])
        boxes[inside, 2] = np.clip(boxes[inside, 2], 0, w[inside])
        boxes[inside, 1] = np.clip(boxes[inside, 1], 0, h[inside])
        boxes[inside, 3] = np.clip(boxes[inside, 3], 0, h[inside])
    return BoxCheck(boxes, keep, reasons, fixed)


def displayed_fractions(fractions, orientation: int) -> np.ndarray:
    """Boxes given as fractions of the stored image, as fractions of the image
    shown after its EXIF ``orientation`` (1-8): (n, 4) x min, y min, x max, y max.

    Viewers turn the photo upright; the box must turn with it. Orientation
    6 (shown turned 90° clockwise) maps a stored point (u, v) to (1 - v, u).
    """
    b = np.asarray(fractions, dtype=float).reshape(-1, 4)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    corners = {
        1: (x0, y0, x1, y1),
        2: (1 - x1, y0, 1 - x0, y1),           # mirrored left-right
        3: (1 - x1, 1 - y1, 1 - x0, 1 - y0),   # turned 180°
        4: (x0, 1 - y1, x1, 1 - y0),           # mirrored top-bottom
        5: (y0, x0, y1, x1),                   # transposed
        6: (1 - y1, x0, 1 - y0, x1),           # turned 90° clockwise
        7: (1 - y1, 1 - x1, 1 - y0, 1 - x0),   # transversed
        8: (y0, 1 - x1, y1, 1 - x0),           # turned 90° anticlockwise
    }.get(orientation)
    if corners is None:
        corners = (x0, y0, x1, y1)
    return np.column_stack(corners)


# --------------------------------------------------------------- detection

_OPEN_IMAGES_COLUMNS = ("ImageID", "XMin", "XMax", "YMin", "YMax")
_HEAD_BYTES = 1 << 16


def _head(path: str, size: int = _HEAD_BYTES) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(size)
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err
    return data.decode("utf-8-sig", errors="replace")


def csv_header(path: str) -> Tuple[List[str], "csv.Dialect"]:
    """The header row of a CSV file and its dialect (comma, semicolon or tab)."""
    head = _head(path)
    first = head.splitlines()[0] if head.strip() else ""
    try:
        dialect = csv.Sniffer().sniff(head[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    row = next(csv.reader([first], dialect), [])
    return [name.strip() for name in row], dialect


def detect_format(path) -> str:
    """The box format of a file or folder (one of ``FORMATS``), by its content.

    Raises ``AnnotationError`` saying what was expected when it is none of them.
    """
    from . import boxformats

    path = os.fspath(path)
    if os.path.isdir(path):
        found = boxformats.folder_format(path)
        if found:
            return found
        raise AnnotationError(
            f"{path}: no box files found in this folder; expected Pascal VOC .xml "
            "files or YOLO .txt label files (with classes.txt, obj.names or data.yaml)")
    if not os.path.exists(path):
        raise AnnotationError(f"{path}: not found")
    head = _head(path).lstrip()
    if not head:
        raise AnnotationError(f"{path}: the file is empty")
    if head.startswith("<"):
        if re.search(r"<annotation[\s>]", head[:4096]):
            return "voc"
        raise AnnotationError(f"{path}: an XML file, but not Pascal VOC (its root "
                              "element is not <annotation>)")
    if head[0] in "{[":
        found = boxformats.json_format(path)
        if found:
            return found
        raise AnnotationError(
            f"{path}: a JSON file without boxes; expected COCO (an object with "
            "'images' and 'annotations'), BigML regions, or an annotated set with a "
            "field of optype 'regions'")
    if boxformats.looks_like_yaml(head):
        return "yolo"
    if boxformats.looks_like_yolo_labels(head):
        return "yolo"
    header, _ = csv_header(path)
    if all(name in header for name in _OPEN_IMAGES_COLUMNS):
        return "open images"
    if boxformats.box_csv_columns(header) is not None:
        return "csv"
    if boxformats.regions_column(path) is not None:
        return "bigml"
    if boxformats.looks_like_class_descriptions(head):
        raise AnnotationError(
            f"{path}: an Open Images class-descriptions file (MID, name); give the "
            "box CSV instead and keep this file beside it")
    raise AnnotationError(
        f"{path}: not a box file; expected an Open Images box CSV, COCO JSON, Pascal "
        "VOC XML, YOLO labels or data.yaml, a CSV with BigML regions, or a CSV with "
        "one row per box (file, label, x min, y min, x max, y max)")


def is_box_file(path) -> bool:
    """Whether ``path`` is a box file (or folder) of a known format."""
    try:
        detect_format(path)
    except AnnotationError:
        return False
    return True


def read_boxes(path, *, format: Optional[str] = None,  # pylint: disable=redefined-builtin
               keep: Optional[Callable[[str], bool]] = None,
               class_names=None, callback=None) -> BoxFile:
    """Read the boxes of a box file or folder.

    ``format``: one of ``FORMATS``; default: detected from the content.
    ``keep(image_ref) -> bool``: boxes of images it refuses are counted in
    ``left_out`` instead of kept (so a 14-million-row Open Images CSV can be
    streamed for the few thousand images at hand). ``class_names``: an Open
    Images class-descriptions CSV (default: ``*class-descriptions*.csv``
    beside the file). ``callback(fraction)`` may raise ``Cancelled``.
    Raises ``AnnotationError`` for a file that cannot be read at all; bad
    rows, boxes and files inside a folder are skipped and named.
    """
    from . import boxformats
    from ..progress import checked

    path = os.path.abspath(os.fspath(path))
    if format is None:
        format = detect_format(path)
    elif format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}, "
                         f"got {format!r}")
    if not os.path.isdir(path):
        try:
            size = os.path.getsize(path)
        except OSError as err:
            raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err
        if format in ("coco", "voc", "bigml") and size > MAX_WHOLE_FILE_BYTES \
                and not path.lower().endswith(".csv"):
            raise AnnotationError(f"{path}: {size:,} bytes, too large to read whole "
                                  f"(limit {MAX_WHOLE_FILE_BYTES:,})")
    reader = boxformats.READERS[format]
    kwargs = {"class_names": class_names} if format == "open images" else {}
    return reader(path, keep=keep, callback=checked(callback), **kwargs)
