"""Annotation files: CSV or JSON lists of rows describing images, and annotated sets.

Plain data only (no Orange): ``match_rows`` returns typed columns aligned
with a list of ``ImageRecord``s, which ``api.importing`` turns into a table.

An **annotation file** is a CSV (comma, semicolon or tab separated, with a
header) or a JSON list of objects. The column naming the image files is
found automatically: the one whose values match most images, by relative
path ("cats/IMG_1.jpg") or by bare file name ("IMG_1.jpg") when that name is
unique. Other columns are typed categorical, numeric or text; a column named
``label`` or ``class`` becomes the class and is categorical unless declared
otherwise. Rows naming images that are not there are reported as skipped;
images without a row keep missing values.

An **annotated set** is a JSON object::

    {"description": "...",
     "images_file": "images.zip",            # zip or folder, relative to the JSON
     "new_fields": [{"name": "quality", "optype": "numeric"}],
     "annotations": [{"file": "cats/1.jpg", "quality": 3}]   # or "rows.json"
    }
"""
import csv
import json
import math
import os
import posixpath
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..errors import AnnotationError
from .sources import ImageRecord, SkippedEntry

OPTYPES = ("categorical", "numeric", "text")
#: BigML's optype for a field of object boxes; such a field is read by
#: ``boxformats.boxes_from_rows``, not turned into a column here.
REGIONS = "regions"
CLASS_NAMES = ("label", "class")
MISSING = frozenset(("", "?", "na", "n/a", "nan", "none", "null"))
#: Preferred names for the file column when several match equally well.
FILE_COLUMN_NAMES = ("file", "filename", "file name", "image", "path", "image path")
MAX_CATEGORIES = 100
MAX_CATEGORY_LENGTH = 60


@dataclass
class Field:
    """One annotation column, aligned with the image records.

    ``values`` holds floats (NaN for missing) for numeric fields and strings
    (None for missing) otherwise; ``categories`` lists the sorted values of
    a categorical field.
    """
    name: str
    optype: str
    values: list
    categories: Optional[List[str]] = None


@dataclass
class Annotations:
    """Columns from an annotation file, matched to the images."""
    source: str
    file_column: str
    fields: List[Field] = field(default_factory=list)
    class_field: Optional[str] = None
    skipped: List[SkippedEntry] = field(default_factory=list)
    n_matched: int = 0


@dataclass
class AnnotatedSet:
    """The parsed annotated-set JSON; ``images`` is an absolute path."""
    path: str
    description: str
    images: str
    rows: List[dict]
    declared: Dict[str, str]


# ------------------------------------------------------------------ reading


def read_rows(path) -> List[dict]:
    """Rows of a CSV (with header) or JSON-list annotation file, as dicts."""
    path = os.fspath(path)
    if path.lower().endswith(".json"):
        return _json_rows(_load_json(path), path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err.reason}); "
                              "save it as UTF-8 CSV") from err
    except OSError as err:
        raise AnnotationError(f"{path}: cannot read ({err.strerror or err})") from err
    if not text.strip():
        raise AnnotationError(f"{path}: the file is empty")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    if not reader.fieldnames or len(reader.fieldnames) < 1:
        raise AnnotationError(f"{path}: no header row")
    rows = []
    for row in reader:
        row.pop(None, None)  # values beyond the header
        rows.append({k.strip(): v for k, v in row.items() if k is not None})
    return rows


def _load_json(path):
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: invalid JSON at line {err.lineno}, "
                              f"column {err.colno}: {err.msg}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: cannot read ({err})") from err


def _json_rows(data, path) -> List[dict]:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise AnnotationError(f"{path}: expected a JSON list of objects, "
                              "one per image, e.g. [{\"file\": \"a.jpg\", \"label\": \"cat\"}]")
    return data


def is_annotated_set(path) -> bool:
    """Is ``path`` a JSON object with an ``images_file`` key?"""
    path = os.fspath(path)
    if not path.lower().endswith(".json"):
        return False
    data = _load_json(path)
    return isinstance(data, dict) and "images_file" in data


def _inside_folder(path: str, folder: str, what: str, source: str,
                   allow_outside: bool) -> str:
    """``path`` if it lies in ``folder``'s tree (after resolving links), else
    an AnnotationError: a shared file must not make us walk or read the whole
    file system ("images_file": "/")."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    if allow_outside or real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return path
    raise AnnotationError(
        f"{source}: {what} points outside the annotation file's folder ({path}); "
        "refused. Move the annotation file next to its images, or allow it "
        "explicitly (Import Images: \"Allow files outside the annotation's folder\"; "
        "scripts: import_images(..., allow_outside=True))")


def read_annotated_set(path, *, allow_outside: bool = False) -> AnnotatedSet:
    """Parse and validate an annotated-set JSON (see the module docstring).

    ``images_file`` and a file named by ``annotations`` must lie in the JSON
    file's folder tree unless ``allow_outside``.
    """
    path = os.path.abspath(os.fspath(path))
    data = _load_json(path)
    if not isinstance(data, dict) or "images_file" not in data:
        raise AnnotationError(f"{path}: an annotated set is a JSON object with "
                              "'images_file' and 'annotations'")
    base = os.path.dirname(path)
    images = data["images_file"]
    if not isinstance(images, str) or not images:
        raise AnnotationError(f"{path}: 'images_file' must name a zip archive "
                              "or a folder relative to the JSON file")
    images = _inside_folder(os.path.normpath(os.path.join(base, images)), base,
                            "'images_file'", path, allow_outside)
    if not os.path.exists(images):
        raise AnnotationError(f"{path}: 'images_file' {data['images_file']!r} "
                              f"not found (looked for {images})")
    declared = {}
    for spec in data.get("new_fields") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise AnnotationError(f"{path}: each of 'new_fields' must be an object "
                                  "with 'name' and 'optype'")
        optype = spec.get("optype")
        if optype not in OPTYPES + (REGIONS,):
            raise AnnotationError(
                f"{path}: field {spec['name']!r} has unknown optype {optype!r}; "
                f"use one of {', '.join(OPTYPES + (REGIONS,))}")
        declared[spec["name"]] = optype
    rows = data.get("annotations", [])
    if isinstance(rows, str):
        rows_path = _inside_folder(os.path.normpath(os.path.join(base, rows)), base,
                                   "'annotations'", path, allow_outside)
        rows = _json_rows(_load_json(rows_path), rows_path)
    else:
        rows = _json_rows(rows, path)
    return AnnotatedSet(path, str(data.get("description") or ""), images,
                        rows, declared)


# ----------------------------------------------------------------- matching


def _normalise(value) -> Optional[str]:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text or None


class _Index:
    """Look images up by relative path, or by bare name when unique."""

    def __init__(self, records: Sequence[ImageRecord]):
        self.by_path = {r.path: i for i, r in enumerate(records)}
        self.by_path_lower = {}
        names: Dict[str, List[int]] = {}
        for i, r in enumerate(records):
            self.by_path_lower.setdefault(r.path.lower(), i)
            names.setdefault(posixpath.basename(r.path), []).append(i)
        self.by_name = {n: ix[0] for n, ix in names.items() if len(ix) == 1}

    def find(self, value) -> Optional[int]:
        text = _normalise(value)
        if text is None:
            return None
        i = self.by_path.get(text)
        if i is None and "/" not in text:
            i = self.by_name.get(text)
        if i is None:
            i = self.by_path_lower.get(text.lower())
        return i


def find_file_column(rows: Sequence[dict], records: Sequence[ImageRecord],
                     ) -> Optional[str]:
    """The column whose values name the most images; None if none does."""
    index = _Index(records)
    columns = _columns(rows)
    best, best_score = None, (0, 0)
    for name in columns:
        matches = sum(index.find(row.get(name)) is not None for row in rows)
        preferred = name.strip().lower() in FILE_COLUMN_NAMES
        score = (matches, preferred)
        if matches and score > best_score:
            best, best_score = name, score
    return best


def _columns(rows) -> List[str]:
    names = {}
    for row in rows:
        for key in row:
            names.setdefault(key, None)
    return list(names)


def _is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in MISSING


def _as_float(value) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def infer_optype(values: Sequence, *, is_class: bool = False) -> str:
    """"numeric", "categorical" or "text" for a column of raw values."""
    present = [v for v in values if not _is_missing(v)]
    if not present:
        return "text"
    if not is_class and all(_as_float(v) is not None for v in present):
        return "numeric"
    strings = {str(v).strip() for v in present}
    if is_class:
        return "categorical"
    limit = min(MAX_CATEGORIES, max(3, round(len(present) ** 0.7)))
    if len(strings) <= limit and \
            all(len(s) <= MAX_CATEGORY_LENGTH for s in strings):
        return "categorical"
    return "text"


def _typed(name: str, optype: str, raw: Sequence, source: str) -> Field:
    if optype == "numeric":
        values = []
        for value in raw:
            if _is_missing(value):
                values.append(math.nan)
                continue
            number = _as_float(value)
            if number is None:
                raise AnnotationError(
                    f"{source}: field {name!r} is declared numeric but has the "
                    f"value {value!r}; fix the value or declare it 'text'")
            values.append(number)
        return Field(name, optype, values)
    values = [None if _is_missing(v) else _text(v) for v in raw]
    categories = None
    if optype == "categorical":
        categories = sorted({v for v in values if v is not None}, key=_natural)
    return Field(name, optype, values, categories)


def _text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _natural(text: str):
    number = _as_float(text)
    return (0, number, text) if number is not None else (1, 0.0, text.lower())


def match_rows(rows: Sequence[dict], records: Sequence[ImageRecord], *,
               source: str = "annotations", file_column: Optional[str] = None,
               declared: Optional[Dict[str, str]] = None,
               skipped_images: Sequence[str] = ()) -> Annotations:
    """Match annotation rows to images and type the other columns.

    ``file_column`` is found with ``find_file_column`` when not given.
    ``declared`` maps field names to optypes (they win over inference).
    Rows whose image is not among ``records`` are reported as skipped,
    except those naming ``skipped_images`` (already reported). Raises
    ``AnnotationError`` when no column names the images.
    """
    declared = dict(declared or {})
    for name, optype in declared.items():
        if optype not in OPTYPES + (REGIONS,):
            raise AnnotationError(f"{source}: field {name!r} has unknown optype "
                                  f"{optype!r}; use one of {', '.join(OPTYPES)}")
    regions = {name for name, optype in declared.items() if optype == REGIONS}
    declared = {name: optype for name, optype in declared.items() if optype != REGIONS}
    if file_column is None:
        file_column = find_file_column(rows, records)
        if file_column is None:
            raise AnnotationError(
                f"{source}: no column names the images; expected a column of "
                "file names such as 'cats/IMG_1.jpg' or 'IMG_1.jpg'")
    index = _Index(records)
    already = set(skipped_images)
    row_of = [None] * len(records)
    skipped = []
    for n, row in enumerate(rows, start=1):
        name = _normalise(row.get(file_column))
        if name is None:
            skipped.append(SkippedEntry(f"{os.path.basename(source)} row {n}",
                                        f"no file named in column {file_column!r}"))
            continue
        i = index.find(name)
        if i is None:
            if name not in already:
                skipped.append(SkippedEntry(
                    name, f"named in {os.path.basename(source)} (row {n}) "
                          "but no such image"))
        elif row_of[i] is not None:
            skipped.append(SkippedEntry(
                name, f"second annotation in {os.path.basename(source)} "
                      f"(row {n}); the first is used"))
        else:
            row_of[i] = row
    result = Annotations(source, file_column, skipped=skipped,
                         n_matched=sum(r is not None for r in row_of))
    for name in _columns(rows):
        if name == file_column or name in regions:
            continue
        is_class = name.strip().lower() in CLASS_NAMES
        raw = [row.get(name) if row is not None else None for row in row_of]
        optype = declared.get(name) or infer_optype(
            [row.get(name) for row in rows], is_class=is_class)
        result.fields.append(_typed(name, optype, raw, source))
        if is_class and result.class_field is None and optype != "text":
            result.class_field = name
    for name, optype in declared.items():  # declared but never used
        if all(f.name != name for f in result.fields):
            result.fields.append(_typed(name, optype, [None] * len(records), source))
    return result
