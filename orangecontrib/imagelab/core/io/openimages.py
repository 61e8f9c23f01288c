"""Pick a subset of an Open Images-format data set: class names in, images and boxes out.

    >>> sources = find_metadata("open-images/")                  # doctest: +SKIP
    >>> subset = select(sources, ["Bus", "Bicycle"], max_per_class=100)
    >>> subset.images[0].url, subset.boxes[0].label              # doctest: +SKIP

Open Images is shared as metadata files, read here as published:

- class descriptions ``*class-descriptions*.csv``: ``MID,name`` (with or
  without the ``LabelName,DisplayName`` header);
- image lists (any CSV with ``ImageID`` and ``OriginalURL``): URL, licence,
  author, title, rotation, ... and ``Subset`` (train/validation/test);
- boxes (``*annotations-bbox.csv``: ``ImageID,Source,LabelName,Confidence,
  XMin,XMax,YMin,YMax,IsOccluded,...``; fractions, X before Y);
- image-level labels (``*annotations-human-imagelabels*.csv``:
  ``ImageID,Source,LabelName,Confidence``; 1 = present, 0 = verified absent);
- the class hierarchy (``*hierarchy*.json``: ``{"LabelName", "Subcategory"}``).

Files are recognised by their columns, not only their names; a split
(train/validation/test) comes from the image list's ``Subset`` or from the
file name. Everything is **streamed** (the real box file has 14.6 million
rows): a line is split only far enough to read its class, and parsed whole
only when it belongs to a chosen class; memory holds the selection, not the
files. With a cap per class, the images of each class are sampled with a
bottom-k hash sketch (a uniform sample of distinct images whatever the row
order, the same for the same ``random_state``), then a second pass reads the
chosen images' boxes.

Relative file URLs in an image list (``file:images/a.jpg``) are resolved
against the folder of that list (``paths.resolve_file_url``), so a data set
that travels with its photos works offline anywhere.
"""
import csv
import difflib
import hashlib
import heapq
import json
import operator
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ..errors import (AnnotationError, SkippedEntry, UnknownLabelError,
                      UnsafePathError)
from ..paths import resolve_file_url
from ..progress import ProgressCallback, checked

__all__ = ["find_metadata", "select", "count_classes", "read_classes", "Source",
           "CsvSource", "RowsSource", "Subset", "ImageRow", "BoxRow", "ClassCount",
           "UnknownClassError", "KINDS", "URL_FIELDS", "BOX_FLAGS", "IMAGE_FIELDS"]

KINDS = ("boxes", "labels")
URL_FIELDS = ("OriginalURL", "Thumbnail300KURL")
BOX_FLAGS = ("IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")
#: Image-list columns kept for each image (those present), besides ID and URL.
IMAGE_FIELDS = ("OriginalLandingURL", "License", "AuthorProfileURL", "Author", "Title",
                "OriginalSize", "OriginalMD5", "Rotation")
_BOX_COLUMNS = {"ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax"}
_SPLITS = ("train", "validation", "test")


class UnknownClassError(UnknownLabelError):
    """A class name is not in the class descriptions; ``suggestions`` lists
    the nearest names."""

    def __init__(self, name, suggestions=()):
        super().__init__(name, suggestions)
        hint = (f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
                if self.suggestions else "; check the spelling in the class list")
        self.args = (f"unknown class {name!r}{hint}",)


# --------------------------------------------------------------- sources

def _split_of(name: str) -> Optional[str]:
    tokens = re.split(r"[^a-z]+", name.lower())
    for split in _SPLITS:
        if split in tokens:
            return split
    return "validation" if "val" in tokens else None


class Source:
    """One metadata file or table: its rows, streamed; see CsvSource, RowsSource.

    ``kind``: "classes", "images", "boxes" or "labels"; ``header``: column
    names (None for a class-description file without one); ``split``: from
    its name; ``folder``: where relative file URLs point (None for tables);
    ``size``: work units for progress (bytes or rows).
    """
    kind: str
    name: str
    header: Optional[List[str]]
    folder: Optional[str] = None
    size: int = 1

    @property
    def split(self) -> Optional[str]:
        return _split_of(self.name)

    def column(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            raise AnnotationError(f"{self.name}: no column {name!r} "
                                  f"(columns: {', '.join(self.header)})") from None

    def rows(self, progress: Callable[[int], None]) -> Iterator[List[str]]:
        """Every data row (header left out)."""
        raise NotImplementedError

    def matching(self, column: int, wanted: Set[str],
                 progress: Callable[[int], None]) -> Iterator[List[str]]:
        """The rows whose value in ``column`` is in ``wanted``."""
        for row in self.rows(progress):
            if len(row) > column and row[column] in wanted:
                yield row

    def picked(self, columns: Sequence[int],
               progress: Callable[[int], None]) -> Iterator[Tuple[str, ...]]:
        """The values of ``columns`` of every row (rows too short are left out),
        as text or, from a CSV file, as bytes."""
        last = max(columns)
        for row in self.rows(progress):
            if len(row) > last:
                yield tuple(row[c] for c in columns)


class CsvSource(Source):
    """A CSV file, read as bytes line by line: a line is decoded and parsed
    only when the cheap look at one field says it is wanted."""

    def __init__(self, path: str, kind: str, header: Optional[List[str]]):
        self.path = path
        self.kind = kind
        self.name = os.path.basename(path)
        self.header = header
        self.folder = os.path.dirname(os.path.abspath(path))
        self.size = max(1, os.path.getsize(path))

    def _records(self, progress) -> Iterator[bytes]:
        """Raw records (a quoted field may span lines), header skipped."""
        step = 1 << 20
        with open(self.path, "rb") as f:
            if self.header is not None:
                pending_bytes = len(f.readline())
            else:
                pending_bytes = 0
            pending = None
            for raw in f:
                pending_bytes += len(raw)
                if pending_bytes >= step:
                    progress(pending_bytes)
                    pending_bytes = 0
                if pending is not None:
                    pending += raw
                    if pending.count(b'"') % 2:
                        continue
                    raw, pending = pending, None
                elif b'"' in raw and raw.count(b'"') % 2:
                    pending = raw
                    continue
                yield raw
        progress(pending_bytes)

    @staticmethod
    def _parse(raw: bytes) -> List[str]:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if '"' in text:
            return next(csv.reader([text]), [])
        return text.split(",")

    def rows(self, progress) -> Iterator[List[str]]:
        parse = self._parse
        for raw in self._records(progress):
            if raw.strip():
                yield parse(raw)

    def picked(self, columns, progress) -> Iterator[tuple]:
        # Split only as far as the last column wanted, and leave the values
        # as bytes (callers that count decode each distinct value once); a
        # line with quotes goes through the csv module.
        last = max(columns)
        pick = operator.itemgetter(*columns)
        for raw in self._records(progress):
            if b'"' in raw:
                parts = [p.encode("utf-8") for p in self._parse(raw)]
            else:
                parts = raw.rstrip(b"\r\n").split(b",", last + 1)
            if len(parts) > last:
                yield pick(parts) if len(columns) > 1 else (parts[columns[0]],)

    def matching(self, column, wanted, progress) -> Iterator[List[str]]:
        keys = {key.encode("utf-8") for key in wanted}
        parse = self._parse
        for raw in self._records(progress):
            parts = raw.split(b",", column + 1)
            if len(parts) > column and parts[column].strip(b'"\r\n') in keys:
                yield parse(raw)


class RowsSource(Source):
    """Rows given as lists of text (e.g. an Orange table from a File widget)."""

    def __init__(self, name: str, kind: str, header: Optional[List[str]],
                 rows: Sequence[Sequence[str]], folder: Optional[str] = None):
        self.name = name
        self.kind = kind
        self.header = header
        self._rows = rows
        self.folder = folder
        self.size = max(1, len(rows))

    def rows(self, progress) -> Iterator[List[str]]:
        for i, row in enumerate(self._rows):
            if i % 10_000 == 9_999:
                progress(10_000)
            yield list(row)
        progress(len(self._rows) % 10_000)


def kind_of(header: List[str], name: str = "") -> Optional[str]:
    """"boxes", "labels", "images" or "classes" from a CSV's first row."""
    columns = set(header)
    if _BOX_COLUMNS <= columns:
        return "boxes"
    if {"ImageID", "LabelName", "Confidence"} <= columns:
        return "labels"
    if {"ImageID", "OriginalURL"} <= columns:
        return "images"
    if header[:2] == ["LabelName", "DisplayName"] or (
            len(header) == 2 and header[0].startswith(("/m/", "/g/"))) or (
            len(header) == 2 and "class-descriptions" in name.lower()):
        return "classes"
    return None


def find_metadata(folder) -> Tuple[List[Source], Optional[dict]]:
    """The metadata files directly in ``folder``, recognised by their columns,
    and the class hierarchy (parsed JSON) if a ``*hierarchy*.json`` is there.

    Machine-generated label files (without "human" in the name) are left
    out. Raises ``AnnotationError`` when there are no class descriptions or
    no image list.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise AnnotationError(f"metadata folder not found: {folder}")
    sources, hierarchy = [], None
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        lower = name.lower()
        if not os.path.isfile(path) or name.startswith("."):
            continue
        if lower.endswith(".json") and "hierarchy" in lower:
            hierarchy = read_hierarchy(path)
            continue
        if not lower.endswith(".csv"):
            continue
        with open(path, "rb") as f:
            first = f.readline().decode("utf-8-sig", "replace").rstrip("\r\n")
        header = next(csv.reader([first]), [])
        kind = kind_of(header, name)
        if kind is None or (kind == "labels" and "human" not in lower):
            continue
        has_header = not (kind == "classes" and header[:2] != ["LabelName", "DisplayName"])
        sources.append(CsvSource(path, kind, header if has_header else None))
    check_sources(sources, f"in {folder}")
    return sources, hierarchy


def check_sources(sources: Sequence[Source], where: str) -> None:
    kinds = {source.kind for source in sources}
    if "classes" not in kinds:
        raise AnnotationError(f"no class descriptions {where}: expected a file like "
                              "class-descriptions-boxable.csv (MID,name)")
    if "images" not in kinds:
        raise AnnotationError(f"no image list {where}: expected a CSV with the columns "
                              "ImageID and OriginalURL, e.g. train-images-boxable-with-"
                              "rotation.csv")
    if not kinds & {"boxes", "labels"}:
        raise AnnotationError(f"no boxes or image labels {where}: expected "
                              "*-annotations-bbox.csv or *-annotations-human-imagelabels*.csv")


def read_hierarchy(path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            tree = json.load(f)
    except (OSError, ValueError) as err:
        raise AnnotationError(f"{path}: cannot read the class hierarchy ({err})") from err
    if not isinstance(tree, dict) or "LabelName" not in tree:
        raise AnnotationError(f"{path}: expected a class hierarchy "
                              '{"LabelName": ..., "Subcategory": [...]}')
    return tree


def read_classes(sources: Iterable[Source]) -> Dict[str, str]:
    """{MID: display name} from every class-description source."""
    names = {}
    for source in sources:
        if source.kind != "classes":
            continue
        for row in source.rows(lambda n: None):
            if len(row) >= 2 and row[0]:
                names.setdefault(row[0].strip(), row[1].strip())
    return names


def _children(tree: Optional[dict]) -> Dict[str, List[str]]:
    """{MID: direct subcategory MIDs} of a hierarchy (a class may sit under
    several parents)."""
    children: Dict[str, List[str]] = {}
    stack = [tree] if tree else []
    while stack:
        node = stack.pop()
        subs = [s for s in node.get("Subcategory", []) if isinstance(s, dict)]
        mid = node.get("LabelName")
        for sub in subs:
            if sub.get("LabelName"):
                children.setdefault(mid, []).append(sub["LabelName"])
        stack.extend(subs)
    return children


def subclasses(mid: str, children: Dict[str, List[str]]) -> Set[str]:
    """``mid`` and every class below it."""
    found, stack = set(), [mid]
    while stack:
        m = stack.pop()
        if m not in found:
            found.add(m)
            stack.extend(children.get(m, ()))
    return found


# ---------------------------------------------------------------- result

@dataclass
class ImageRow:
    image_id: str
    url: str
    split: str
    classes: List[str]             # the requested classes it has, most boxes first
    n_boxes: int
    fields: Dict[str, str]         # IMAGE_FIELDS present in the image list


@dataclass
class BoxRow:
    image_id: str
    label: str                     # the requested class
    box_class: str                 # its own class (a subclass, with the hierarchy)
    coordinates: Tuple[float, float, float, float]  # x min, y min, x max, y max (0-1)
    flags: Tuple[float, ...]       # BOX_FLAGS; NaN where unknown (-1) or absent
    source: str
    split: str


@dataclass
class Subset:
    """Result of ``select``: ``classes`` as requested (display names, in
    order), ``images`` and ``boxes`` chosen, ``missing_classes`` (known but
    without any image here), ``skipped`` (images left out, with reasons),
    ``notes`` (what the user should know, e.g. no hierarchy file)."""
    classes: List[str]
    images: List[ImageRow] = field(default_factory=list)
    boxes: List[BoxRow] = field(default_factory=list)
    missing_classes: List[str] = field(default_factory=list)
    skipped: List[SkippedEntry] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class ClassCount:
    boxes: int = 0
    box_images: int = 0            # images with boxes of the class
    labelled_images: int = 0       # images with a positive image-level label


# ------------------------------------------------------------- progress

class _Progress:
    def __init__(self, total: int, callback):
        self.total = max(1, total)
        self.done = 0
        self.callback = checked(callback)

    def __call__(self, units: int) -> None:
        self.done += units
        self.callback(min(self.done / self.total, 0.999))


# ------------------------------------------------------------- counting

def count_classes(sources: Sequence[Source], *, callback: ProgressCallback = None
                  ) -> Dict[str, ClassCount]:
    """{MID: ClassCount} over the box and label sources, for a class list.

    Distinct images are counted where rows of one image are contiguous, as
    Open Images publishes them (rows sorted by ImageID); otherwise an image
    split across the file counts more than once.
    """
    streamed = [s for s in sources if s.kind in ("boxes", "labels")]
    progress = _Progress(sum(s.size for s in streamed), callback)
    counts: Dict[object, ClassCount] = {}  # by MID as the source gives it (text or bytes)
    for source in streamed:
        columns = [source.column("ImageID"), source.column("LabelName")]
        labels = source.kind == "labels"
        if labels:
            columns.append(source.column("Confidence"))
        last: dict = {}
        for values in source.picked(columns, progress):
            image, mid = values[0], values[1]
            count = counts.get(mid)
            if count is None:
                count = counts[mid] = ClassCount()
            if labels:
                if not _positive(values, 2):
                    continue
                if last.get(mid) != image:
                    count.labelled_images += 1
            else:
                count.boxes += 1
                if last.get(mid) != image:
                    count.box_images += 1
            last[mid] = image
    merged: Dict[str, ClassCount] = {}
    for mid, count in counts.items():
        key = mid.decode("utf-8", "replace") if isinstance(mid, bytes) else mid
        total = merged.setdefault(key, ClassCount())
        total.boxes += count.boxes
        total.box_images += count.box_images
        total.labelled_images += count.labelled_images
    counts = merged
    checked(callback)(1.0)
    return counts


def _positive(row: List[str], column: int) -> bool:
    try:
        return float(row[column]) >= 0.5
    except (ValueError, IndexError):
        return False


# ------------------------------------------------------------- selection

def _resolve_names(classes: Sequence[str], names: Dict[str, str]) -> List[Tuple[str, Set[str]]]:
    """[(display name, its MIDs)] for the requested names, case-insensitive."""
    by_lower: Dict[str, List[str]] = {}
    for mid, name in names.items():
        by_lower.setdefault(name.casefold(), []).append(mid)
    display = {name.casefold(): name for name in names.values()}
    resolved, seen = [], set()
    for requested in classes:
        key = str(requested).strip().casefold()
        if not key or key in seen:
            continue
        seen.add(key)
        if key in by_lower:
            resolved.append((display[key], set(by_lower[key])))
        elif key in names:  # a MID given instead of a name
            resolved.append((names[key], {key}))
        else:
            raise UnknownClassError(str(requested).strip(), _suggest(key, display))
    if not resolved:
        raise ValueError("classes: choose at least one class")
    return resolved


def _suggest(key: str, display: Dict[str, str], n: int = 5) -> List[str]:
    close = difflib.get_close_matches(key, list(display), n=n, cutoff=0.6)
    containing = [k for k in display if key in k and k not in close]
    containing.sort(key=len)
    return [display[k] for k in (close + containing)[:n]]


def _assignments(resolved, children, hierarchy: bool) -> Dict[str, str]:
    """{MID: requested class it counts for}. With the hierarchy, a class's
    subclasses count for it; a subclass requested itself counts for itself
    (the most specific requested class wins)."""
    trees = [(name, set().union(*(subclasses(m, children) if hierarchy else {m}
                                  for m in mids)))
             for name, mids in resolved]
    assign = {}
    for name, mids in sorted(trees, key=lambda pair: -len(pair[1])):
        for mid in mids:
            assign[mid] = name
    return assign


def _check(max_per_class, kinds, url_field) -> None:
    if max_per_class is not None and (not isinstance(max_per_class, int)
                                      or isinstance(max_per_class, bool)
                                      or max_per_class < 1):
        raise ValueError(f"max_per_class must be a positive integer or None, "
                         f"got {max_per_class!r}")
    if not kinds or any(kind not in KINDS for kind in kinds):
        raise ValueError(f"kinds must be a non-empty selection of {KINDS}, got {kinds!r}")
    if url_field not in URL_FIELDS:
        raise ValueError(f"url_field must be one of {URL_FIELDS}, got {url_field!r}")


def _sketch_key(seed: bytes, image_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(image_id.encode("utf-8"), digest_size=8,
                                          key=seed).digest(), "big")


def select(sources: Sequence[Source], classes: Sequence[str], *,
           max_per_class: Optional[int] = None, hierarchy: Optional[dict] = None,
           use_hierarchy: bool = True, kinds: Sequence[str] = KINDS,
           random_state: int = 0, url_field: str = "OriginalURL",
           callback: ProgressCallback = None) -> Subset:
    """The images (and their boxes) of ``classes`` in the metadata ``sources``.

    ``classes``: display names (case-insensitive) or MIDs; an unknown name
    raises ``UnknownClassError`` with the nearest names. ``max_per_class``:
    at most this many images are picked for each class (a uniform sample,
    fixed by ``random_state``); an image picked for one class brings its
    boxes of the other requested classes along. ``hierarchy``: the parsed
    hierarchy JSON; with ``use_hierarchy`` a parent ("Vehicle") selects its
    subclasses, labelled with the parent's name (``BoxRow.box_class`` keeps
    their own). ``kinds``: where images come from, "boxes" and/or "labels"
    (positive image-level labels; such images may have no boxes).
    ``url_field``: "OriginalURL" or "Thumbnail300KURL" (falls back to the
    original where an image has no thumbnail).
    """
    _check(max_per_class, kinds, url_field)
    callback = checked(callback)
    check_sources(sources, "among the metadata")
    names = read_classes(sources)
    resolved = _resolve_names(classes, names)
    subset = Subset([name for name, _ in resolved])
    if use_hierarchy and hierarchy is None:
        subset.notes.append("no class hierarchy file: each class selects only its own "
                            "boxes and labels, not its subclasses")
    assign = _assignments(resolved, _children(hierarchy), use_hierarchy)
    streamed = [s for s in sources if s.kind in kinds]
    if not streamed:
        what = " or ".join("box files" if k == "boxes" else "image-level label files"
                           for k in kinds)
        raise AnnotationError(f"no {what} among the metadata: choose another kind")
    image_lists = [s for s in sources if s.kind == "images"]
    passes = 2 if max_per_class is not None else 1
    progress = _Progress(passes * sum(s.size for s in streamed)
                         + sum(s.size for s in image_lists), callback)
    chosen = None
    if max_per_class is not None:
        chosen = _sample(streamed, assign, subset.classes, max_per_class, random_state,
                         progress)
    found, boxes = _collect(streamed, assign, names, chosen, progress)
    subset.boxes = boxes
    _images(subset, image_lists, found, url_field, progress)
    present = {c for image in subset.images for c in image.classes}
    subset.missing_classes = [c for c in subset.classes if c not in present]
    callback(1.0)
    return subset


def _sample(streamed, assign, classes, k, random_state, progress) -> Set[str]:
    """Pass 1: a bottom-k sketch of distinct image IDs per requested class."""
    seed = str(random_state).encode("utf-8")[:64]
    heaps: Dict[str, list] = {c: [] for c in classes}
    members: Dict[str, Set[str]] = {c: set() for c in classes}
    last: Dict[str, str] = {}
    for source in streamed:
        image_col, label_col = source.column("ImageID"), source.column("LabelName")
        confidence = source.column("Confidence") if source.kind == "labels" else None
        for row in source.matching(label_col, assign.keys(), progress):
            if confidence is not None and not _positive(row, confidence):
                continue
            name, image = assign[row[label_col]], row[image_col]
            if last.get(name) == image or image in members[name]:
                continue
            last[name] = image
            key = _sketch_key(seed, image)
            heap = heaps[name]
            if len(heap) < k:
                heapq.heappush(heap, (-key, image))
                members[name].add(image)
            elif -heap[0][0] > key:
                _, out = heapq.heapreplace(heap, (-key, image))
                members[name].discard(out)
                members[name].add(image)
    return set().union(*members.values()) if members else set()


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _collect(streamed, assign, names, chosen, progress):
    """Pass 2: boxes of the chosen images (all images when not capped) and
    each image's classes. -> ({image id: (split, {class: boxes})}, [BoxRow])"""
    found: Dict[str, Tuple[str, Dict[str, int]]] = {}
    boxes: List[BoxRow] = []
    for source in streamed:
        image_col, label_col = source.column("ImageID"), source.column("LabelName")
        split = source.split or ""
        if source.kind == "labels":
            confidence = source.column("Confidence")
        else:
            cols = [source.column(c) for c in ("XMin", "YMin", "XMax", "YMax")]
            flag_cols = [source.header.index(f) if f in source.header else None
                         for f in BOX_FLAGS]
            source_col = source.header.index("Source") if "Source" in source.header else None
        for row in source.matching(label_col, assign.keys(), progress):
            image = row[image_col]
            if chosen is not None and image not in chosen:
                continue
            mid = row[label_col]
            name = assign[mid]
            if source.kind == "labels":
                if _positive(row, confidence):
                    found.setdefault(image, (split, {}))[1].setdefault(name, 0)
                continue
            try:
                coordinates = tuple(float(row[c]) for c in cols)
            except (ValueError, IndexError):
                continue  # a damaged row: no box to draw
            flags = tuple(float("nan") if c is None or c >= len(row) or row[c] in ("", "-1")
                          else _float(row[c]) for c in flag_cols)
            counts = found.setdefault(image, (split, {}))[1]
            counts[name] = counts.get(name, 0) + 1
            boxes.append(BoxRow(image, name, names.get(mid, mid), coordinates, flags,
                                row[source_col] if source_col is not None and
                                source_col < len(row) else "", split))
    return found, boxes


def _images(subset: Subset, image_lists, found, url_field, progress) -> None:
    """Pass 3: the image-list rows of the images found (URL, licence, ...)."""
    rows: Dict[str, ImageRow] = {}
    order = {name: i for i, name in enumerate(subset.classes)}
    for source in image_lists:
        image_col = source.column("ImageID")
        url_col = source.column("OriginalURL")
        thumb_col = source.header.index("Thumbnail300KURL") \
            if url_field == "Thumbnail300KURL" and "Thumbnail300KURL" in source.header \
            else None
        subset_col = source.header.index("Subset") if "Subset" in source.header else None
        field_cols = [(f, source.header.index(f)) for f in IMAGE_FIELDS
                      if f in source.header]
        wanted = set(found) - set(rows)
        if not wanted:
            progress(source.size)
            continue
        for row in source.matching(image_col, wanted, progress):
            image = row[image_col]
            if image in rows:
                continue
            url = row[url_col] if url_col < len(row) else ""
            if thumb_col is not None and thumb_col < len(row) and row[thumb_col]:
                url = row[thumb_col]
            try:
                url = resolve_file_url(url.strip(), source.folder) if source.folder \
                    else url.strip()
            except UnsafePathError as err:
                subset.skipped.append(SkippedEntry(image, str(err)))
                rows[image] = None
                continue
            split, counts = found[image]
            if subset_col is not None and subset_col < len(row) and row[subset_col]:
                split = row[subset_col]
            split = split or source.split or ""
            classes = sorted(counts, key=lambda c: (-counts[c], order[c]))
            rows[image] = ImageRow(image, url, split, classes, sum(counts.values()),
                                   {f: row[c] for f, c in field_cols if c < len(row)})
    missing = [image for image in found if image not in rows]
    subset.skipped += [SkippedEntry(image, "not in the image list") for image in missing]
    kept = {image for image, row in rows.items() if row is not None}
    subset.images = [row for row in rows.values() if row is not None]
    subset.images.sort(key=lambda r: (order[r.classes[0]] if r.classes else 0, r.image_id))
    subset.boxes = [box for box in subset.boxes if box.image_id in kept]
    position = {row.image_id: i for i, row in enumerate(subset.images)}
    subset.boxes.sort(key=lambda b: position[b.image_id])  # stable: file order within
