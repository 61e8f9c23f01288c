"""Parsers and writers of the box formats (see ``boxes`` for what each looks like).

Small parsers of our own: ``csv`` (streamed row by row, so a file of
millions of rows is never held whole), ``json``, ``defusedxml`` for Pascal VOC
(entity declarations are refused: no billion-laughs expansion), and PyYAML's
``safe_load`` (a dependency of Orange itself) for YOLO's ``data.yaml``.
Every parser returns a ``boxes.BoxFile``; a bad row, box or file is skipped
and named, never fatal.
"""
import csv
import json
import math
import os
import posixpath
import re
from array import array
from collections import Counter
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import AnnotationError, SkippedEntry
from .boxes import (
    BoxFile, LeftOut, Skips, as_number, csv_header, split_suffix,
    typed_column)

#: Names of the file column in row files (BigML rows, per-box CSVs).
FILE_COLUMNS = ("file", "filename", "file name", "file_name", "image", "image path",
                "image_path", "path", "image file", "image_file")
LABEL_COLUMNS = ("label", "class", "category", "class name", "class_name", "labelname")
COORDINATE_COLUMNS = (
    ("x min", "xmin", "x_min", "x1", "left"),
    ("y min", "ymin", "y_min", "y1", "top"),
    ("x max", "xmax", "x_max", "x2", "right"),
    ("y max", "ymax", "y_max", "y2", "bottom"),
)
#: Folder names that hold annotations next to an images folder.
ANNOTATION_FOLDERS = ("annotations", "labels", "xml", "xmls", "label")
YOLO_NAME_FILES = ("classes.txt", "obj.names", "data.yaml", "data.yml", "dataset.yaml",
                   "dataset.yml")
MAX_YAML_BYTES = 1 << 20
_PROGRESS_ROWS = 1 << 14


# ------------------------------------------------------------------ collector

class _Collector:
    """Accumulates boxes column by column (compact: coordinates in an array)."""

    def __init__(self, source: str, fmt: str, keep, extra_names: Sequence[str] = (),
                 normalized: bool = False):
        self.source, self.fmt, self.keep = source, fmt, keep
        self.normalized = normalized
        self.coords = array("d")
        self.refs: List[str] = []
        self.image_ids: List[str] = []
        self.labels: List[Optional[str]] = []
        self.box_ids: List[str] = []
        self.extra_names = list(extra_names)
        self.extra: List[list] = [[] for _ in self.extra_names]
        self.skips = Skips(source)
        self.left = LeftOut()
        self.unknown: Counter = Counter()
        self.numbering: Counter = Counter()
        self.sizes: Dict[str, Tuple[float, float]] = {}
        self.images: List[str] = []
        self.notes: List[str] = []

    def wants(self, ref: str, n: int = 1) -> bool:
        """Whether boxes of ``ref`` are kept; counts its ``n`` boxes as left out if not."""
        if self.keep is None or self.keep(ref):
            return True
        if n:
            self.left.add(ref, n)
        return False

    def add(self, ref: str, image_id: str, label: Optional[str], x0: float, y0: float,
            x1: float, y1: float, box_id: Optional[str] = None,
            extra: Sequence = ()) -> None:
        self.coords.extend((x0, y0, x1, y1))
        self.refs.append(ref)
        self.image_ids.append(image_id)
        self.labels.append(label)
        if box_id is None:
            self.numbering[image_id] += 1
            box_id = str(self.numbering[image_id])
        self.box_ids.append(box_id)
        for column, value in zip(self.extra, extra):
            column.append(value)

    def result(self, classes=None, images_root=None) -> BoxFile:
        extra, numeric = {}, {}
        for name, values in zip(self.extra_names, self.extra):
            if all(v is None or v == "" for v in values):
                continue
            extra[name], numeric[name] = typed_column(values)
        return BoxFile(
            source=self.source, format=self.fmt, image_refs=self.refs,
            image_ids=self.image_ids, labels=self.labels,
            coordinates=np.frombuffer(self.coords, dtype=float).reshape(-1, 4).copy(),
            box_ids=self.box_ids, normalized=self.normalized, extra=extra,
            extra_numeric=numeric, classes=classes, sizes=self.sizes,
            skipped=self.skips.result(), unknown_classes=dict(self.unknown),
            left_out=self.left.by_ref, n_left_out=self.left.total,
            images_root=images_root, images=self.images, notes=self.notes)


def _rows_with_progress(f, total: int, callback) -> Iterator[str]:
    """Lines of ``f``, calling ``callback`` with the fraction read now and then."""
    done = 0
    for n, line in enumerate(f):
        done += len(line)
        if not n % _PROGRESS_ROWS:
            callback(min(done / max(total, 1), 1.0))
        yield line


def _open_text(path: str):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err


def _not_utf8(path, err):
    return AnnotationError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8")


def _images_root(path: str) -> str:
    """Where the images of an annotation file or folder are: its folder, or
    the folder above when that is named like an annotations folder."""
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    if os.path.basename(folder.rstrip(os.sep)).lower() in ANNOTATION_FOLDERS:
        return os.path.dirname(folder.rstrip(os.sep))
    return folder


def images_root_of(path: str, fmt: Optional[str]) -> str:
    """The folder to look for the images of a box file in (see ``_images_root``;
    a YOLO data.yaml says it with ``path``)."""
    if fmt == "yolo" and path.lower().endswith((".yaml", ".yml")):
        return _images_root(read_yaml_names(path)[1])
    return _images_root(path)


# ------------------------------------------------------------- Open Images

OPEN_IMAGES_HEADER = ("ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax",
                      "YMin", "YMax", "IsOccluded", "IsTruncated", "IsGroupOf",
                      "IsDepiction", "IsInside")


def looks_like_class_descriptions(head: str) -> bool:
    first = head.splitlines()[0] if head else ""
    return bool(re.match(r"\s*/m/\w+\s*,", first)) or first.strip().startswith(
        "LabelName,DisplayName")


def find_class_descriptions(path: str) -> Optional[str]:
    """A ``*class-descriptions*.csv`` beside an Open Images box CSV, or None."""
    folder = os.path.dirname(path)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if "class-descriptions" in name.lower() and name.lower().endswith(".csv") \
                and not name.startswith("."):
            return os.path.join(folder, name)
    return None


def read_class_descriptions(path) -> Dict[str, str]:
    """MID -> name from an Open Images class-descriptions CSV (with or without header)."""
    names = {}
    with _open_text(os.fspath(path)) as f:
        try:
            for row in csv.reader(f):
                if len(row) >= 2 and row[0].startswith("/m/") or \
                        len(row) >= 2 and row[0].startswith("/g/"):
                    names[row[0].strip()] = row[1].strip()
        except UnicodeDecodeError as err:
            raise _not_utf8(path, err) from err
    if not names:
        raise AnnotationError(f"{path}: no 'MID,name' rows (e.g. '/m/01yrx,Cat') found")
    return names


def read_open_images(path: str, *, keep=None, callback, class_names=None) -> BoxFile:
    """An Open Images box CSV, streamed; labels named through class descriptions."""
    descriptions = class_names or find_class_descriptions(path)
    names = read_class_descriptions(descriptions) if descriptions else None
    total = max(os.path.getsize(path), 1)
    with _open_text(path) as f:
        reader = csv.reader(f)
        # The raw file's position is readable while the text layer iterates.
        position = f.buffer.tell
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise AnnotationError(f"{path}: the file is empty") from None
        except UnicodeDecodeError as err:
            raise _not_utf8(path, err) from err
        index = {name: i for i, name in enumerate(header)}
        i_id, i_x0, i_x1, i_y0, i_y1 = (index[n] for n in ("ImageID", "XMin", "XMax",
                                                           "YMin", "YMax"))
        i_label = index.get("LabelName")
        core = {"ImageID", "XMin", "XMax", "YMin", "YMax"}
        if names is None:
            core.add("LabelName")  # the label itself; kept apart only when names differ
        extra_columns = [(name, i) for name, i in index.items() if name not in core]
        width = len(header)
        out = _Collector(path, "open images", keep, [name for name, _ in extra_columns],
                         normalized=True)
        wants, row_skip, unknown = out.wants, out.skips.row, out.unknown
        # The loop runs once per row of files with millions: bound methods, no calls.
        extend_coords, numbering = out.coords.extend, out.numbering
        append_ref, append_label = out.refs.append, out.labels.append
        append_box_id = out.box_ids.append
        extra_appends = [(column.append, i) for column, (_, i) in
                         zip(out.extra, extra_columns)]
        n = 1
        try:
            for n, row in enumerate(reader, start=2):
                if not n & 0x3FFF:
                    callback(min(position() / total, 1.0))
                if len(row) != width:
                    if not row or len(row) == 1 and not row[0].strip():
                        continue  # blank line
                    row_skip(n, f"{len(row)} fields, expected {width}")
                    continue
                ref = row[i_id]
                if not wants(ref):
                    continue
                try:
                    x0, x1, y0, y1 = (float(row[i_x0]), float(row[i_x1]),
                                      float(row[i_y0]), float(row[i_y1]))
                except ValueError:
                    bad = next(name for name, i in (("XMin", i_x0), ("XMax", i_x1),
                                                    ("YMin", i_y0), ("YMax", i_y1))
                               if math.isnan(as_number(row[i])))
                    row_skip(n, f"{bad} is not a number ({row[index[bad]]!r})")
                    continue
                label = row[i_label] if i_label is not None else None
                if names is not None and label is not None:
                    name = names.get(label)
                    if name is None:
                        unknown[label] += 1
                    else:
                        label = name
                extend_coords((x0, y0, x1, y1))
                append_ref(ref)
                append_label(label or None)
                numbering[ref] += 1
                append_box_id(str(numbering[ref]))
                for append, i in extra_appends:
                    append(row[i])
        except UnicodeDecodeError as err:
            raise AnnotationError(f"{path}: row {n + 1} is not UTF-8 text "
                                  f"({err.reason}); save it as UTF-8") from err
        except csv.Error as err:
            raise AnnotationError(f"{path}: row {n + 1}: {err}") from err
    out.image_ids = list(out.refs)  # an ImageID names the image
    if descriptions is None and any(str(label).startswith("/m/") for label in out.labels[:100]):
        out.notes.append("labels are Open Images MIDs: put the class-descriptions CSV "
                         "beside the box file to see their names")
    return out.result(images_root=_images_root(path))


def write_open_images(path: str, image_ids: Sequence[str], labels: Sequence[str],
                      normalized: np.ndarray, extra: Optional[Dict[str, Sequence]] = None
                      ) -> None:
    """Write an Open Images box CSV (normalised coordinates); never overwrites.

    ``extra`` may hold any of the standard columns (Source, Confidence,
    IsOccluded, ...; LabelName holds MIDs when given); missing ones get
    "imagelab", 1 and 0.
    """
    extra = extra or {}
    defaults = {"Source": "imagelab", "Confidence": 1, "IsOccluded": 0, "IsTruncated": 0,
                "IsGroupOf": 0, "IsDepiction": 0, "IsInside": 0}
    with open(path, "x", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(OPEN_IMAGES_HEADER)
        for i, (image_id, label) in enumerate(zip(image_ids, labels)):
            x0, y0, x1, y1 = (float(v) for v in normalized[i])
            mid = extra.get("LabelName", labels)[i] or label

            def value(name):
                values = extra.get(name)
                v = values[i] if values is not None else defaults[name]
                if isinstance(v, float):
                    return "" if math.isnan(v) else (int(v) if v.is_integer() else v)
                return v

            writer.writerow([image_id, value("Source"), mid, value("Confidence"),
                             _num(x0), _num(x1), _num(y0), _num(y1),
                             value("IsOccluded"), value("IsTruncated"),
                             value("IsGroupOf"), value("IsDepiction"), value("IsInside")])


def _num(value: float, digits: int = 8) -> str:
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


# --------------------------------------------------------------------- COCO

_JSON_CACHE: Dict[Tuple[str, int, int], object] = {}


def load_json(path: str, *, consume: bool = False):
    """A JSON file, parsed once per content version: detection keeps the parsed
    document for the reader, which ``consume``s it (so a large COCO file is not
    held after reading)."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key in _JSON_CACHE:
        return _JSON_CACHE.pop(key) if consume else _JSON_CACHE[key]
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: invalid JSON at line {err.lineno}, "
                              f"column {err.colno}: {err.msg}") from err
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from err
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err
    _JSON_CACHE.clear()
    if not consume:
        _JSON_CACHE[key] = data
    return data


def json_format(path: str) -> Optional[str]:
    """"coco" or "bigml" for a JSON file holding boxes, else None."""
    data = load_json(path)
    if isinstance(data, dict):
        if isinstance(data.get("annotations"), list) and isinstance(data.get("images"), list):
            return "coco"
        if "images_file" in data and regions_fields_declared(data):
            return "bigml"
        return None
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data[:50]):
        return "bigml" if regions_field(data[:200]) is not None else None
    return None


_COCO_SKIP = {"id", "image_id", "category_id", "bbox", "segmentation", "keypoints"}


def read_coco(path: str, *, keep=None, callback) -> BoxFile:
    """A COCO JSON (``images``, ``annotations``, ``categories``; bbox = x, y, w, h)."""
    data = load_json(path, consume=True)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list) \
            or not isinstance(data.get("images"), list):
        raise AnnotationError(f"{path}: not a COCO file: expected an object with "
                              "'images' and 'annotations' lists")
    skips = Skips(path)
    images: Dict[object, str] = {}
    sizes: Dict[str, Tuple[float, float]] = {}
    all_images = []
    for k, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image \
                or not isinstance(image.get("file_name"), str) or not image["file_name"]:
            skips.add(f"{skips.name} images[{k}]", "needs 'id' and 'file_name'")
            continue
        ref = image["file_name"]
        images[_key(image["id"])] = ref
        all_images.append(ref)
        width, height = as_number(image.get("width")), as_number(image.get("height"))
        if width > 0 and height > 0:
            sizes[ref] = (width, height)
    categories: Dict[object, str] = {}
    for k, category in enumerate(data.get("categories") or []):
        if isinstance(category, dict) and "id" in category and category.get("name") is not None:
            categories[_key(category["id"])] = str(category["name"])
        else:
            skips.add(f"{skips.name} categories[{k}]", "needs 'id' and 'name'")
    annotations = data["annotations"]
    extra_names: Dict[str, None] = {}
    for ann in annotations[:10000]:
        if isinstance(ann, dict):
            for key, value in ann.items():
                if key not in _COCO_SKIP and not isinstance(value, (dict, list)):
                    extra_names.setdefault(key, None)
    out = _Collector(path, "coco", keep, list(extra_names))
    out.skips, out.images = skips, all_images
    out.sizes = {ref: size for ref, size in sizes.items()}
    n_total = max(len(annotations), 1)
    for k, ann in enumerate(annotations):
        if not k % _PROGRESS_ROWS:
            callback(k / n_total)
        where = f"{skips.name} annotation {ann.get('id', k) if isinstance(ann, dict) else k}"
        if not isinstance(ann, dict):
            skips.add(where, "not an object")
            continue
        ref = images.get(_key(ann.get("image_id")))
        if ref is None:
            skips.add(where, f"image_id {ann.get('image_id')!r} is not in 'images'")
            continue
        if not out.wants(ref):
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 \
                or any(math.isnan(as_number(v)) for v in bbox):
            skips.add(where, f"bbox is not four numbers [x, y, width, height]: {bbox!r}")
            continue
        x, y, w, h = (float(v) for v in bbox)
        if w < 0 or h < 0:
            skips.add(where, f"negative width or height in bbox {bbox!r}")
            continue
        category = ann.get("category_id")
        label = categories.get(_key(category))
        if label is None:
            out.unknown[str(category)] += 1
            label = f"category {category}"
        box_id = str(ann["id"]) if "id" in ann else None
        out.add(ref, str(ann.get("image_id")), label, x, y, x + w, y + h, box_id,
                [ann.get(name) for name in out.extra_names])
    callback(1.0)
    classes = list(dict.fromkeys(categories[key] for key in sorted(categories, key=_sort_key)))
    return out.result(classes=classes, images_root=_images_root(path))


def _key(value):
    """COCO ids may be numbers or strings; 3 and "3" and 3.0 are the same id."""
    number = as_number(value)
    if not math.isnan(number) and number.is_integer():
        return int(number)
    return str(value)


def _sort_key(key):
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def write_coco(path: str, refs: Sequence[str], labels: Sequence[str], boxes: np.ndarray,
               sizes: Dict[str, Tuple[float, float]], classes: Sequence[str],
               box_ids: Optional[Sequence[str]] = None,
               extra: Optional[Dict[str, Sequence]] = None) -> None:
    """Write a COCO JSON (pixels, bbox = x, y, w, h); never overwrites.

    ``refs``: each box's image file name (relative path); ``sizes``: ref ->
    (width, height); ``classes``: category names, ids 1.. in this order.
    Integer box ids are kept as annotation ids when they are unique.
    """
    category_ids = {name: k for k, name in enumerate(classes, start=1)}
    image_ids: Dict[str, int] = {}
    for ref in refs:
        image_ids.setdefault(ref, len(image_ids) + 1)
    ids = None
    if box_ids is not None:
        numbers = [as_number(v) for v in box_ids]
        if all(not math.isnan(v) and v.is_integer() for v in numbers) \
                and len(set(numbers)) == len(numbers):
            ids = [int(v) for v in numbers]
    annotations = []
    for i, (ref, label) in enumerate(zip(refs, labels)):
        x0, y0, x1, y1 = (float(v) for v in boxes[i])
        ann = {"id": ids[i] if ids else i + 1, "image_id": image_ids[ref],
               "category_id": category_ids[label],
               "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
               "iscrowd": 0}
        for name, values in (extra or {}).items():
            value = values[i]
            if isinstance(value, float):
                if math.isnan(value):
                    continue
                value = int(value) if value.is_integer() else value
            ann[name] = value
        annotations.append(ann)
    images = [{"id": image_id, "file_name": ref,
               "width": int(sizes[ref][0]), "height": int(sizes[ref][1])}
              for ref, image_id in image_ids.items()]
    document = {"info": {"description": "written by Orange3 Image Lab"},
                "images": images, "annotations": annotations,
                "categories": [{"id": k, "name": name}
                               for name, k in category_ids.items()]}
    with open(path, "x", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False)


# ---------------------------------------------------------------------- VOC

_VOC_EXTRA = ("pose", "truncated", "difficult", "occluded")


def _parse_xml(path: str):
    import defusedxml.ElementTree as safe_et
    from defusedxml import DefusedXmlException
    from xml.etree.ElementTree import ParseError

    try:
        return safe_et.parse(path, forbid_dtd=False).getroot(), None
    except DefusedXmlException as err:
        return None, ("refused: the XML declares entities or external references "
                      f"(a possible entity-expansion bomb; {type(err).__name__})")
    except ParseError as err:
        return None, f"not well-formed XML ({err})"
    except OSError as err:
        return None, f"cannot read ({err.strerror or err})"


def _voc_files(path: str) -> List[str]:
    if not os.path.isdir(path):
        return [path]
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(folder, name) for name in sorted(files)
                     if name.lower().endswith(".xml") and not name.startswith("."))
    return found


def read_voc(path: str, *, keep=None, callback) -> BoxFile:
    """A Pascal VOC XML file, or every ``.xml`` below a folder.

    VOC pixels are 1-based with inclusive corners: ``x min`` = xmin - 1,
    ``x max`` = xmax.
    """
    files = _voc_files(path)
    out = _Collector(path, "voc", keep, _VOC_EXTRA)
    base = path if os.path.isdir(path) else os.path.dirname(path)
    for k, xml_path in enumerate(files):
        if not k % 64:
            callback(k / max(len(files), 1))
        name = os.path.relpath(xml_path, base).replace(os.sep, "/")
        root, error = _parse_xml(xml_path)
        if error is None and root.tag != "annotation":
            error = f"not a Pascal VOC file (its root element is <{root.tag}>)"
        if error is not None:
            out.skips.add(name, error)
            continue
        stem = os.path.splitext(os.path.basename(xml_path))[0]
        filename = (root.findtext("filename") or "").strip()
        ref = filename or stem
        if filename and out.keep is not None and not out.keep(filename) and out.keep(stem):
            ref = stem  # <filename> is stale (a renamed copy); the file's own name works
        out.images.append(ref)
        if not out.wants(ref, len(root.findall("object"))):
            continue
        size = root.find("size")
        if size is not None:
            width, height = as_number(size.findtext("width")), as_number(size.findtext("height"))
            if width > 0 and height > 0:
                out.sizes[ref] = (width, height)
        for j, obj in enumerate(root.findall("object"), start=1):
            where = f"{name} object {j}"
            label = (obj.findtext("name") or "").strip() or None
            box = obj.find("bndbox")
            if box is None:
                out.skips.add(where, "no <bndbox>")
                continue
            values = [as_number(box.findtext(tag)) for tag in ("xmin", "ymin", "xmax", "ymax")]
            if any(math.isnan(v) for v in values):
                out.skips.add(where, "<bndbox> needs numbers in <xmin>, <ymin>, "
                                     "<xmax> and <ymax>")
                continue
            x0, y0, x1, y1 = values
            out.add(ref, stem, label, x0 - 1, y0 - 1, x1, y1, str(j),
                    [(obj.findtext(tag) or "").strip() or None for tag in _VOC_EXTRA])
    callback(1.0)
    return out.result(images_root=_images_root(path))


# --------------------------------------------------------------------- YOLO

def looks_like_yaml(head: str) -> bool:
    return bool(re.search(r"^names\s*:", head, re.MULTILINE)) and \
        not head.lstrip().startswith(("{", "["))


_YOLO_LINE = re.compile(r"^\s*\d+(\s+[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?){4,}\s*$")


def looks_like_yolo_labels(head: str) -> bool:
    """Most of the first lines are ``class cx cy w h`` (a bad line is skipped later)."""
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    matching = sum(bool(_YOLO_LINE.match(line)) for line in lines)
    return matching > 0 and 2 * matching >= len(lines)


def read_yaml_names(path: str) -> Tuple[Optional[List[str]], Optional[str]]:
    """``(names, images root)`` from a YOLO data.yaml (names as a list or a dict)."""
    import yaml  # PyYAML is a dependency of Orange

    if os.path.getsize(path) > MAX_YAML_BYTES:
        raise AnnotationError(f"{path}: larger than {MAX_YAML_BYTES:,} bytes; not a data.yaml")
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        raise AnnotationError(f"{path}: not readable YAML ({err})") from err
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected 'names:' and 'path:' keys")
    names = data.get("names")
    if isinstance(names, dict):
        try:
            top = max(int(k) for k in names)
            listed = [None] * (top + 1)
            for key, value in names.items():
                listed[int(key)] = str(value)
            names = [n if n is not None else f"class {i}" for i, n in enumerate(listed)]
        except (TypeError, ValueError) as err:
            raise AnnotationError(f"{path}: 'names' keys must be class numbers") from err
    elif isinstance(names, list):
        names = [str(n) for n in names]
    else:
        names = None
    root = data.get("path")
    base = os.path.dirname(os.path.abspath(path))
    root = os.path.normpath(os.path.join(base, str(root))) if isinstance(root, str) else base
    return names, root


def _read_names_file(path: str) -> List[str]:
    with open(path, encoding="utf-8-sig") as f:
        return [line.strip() for line in f if line.strip()]


def find_yolo_names(folder: str) -> Tuple[Optional[List[str]], Optional[str]]:
    """Class names (and a names file) from the folder or up to two folders above."""
    here = os.path.abspath(folder)
    for _ in range(3):
        for name in YOLO_NAME_FILES:
            candidate = os.path.join(here, name)
            if os.path.isfile(candidate):
                if name.endswith((".yaml", ".yml")):
                    names, _root = read_yaml_names(candidate)
                    if names:
                        return names, candidate
                else:
                    return _read_names_file(candidate), candidate
        try:
            names_files = sorted(n for n in os.listdir(here) if n.endswith(".names"))
        except OSError:
            names_files = []
        if names_files:
            candidate = os.path.join(here, names_files[0])
            return _read_names_file(candidate), candidate
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return None, None


_IMAGE_LIST = re.compile(r"\.(jpe?g|png|bmp|tiff?|webp)\s*$", re.IGNORECASE)


def _yolo_label_files(root: str) -> List[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            lower = name.lower()
            if lower.endswith(".txt") and not name.startswith(".") and \
                    lower not in ("classes.txt", "readme.txt", "license.txt", "licence.txt"):
                found.append(os.path.join(folder, name))
    return found


def yolo_ref(rel_txt: str) -> str:
    """The image a label file describes: ``labels/train/a.txt`` -> ``images/train/a``."""
    parts = posixpath.splitext(rel_txt)[0].split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "labels":
            parts[i] = "images"
            break
    return "/".join(parts)


def read_yolo(path: str, *, keep=None, callback) -> BoxFile:
    """YOLO labels: a folder of ``.txt`` files, or a data.yaml (names + ``path``).

    Lines are ``class cx cy w h`` (normalised); a sixth value is a
    confidence; a longer line ``class x1 y1 x2 y2 ...`` is a polygon, kept as
    its bounding box.
    """
    names, source_of_names, root = None, None, path
    if not os.path.isdir(path):
        if path.lower().endswith((".yaml", ".yml")):
            names, root = read_yaml_names(path)
            source_of_names = path
        else:  # one label file
            root = os.path.dirname(path)
    if names is None:
        names, source_of_names = find_yolo_names(root if os.path.isdir(root) else path)
    if not os.path.isdir(root):
        raise AnnotationError(f"{path}: the images folder {root} does not exist")
    files = [path] if os.path.isfile(path) and path.lower().endswith(".txt") \
        else _yolo_label_files(root)
    out = _Collector(path, "yolo", keep, ["confidence"], normalized=True)
    for k, txt in enumerate(files):
        if not k % 256:
            callback(k / max(len(files), 1))
        rel = os.path.relpath(txt, root).replace(os.sep, "/")
        try:
            with open(txt, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as err:
            out.skips.add(rel, f"cannot read ({err})")
            continue
        content = [line for line in lines if line.strip() and not line.startswith("#")]
        if content and all(_IMAGE_LIST.search(line) for line in content[:5]):
            continue  # a darknet list of image paths (train.txt), part of the format
        if content and not any(_YOLO_LINE.match(line) or _polygon(line) for line in content):
            out.skips.add(rel, "not a YOLO label file (lines are not 'class cx cy w h')")
            continue
        ref = yolo_ref(rel)
        stem = posixpath.basename(ref)
        out.images.append(ref)
        if not out.wants(ref, len(content)):
            continue
        for j, line in enumerate(lines, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            box = _yolo_box(line)
            if isinstance(box, str):
                out.skips.add(f"{rel} line {j}", box)
                continue
            cls, x0, y0, x1, y1, confidence = box
            if names is not None and cls < len(names):
                label = names[cls]
            else:
                label = str(cls) if names is None else f"class {cls}"
                if names is not None:
                    out.unknown[str(cls)] += 1
            out.add(ref, stem, label, x0, y0, x1, y1, None, [confidence])
    if names is None and out.labels:
        out.notes.append("no class names found (classes.txt, obj.names or data.yaml); "
                         "labels are class numbers")
    callback(1.0)
    return out.result(classes=names, images_root=_images_root(root))


def _polygon(line: str) -> bool:
    values = line.split()
    return len(values) >= 7 and len(values) % 2 == 1 and \
        all(not math.isnan(as_number(v)) for v in values)


def _yolo_box(line: str):
    values = line.split()
    numbers = [as_number(v) for v in values]
    if len(values) < 5 or any(math.isnan(v) for v in numbers):
        return "expected 'class cx cy w h' (numbers)"
    cls = numbers[0]
    if not cls.is_integer() or cls < 0:
        return f"class {values[0]!r} is not a class number"
    confidence = None
    if len(numbers) in (5, 6):
        cx, cy, w, h = numbers[1:5]
        if w < 0 or h < 0:
            return f"negative width or height ({values[3]}, {values[4]})"
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        if len(numbers) == 6:
            confidence = numbers[5]
    elif len(numbers) % 2 == 1:
        xs, ys = numbers[1::2], numbers[2::2]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    else:
        return f"{len(values)} values; expected 5 (a box) or an odd number (a polygon)"
    return int(cls), x0, y0, x1, y1, confidence


def write_yolo(folder: str, refs: Sequence[str], labels: Sequence[str],
               normalized: np.ndarray, classes: Sequence[str],
               all_refs: Sequence[str] = ()) -> List[SkippedEntry]:
    """Write ``folder/labels/<image path without suffix>.txt`` and ``classes.txt``.

    ``all_refs``: images that get a label file even without boxes (an empty
    file says "no objects"). Never overwrites: a file that exists with other
    content is left alone and returned as skipped (same content: fine).
    """
    class_index = {name: k for k, name in enumerate(classes)}
    lines: Dict[str, List[str]] = {split_suffix(ref)[0]: [] for ref in all_refs}
    for i, (ref, label) in enumerate(zip(refs, labels)):
        x0, y0, x1, y1 = (float(v) for v in normalized[i])
        lines.setdefault(split_suffix(ref)[0], []).append(
            f"{class_index[label]} {(x0 + x1) / 2:.6f} {(y0 + y1) / 2:.6f} "
            f"{x1 - x0:.6f} {y1 - y0:.6f}")
    skipped = []
    os.makedirs(folder, exist_ok=True)
    files = {"classes.txt": "".join(f"{name}\n" for name in classes)}
    files.update({posixpath.join("labels", stem + ".txt"): "".join(f"{line}\n" for line in rows)
                  for stem, rows in lines.items()})
    real_folder = os.path.realpath(folder)
    for rel, text in files.items():
        target = os.path.join(folder, *rel.split("/"))
        if not os.path.realpath(target).startswith(real_folder + os.sep):
            skipped.append(SkippedEntry(rel, "would be written outside the folder; refused"))
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            with open(target, "x", encoding="utf-8", newline="\n") as f:
                f.write(text)
        except FileExistsError:
            try:
                with open(target, encoding="utf-8") as f:
                    same = f.read() == text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                skipped.append(SkippedEntry(rel, "exists with other content; not overwritten"))
    return skipped


# -------------------------------------------------------------------- BigML

_REGION_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\[|\]|[^\s,\[\]"]+')


def _tokens_to_lists(text: str):
    stack: List[list] = [[]]
    for token in _REGION_TOKEN.findall(text):
        if token == "[":
            stack.append([])
        elif token == "]":
            if len(stack) < 2:
                raise ValueError("unbalanced ']'")
            done = stack.pop()
            stack[-1].append(done)
        elif token.startswith('"'):
            stack[-1].append(json.loads(token))
        else:
            number = as_number(token)
            stack[-1].append(token if math.isnan(number) else number)
    if len(stack) != 1:
        raise ValueError("unbalanced '['")
    return stack[0][0] if len(stack[0]) == 1 else stack[0]


def parse_regions(value) -> List[Tuple[Optional[str], float, float, float, float]]:
    """BigML regions to ``[(label, x min, y min, x max, y max)]``.

    A region is a list ``[label xmin ymin xmax ymax]`` (commas optional) or a
    map with ``label`` and one of the key sets (xmin, ymin, xmax, ymax),
    (xmin, ymin, width, height), (xmax, ymax, width, height), or (x, y,
    width, height) with x, y the centre. Raises ValueError saying what is wrong.
    """
    if value is None or isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text or text.lower() in ("[]", "null", "none", "nan", "?"):
            return []
        try:
            value = json.loads(text)
        except ValueError:
            value = _tokens_to_lists(text)
    if not isinstance(value, list):
        raise ValueError("regions must be a list")
    if value and not isinstance(value[0], (list, dict)):
        value = [value]  # one region given bare
    return [_region(item) for item in value]


def _region(item):
    if isinstance(item, dict):
        label = item.get("label")
        get = {k: as_number(item[k]) for k in ("xmin", "ymin", "xmax", "ymax", "x", "y",
                                                 "width", "height") if k in item}
        if {"xmin", "ymin", "xmax", "ymax"} <= get.keys():
            box = get["xmin"], get["ymin"], get["xmax"], get["ymax"]
        elif {"xmin", "ymin", "width", "height"} <= get.keys():
            box = get["xmin"], get["ymin"], get["xmin"] + get["width"], \
                get["ymin"] + get["height"]
        elif {"xmax", "ymax", "width", "height"} <= get.keys():
            box = get["xmax"] - get["width"], get["ymax"] - get["height"], \
                get["xmax"], get["ymax"]
        elif {"x", "y", "width", "height"} <= get.keys():
            box = get["x"] - get["width"] / 2, get["y"] - get["height"] / 2, \
                get["x"] + get["width"] / 2, get["y"] + get["height"] / 2
        else:
            raise ValueError(f"region {json.dumps(item)[:80]} needs xmin, ymin, xmax, ymax "
                             "(or width and height)")
        if get.get("width", 0) < 0 or get.get("height", 0) < 0:
            raise ValueError(f"negative width or height in region {json.dumps(item)[:80]}")
    elif isinstance(item, list) and len(item) == 5:
        label = item[0]
        box = tuple(as_number(v) for v in item[1:])
    else:
        raise ValueError(f"region {item!r:.80} is not [label xmin ymin xmax ymax]")
    if any(math.isnan(v) for v in box):
        raise ValueError(f"region {item!r:.80} has coordinates that are not numbers")
    return (None if label is None else str(label),) + tuple(float(v) for v in box)


def regions_field(rows: Sequence[dict], declared: Optional[Dict[str, str]] = None
                  ) -> Optional[str]:
    """The field of ``rows`` that holds regions (declared, or all values parse)."""
    for name, optype in (declared or {}).items():
        if optype == "regions":
            return name
    names: Dict[str, None] = {}
    for row in rows[:200]:
        for key in row:
            names.setdefault(key, None)
    for name in names:
        values = [row.get(name) for row in rows[:200]]
        present = [v for v in values if v not in (None, "", [])]
        if not present or not all(isinstance(v, list) or isinstance(v, str)
                                  and v.strip().startswith("[") for v in present):
            continue
        parsed = 0
        for value in present:
            try:
                parsed += bool(parse_regions(value))
            except (ValueError, TypeError):
                pass  # a bad value is skipped and named when the boxes are read
        if 2 * parsed >= len(present) and parsed:
            return name
    return None


def regions_fields_declared(data: dict) -> bool:
    return any(isinstance(spec, dict) and spec.get("optype") == "regions"
               for spec in data.get("new_fields") or [])


def regions_column(path: str) -> Optional[str]:
    """The regions column of a CSV file (looked at in its first rows), or None."""
    header, dialect = csv_header(path)
    if not header:
        return None
    rows = []
    with _open_text(path) as f:
        try:
            for k, row in enumerate(csv.DictReader(f, dialect=dialect)):
                if k >= 200:
                    break
                rows.append(row)
        except (csv.Error, UnicodeDecodeError):
            return None
    return regions_field(rows)


def _file_column(names: Sequence[str]) -> Optional[str]:
    lowered = {name.strip().lower(): name for name in names}
    for candidate in FILE_COLUMNS:
        if candidate in lowered:
            return lowered[candidate]
    return None


def boxes_from_rows(rows: Sequence[dict], source: str, *, file_column: Optional[str],
                    field: str, keep=None, images_root=None, callback=None) -> BoxFile:
    """Boxes from annotation rows (one per image) with a regions ``field``."""
    callback = callback or (lambda _: None)
    out = _Collector(source, "bigml", keep)
    if file_column is None:
        names = list(dict.fromkeys(key for row in rows[:200] for key in row))
        file_column = _file_column(names)
        if file_column is None:
            raise AnnotationError(f"{source}: no column names the images (expected "
                                  f"one of {', '.join(FILE_COLUMNS[:4])})")
    for n, row in enumerate(rows, start=1):
        if not n % _PROGRESS_ROWS:
            callback(n / len(rows))
        ref = row.get(file_column)
        ref = None if ref is None else str(ref).strip()
        if not ref:
            out.skips.row(n, f"no file named in column {file_column!r}")
            continue
        out.images.append(ref)
        try:
            regions = parse_regions(row.get(field))
        except (ValueError, TypeError) as err:
            out.skips.add(f"{ref} ({field})", str(err))
            continue
        if not regions:
            continue
        if not out.wants(ref, len(regions)):
            continue
        for label, x0, y0, x1, y1 in regions:
            out.add(ref, split_suffix(posixpath.basename(ref))[0], label, x0, y0, x1, y1)
    callback(1.0)
    return out.result(images_root=images_root)


def read_bigml(path: str, *, keep=None, callback) -> BoxFile:
    """BigML regions: a CSV or JSON list of rows, or an annotated-set JSON."""
    from . import annotations

    if path.lower().endswith(".json") or _head_char(path) in "{[":
        data = load_json(path, consume=True)
        if isinstance(data, dict) and "images_file" in data:
            aset = annotations.read_annotated_set(path)
            field = regions_field(aset.rows, aset.declared)
            if field is None:
                raise AnnotationError(f"{path}: no field of optype 'regions'")
            return boxes_from_rows(aset.rows, path, file_column="file", field=field,
                                   keep=keep, images_root=aset.images, callback=callback)
        rows = annotations.read_rows(path) if isinstance(data, list) else []
    else:
        rows = annotations.read_rows(path)
    field = regions_field(rows)
    if field is None:
        raise AnnotationError(f"{path}: no column of regions "
                              "([[\"label\" xmin ymin xmax ymax] ...]) found")
    return boxes_from_rows(rows, path, file_column=None, field=field, keep=keep,
                           images_root=_images_root(path), callback=callback)


def _head_char(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(64).decode("utf-8-sig", errors="replace").lstrip()
    return head[:1] or " "


# --------------------------------------------------------- CSV, one row a box

def box_csv_columns(header: Sequence[str]) -> Optional[Dict[str, str]]:
    """Column names for file, label and the four coordinates, or None."""
    lowered = {name.strip().lower(): name for name in header}
    found = {}
    for key, options in zip(("x min", "y min", "x max", "y max"), COORDINATE_COLUMNS):
        name = next((lowered[o] for o in options if o in lowered), None)
        if name is None:
            return None
        found[key] = name
    file_column = _file_column(header)
    if file_column is None:
        return None
    found["file"] = file_column
    label = next((lowered[o] for o in LABEL_COLUMNS if o in lowered), None)
    if label is not None:
        found["label"] = label
    return found


def read_box_csv(path: str, *, keep=None, callback) -> BoxFile:
    """A CSV with one row per box (file, label, x min, y min, x max, y max, ...).

    Columns ``width``/``height`` (with ``x min`` ... given) are the image's
    size; ``image id`` and ``box id`` are kept as such; other columns become
    extra fields. Coordinates all within 0..1 (not all whole numbers) are
    taken as normalised.
    """
    header, dialect = csv_header(path)
    columns = box_csv_columns(header)
    if columns is None:
        raise AnnotationError(f"{path}: expected columns for the file, x min, y min, "
                              "x max and y max")
    lowered = {name.strip().lower(): name for name in header}
    width_col, height_col = lowered.get("width"), lowered.get("height")
    image_id_col, box_id_col = lowered.get("image id"), lowered.get("box id")
    used = set(columns.values()) | {width_col, height_col, image_id_col, box_id_col}
    extra_columns = [name for name in header if name not in used]
    out = _Collector(path, "csv", keep, extra_columns)
    total = os.path.getsize(path)
    names = ("x min", "y min", "x max", "y max")
    with _open_text(path) as f:
        reader = csv.DictReader(_rows_with_progress(f, total, callback), dialect=dialect)
        n = 1
        try:
            for n, row in enumerate(reader, start=2):
                row.pop(None, None)
                ref = (row.get(columns["file"]) or "").strip()
                if not ref:
                    out.skips.row(n, f"no file named in column {columns['file']!r}")
                    continue
                if not out.wants(ref):
                    continue
                values = [as_number(row.get(columns[k])) for k in names]
                bad = [columns[k] for k, v in zip(names, values) if math.isnan(v)]
                if bad:
                    out.skips.row(n, f"{bad[0]} is not a number "
                                     f"({row.get(bad[0])!r})")
                    continue
                label = (row.get(columns["label"]) or "").strip() or None \
                    if "label" in columns else None
                if width_col and height_col and ref not in out.sizes:
                    w, h = as_number(row.get(width_col)), as_number(row.get(height_col))
                    if w > 0 and h > 0:
                        out.sizes[ref] = (w, h)
                image_id = (row.get(image_id_col) or "").strip() if image_id_col else ""
                box_id = (row.get(box_id_col) or "").strip() if box_id_col else ""
                out.add(ref, image_id or split_suffix(posixpath.basename(ref))[0], label,
                        *values, box_id or None, [row.get(name) for name in extra_columns])
        except UnicodeDecodeError as err:
            raise _not_utf8(path, err) from err
        except csv.Error as err:
            raise AnnotationError(f"{path}: row {n + 1}: {err}") from err
    result = out.result(images_root=_images_root(path))
    coords = result.coordinates
    if len(coords) and np.isfinite(coords).all() and coords.min() >= 0 \
            and coords.max() <= 1 and not np.all(coords == np.round(coords)):
        result.normalized = True
    return result


# ------------------------------------------------------------------ folders

def folder_format(path: str) -> Optional[str]:
    """"voc" or "yolo" for a folder of box files, else None (looks at a few files)."""
    xml_seen = txt_seen = 0
    names_file = any(os.path.isfile(os.path.join(path, n)) for n in YOLO_NAME_FILES)
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            lower = name.lower()
            full = os.path.join(folder, name)
            if lower.endswith(".xml") and xml_seen < 5:
                xml_seen += 1
                try:
                    with open(full, "rb") as f:
                        head = f.read(4096).decode("utf-8", errors="replace")
                except OSError:
                    continue
                if re.search(r"<annotation[\s>]", head):
                    return "voc"
            elif lower.endswith(".txt") and lower != "classes.txt" and txt_seen < 5:
                txt_seen += 1
                try:
                    with open(full, "rb") as f:
                        head = f.read(4096).decode("utf-8", errors="replace")
                except OSError:
                    continue
                if looks_like_yolo_labels(head) or (names_file and not head.strip()):
                    return "yolo"
            if xml_seen >= 5 and txt_seen >= 5:
                return None
    return None


READERS: Dict[str, Callable[..., BoxFile]] = {
    "open images": read_open_images,
    "coco": read_coco,
    "voc": read_voc,
    "yolo": read_yolo,
    "bigml": read_bigml,
    "csv": read_box_csv,
}
