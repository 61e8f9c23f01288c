"""Closed, versioned, verifiable image data sets: snapshots as Frictionless Data Packages.

    >>> snap = write_snapshot(columns, sources, "sets/", name="flowers")  # doctest: +SKIP
    >>> snap.path            # sets/flowers/3f9c0a1b2c3d4e5f/            # doctest: +SKIP
    >>> verify(snap.path).ok                                              # doctest: +SKIP
    True

A snapshot is the folder ``<folder>/<name>/<version>/``::

    datapackage.json     the manifest (Frictionless Data Package): every file
                         below as a resource with path, bytes and sha256 hash;
                         the CSVs with their table schema; version, parent,
                         created, description
    labels.csv           one row per image: every column but embeddings, the
                         image column rewritten to the stored file
    boxes.csv            the boxes table, if any, in the same way
    metadata.jsonl       the same rows in the layout Hugging Face's ImageFolder
                         reads (``file_name`` + the columns)
    annotated-set.json   the same rows as a BigML annotated set (Import Images
                         reads it back)
    images/<sha256>.<ext>  the images, named by their content: an image that
                         occurs twice is stored once

The rules, and why:

* **The version is the content.** ``version`` is the first 16 hex digits of
  SHA-256 over the sorted ``(path, sha256)`` pairs of all resources; the CSVs
  are written deterministically (rows sorted, numbers in their shortest exact
  form, no dates inside), so the same images and labels always give the same
  version, whatever the input order, and a second snapshot of the same
  content writes nothing and returns the version that exists.
* **Nothing half-written is ever a version.** Files go to a hidden
  ``.partial-<pid>-<random>`` folder next to the versions, renamed to the
  version when complete; ``list_versions`` ignores hidden folders, and the
  next snapshot removes partial folders whose process has ended.
* **The originals are never altered.** Images are hard-linked where the
  file system allows (``link=True``), else copied; nothing is moved. A hard
  link shares its inode with the user's file, so linked images are never
  made read-only (that would make the original read-only too); copies and the
  snapshot's own files are. A snapshot's closedness comes from its manifest:
  ``verify`` rehashes every file and lists the missing, changed and extra ones.
* **No second copy.** In copy mode an image already stored in another version
  of the same name is hard-linked from there (after checking its hash).

GUI-free and Orange-free: the table comes as a list of ``Column`` objects.
"""
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import stat
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..errors import ImageLabError, SkippedEntry, reason
from ..executors import bounded_map, cores, get_executor, shutdown_quietly
from ..paths import is_url, url_to_path
from ..progress import ProgressCallback, checked, sub_range
from .placing import PlaceError, PlaceJob, place, sha256_file
from .saving import safe_name

MANIFEST = "datapackage.json"
LABELS = "labels.csv"
BOXES = "boxes.csv"
METADATA = "metadata.jsonl"
ANNOTATED_SET = "annotated-set.json"
IMAGES = "images"
VERSION_DIGITS = 16
KINDS = ("image", "categorical", "numeric", "text")
ROLES = ("attribute", "class", "meta")
PROFILE = "data-package"
_PARTIAL = ".partial-"
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg",
                ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp",
                ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff"}


class SnapshotError(ImageLabError):
    """A snapshot cannot be written or read; the message says what to do."""


@dataclass
class Column:
    """One column of the table being frozen (or read back).

    ``kind``: "image" (one per table: the image locations), "categorical"
    (``values`` are strings or None, ``categories`` their order), "numeric"
    (floats, NaN for missing) or "text" (strings or None). ``role``: Orange's
    place for it ("attribute", "class" or "meta"). ``attributes``: the
    variable's text attributes, kept through the snapshot.
    """
    name: str
    kind: str
    role: str
    values: list
    categories: Optional[List[str]] = None
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class Snapshot:
    """A version on disk: ``path`` is the version folder.

    ``skipped`` lists the input rows (and boxes) left out, by location and
    reason; ``reused`` says the version existed already (nothing written);
    ``stored`` maps each input row to its file in the snapshot (relative
    path), None where skipped.
    """
    path: str
    name: str
    version: str
    parent: Optional[str] = None
    created: str = ""
    description: str = ""
    n_rows: int = 0
    n_images: int = 0
    n_boxes: int = 0
    counts: Dict[str, int] = field(default_factory=dict)
    class_name: Optional[str] = None
    linked: bool = True
    reused: bool = False
    skipped: List[SkippedEntry] = field(default_factory=list)
    stored: List[Optional[str]] = field(default_factory=list)

    @property
    def info(self) -> dict:
        """The literal that marks tables taken from this snapshot."""
        return {"name": self.name, "version": self.version, "path": self.path}


@dataclass
class VerifyReport:
    """What ``verify`` found; ``ok`` when nothing is missing, changed or extra."""
    path: str
    version: str = ""
    checked: int = 0
    missing: List[str] = field(default_factory=list)
    changed: List[str] = field(default_factory=list)
    extra: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)  # about the manifest itself

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra or self.problems)

    @property
    def bad(self) -> List[SkippedEntry]:
        """Every problem as (path, reason), e.g. for a skipped list."""
        return [SkippedEntry(p, "missing") for p in self.missing] + \
            [SkippedEntry(p, "changed since the snapshot") for p in self.changed] + \
            [SkippedEntry(p, "not part of the snapshot") for p in self.extra] + \
            [SkippedEntry(MANIFEST, p) for p in self.problems]

    def summary(self, shown: int = 3) -> str:
        """E.g. "verified: 1,204 files intact" or "2 of 1,204 files changed: ..."."""
        if self.ok:
            return f"verified: {self.checked:,} files intact"
        parts = list(self.problems)
        for what, paths in (("missing", self.missing), ("changed", self.changed),
                            ("extra", self.extra)):
            if paths:
                names = ", ".join(paths[:shown]) + (", ..." if len(paths) > shown else "")
                parts.append(f"{len(paths):,} {what}: {names}")
        return "; ".join(parts)


# ---------------------------------------------------------------- helpers

def _slug(text: str) -> str:
    """A Data Package name: lowercase letters, digits, '-', '.', '_'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-")
    return slug or "snapshot"


def _number(value) -> str:
    """A number as text: "" for missing, integers without ".0", else the
    shortest form that reads back exactly (deterministic)."""
    if value is None:
        return ""
    value = float(value)
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _cell(column: Column, value) -> str:
    if column.kind == "numeric":
        return _number(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _json_value(column: Column, value):
    if column.kind == "numeric":
        if value is None or math.isnan(float(value)):
            return None
        value = float(value)
        return int(value) if value.is_integer() and abs(value) < 1e15 else value
    text = _cell(column, value)
    return text if text != "" else None


def _field(column: Column) -> dict:
    """The Table Schema field of a column (with Image Lab's extra properties)."""
    spec = {"name": column.name,
            "type": "number" if column.kind == "numeric" else "string",
            "role": column.role, "kind": column.kind}
    if column.kind == "categorical":
        spec["categories"] = list(column.categories or [])
    if column.attributes:
        spec["attributes"] = dict(sorted(column.attributes.items()))
    return spec


def _csv_text(columns: Sequence[Column], order: Sequence[int]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for i in order:
        writer.writerow([_cell(c, c.values[i]) for c in columns])
    return out.getvalue().encode("utf-8")


def _row_order(columns: Sequence[Column], rows: Sequence[int]) -> List[int]:
    """Rows sorted by their text (deterministic, independent of input order)."""
    keyed = [(tuple(_cell(c, c.values[i]) for c in columns), i) for i in rows]
    keyed.sort()
    return [i for _, i in keyed]


def _version(pairs: Iterable[Tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for path, sha in sorted(pairs):
        digest.update(f"{path}\t{sha}\n".encode("utf-8"))
    return digest.hexdigest()[:VERSION_DIGITS]


def _local_path(location) -> Optional[str]:
    if location is None or location == "":
        return None
    location = str(location)
    if is_url(location):
        return url_to_path(location)
    return location


def _hash_or_error(path: str):
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None, "is a folder, not a file" if stat.S_ISDIR(st.st_mode) \
                else "not a regular file"
        return sha256_file(path), st.st_size
    except OSError as err:
        return None, reason(err)


def hash_files(paths: Sequence[str], *, callback: ProgressCallback = None,
               threads: Optional[int] = None) -> List[tuple]:
    """``(sha256, bytes)`` or ``(None, reason)`` for each path, hashed in threads.

    SHA-256 releases Python's lock, so threads read and hash files side by side.
    """
    callback = checked(callback)
    n = max(len(paths), 1)
    results = []
    executor = get_executor("threads", max_workers=threads or min(4, cores() + 1),
                            name="imagelab-hash")
    try:
        for i, result in enumerate(bounded_map(executor, _hash_or_error, paths,
                                               window=64), start=1):
            results.append(result)
            if i % 64 == 0 or i == len(paths):
                callback(i / n)
    finally:
        shutdown_quietly(executor)
    return results


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _remove_stale_partials(base: str) -> None:
    """Remove partial snapshots left by processes that have ended (a kill)."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(_PARTIAL):
            continue
        try:
            pid = int(name[len(_PARTIAL):].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _process_alive(pid):
            # Hard links and our own copies only: removing them never
            # touches an original.
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _write_file(path: str, data: bytes) -> Tuple[str, int]:
    with open(path, "xb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest(), len(data)


# ------------------------------------------------------------------ writing

def _check_columns(columns: Sequence[Column], n_rows: int) -> int:
    images = [i for i, c in enumerate(columns) if c.kind == "image"]
    if len(images) != 1:
        raise ValueError(f"columns must hold exactly one column of kind 'image', "
                         f"got {len(images)}")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"column names must be distinct, got {names}")
    for c in columns:
        if c.kind not in KINDS:
            raise ValueError(f"column {c.name!r}: kind must be one of {KINDS}, got {c.kind!r}")
        if c.role not in ROLES:
            raise ValueError(f"column {c.name!r}: role must be one of {ROLES}, got {c.role!r}")
        if len(c.values) != n_rows:
            raise ValueError(f"column {c.name!r} has {len(c.values)} values for {n_rows} rows")
    return images[0]


def _existing_images(base: str) -> Dict[str, str]:
    """sha256 -> stored file, over the versions already in ``base``."""
    found = {}
    try:
        versions = [e.path for e in os.scandir(base)
                    if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return found
    for version in versions:
        try:
            with os.scandir(os.path.join(version, IMAGES)) as entries:
                for entry in entries:
                    sha = entry.name.split(".", 1)[0]
                    if len(sha) == 64:
                        found.setdefault(sha, entry.path)
        except OSError:
            continue
    return found


def write_snapshot(columns: Sequence[Column], folder, *, name: str,
                   sources: Optional[Sequence[Optional[str]]] = None,
                   boxes: Optional[Sequence[Column]] = None,
                   box_sources: Optional[Sequence[Optional[str]]] = None,
                   parent: Optional[dict] = None, description: str = "",
                   link: bool = True, class_name: Optional[str] = None,
                   callback: ProgressCallback = None) -> Snapshot:
    """Freeze a table of images into ``folder/<name>/<version>/`` (see the module doc).

    ``columns``: the table, n rows, exactly one column of kind "image";
    ``sources``: the n image files to store (local paths or ``file:`` URLs;
    default: the image column's values); ``boxes``: a boxes table's columns,
    whose image column is matched to the images by ``box_sources`` (the boxes'
    resolved locations); ``parent``: {"name", "version", ...} of the snapshot
    this one was cloned from; ``class_name``: the column whose counts the
    history shows. Rows whose image cannot be read are skipped and reported;
    so are boxes of images not in the snapshot. ``callback(fraction)`` may
    raise ``Cancelled``: nothing is then left behind.

    Raises ``ValueError`` for bad options, ``SnapshotError`` when nothing can
    be stored or the folder cannot be written.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("name must be a non-empty text, e.g. name='flowers'")
    callback = checked(callback)
    columns = list(columns)
    n_rows = len(columns[0].values) if columns else 0
    image_index = _check_columns(columns, n_rows)
    image_column = columns[image_index]
    sources = list(image_column.values if sources is None else sources)
    if len(sources) != n_rows:
        raise ValueError(f"sources has {len(sources)} values for {n_rows} rows")
    if boxes is not None:
        boxes = list(boxes)
        n_boxes = len(boxes[0].values) if boxes else 0
        box_image = _check_columns(boxes, n_boxes)
        box_sources = list(boxes[box_image].values if box_sources is None else box_sources)
        if len(box_sources) != n_boxes:
            raise ValueError(f"box_sources has {len(box_sources)} values for {n_boxes} boxes")
    if class_name is not None and class_name not in [c.name for c in columns]:
        raise ValueError(f"class_name {class_name!r} is not a column")

    folder = os.path.abspath(os.fspath(folder))
    base = os.path.join(folder, safe_name(name.strip()))

    # 1. Hash every image (the only pass over the bytes in link mode).
    skipped: List[SkippedEntry] = []
    paths = [_local_path(s) for s in sources]
    wanted = sorted({p for p in paths if p is not None})
    hashed = dict(zip(wanted, hash_files(wanted, callback=sub_range(callback, 0.0, 0.6))))
    stored: List[Optional[str]] = [None] * n_rows
    store: Dict[str, Tuple[str, int, str]] = {}  # relative path -> (sha, bytes, source)
    for i, (location, path) in enumerate(zip(sources, paths)):
        if path is None:
            skipped.append(SkippedEntry(str(location or ""),
                                        "no image location" if not location else
                                        "not a local file; save or download it first"))
            continue
        sha, size = hashed[path]
        if sha is None:
            skipped.append(SkippedEntry(path, size))
            continue
        ext = os.path.splitext(path)[1].lower()
        ext = ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else ""
        rel = f"{IMAGES}/{sha}{ext}"
        stored[i] = rel
        store.setdefault(rel, (sha, size, path))
    rows = [i for i in range(n_rows) if stored[i] is not None]
    if not rows:
        raise SnapshotError("no image could be read, nothing to snapshot"
                            + (f": {skipped[0].path} ({skipped[0].reason})" if skipped else ""))

    # 2. The table files, in memory; with the images' hashes they make the version.
    frozen = [Column(c.name, c.kind, c.role,
                     stored if i == image_index else c.values,
                     c.categories, {k: v for k, v in c.attributes.items()
                                    if k not in ("origin", "snapshot", "snapshot parent")})
              for i, c in enumerate(columns)]
    order = _row_order(frozen, rows)
    files: Dict[str, bytes] = {LABELS: _csv_text(frozen, order)}
    box_rows = []
    if boxes is not None:
        by_source = {}
        for i in rows:
            by_source.setdefault(paths[i], stored[i])
        box_stored = []
        for j, location in enumerate(box_sources):
            rel = by_source.get(_local_path(location))
            box_stored.append(rel)
            if rel is None:
                skipped.append(SkippedEntry(f"box {j + 1} of {location}",
                                            "its image is not in the snapshot"))
            else:
                box_rows.append(j)
        frozen_boxes = [Column(c.name, c.kind, c.role,
                               box_stored if c.kind == "image" else c.values,
                               c.categories, {k: v for k, v in c.attributes.items()
                                              if k not in ("origin", "snapshot",
                                                           "snapshot parent")})
                        for c in boxes]
        files[BOXES] = _csv_text(frozen_boxes, _row_order(frozen_boxes, box_rows))
    files[METADATA] = _metadata_jsonl(frozen, order, image_index)
    files[ANNOTATED_SET] = _annotated_set(frozen, order, image_index)
    digests = {path: (hashlib.sha256(data).hexdigest(), len(data))
               for path, data in files.items()}
    pairs = [(rel, sha) for rel, (sha, _, _) in store.items()] + \
        [(path, sha) for path, (sha, _) in digests.items()]
    version = _version(pairs)
    counts = _counts(columns, class_name, rows)
    target = os.path.join(base, version)
    result = Snapshot(target, name.strip(), version,
                      parent=(parent or {}).get("version"), description=description,
                      n_rows=len(rows), n_images=len(store), n_boxes=len(box_rows),
                      counts=counts, class_name=class_name, linked=link,
                      skipped=skipped, stored=stored)
    if os.path.isfile(os.path.join(target, MANIFEST)):
        existing = read_manifest(target)
        result.reused = True
        result.created = existing.get("created", "")
        result.parent = existing.get("parent")
        result.description = existing.get("description", "")
        callback(1.0)
        return result

    # 3. Write into a hidden partial folder, then rename it to the version.
    try:
        os.makedirs(base, exist_ok=True)
    except OSError as err:
        raise SnapshotError(f"cannot create {base}: {reason(err, writing=True)}; "
                            "choose a folder you can write to") from err
    _remove_stale_partials(base)
    partial = os.path.join(base, f"{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.mkdir(partial)
        os.mkdir(os.path.join(partial, IMAGES))
        existing = {} if link else _existing_images(base)
        _place_images(store, partial, existing, link, sub_range(callback, 0.6, 0.95))
        resources = _image_resources(store) + _table_resources(
            frozen, frozen_boxes if boxes is not None else None, digests)
        for path, data in files.items():
            _write_file(os.path.join(partial, path), data)
            os.chmod(os.path.join(partial, path), _READ_ONLY)
        result.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = _manifest(result, resources, parent, image_column.name)
        _write_file(os.path.join(partial, MANIFEST),
                    json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        os.chmod(os.path.join(partial, MANIFEST), _READ_ONLY)
        callback(0.99)
        try:
            os.rename(partial, target)
        except OSError:
            if not os.path.isfile(os.path.join(target, MANIFEST)):
                raise
            result.reused = True  # another run froze the same content meanwhile
            shutil.rmtree(partial, ignore_errors=True)
    except BaseException as err:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(err, OSError):
            raise SnapshotError(f"cannot write the snapshot into {base}: "
                                f"{reason(err, writing=True)}") from err
        raise
    callback(1.0)
    return result


def _place_images(store, partial, existing, link, callback):
    """Hard-link or copy each image into ``partial/images`` under its content name."""
    directory = os.path.join(partial, IMAGES)
    n = max(len(store), 1)
    for k, (rel, (sha, size, source)) in enumerate(store.items(), start=1):
        name = rel.split("/", 1)[1]
        from_version = existing.get(sha)
        if from_version is not None and _hash_or_error(from_version)[0] == sha:
            source, how = from_version, "link unhashed"
        else:
            how = "link unhashed" if link else "copy"
        try:  # numbered=False: a content name taken by other content is an error
            placed = place(PlaceJob(source, directory, name, how, numbered=False))
        except PlaceError as err:
            raise SnapshotError(f"cannot store {source}: {err.reason}") from err
        destination, copied_sha = placed.destination, placed.sha256
        dest_stat, src_stat = os.stat(destination), os.stat(source)
        linked = (dest_stat.st_ino, dest_stat.st_dev) == (src_stat.st_ino, src_stat.st_dev)
        if not linked:
            if copied_sha and copied_sha != sha:
                raise SnapshotError(f"{source} changed while it was being "
                                    "snapshotted; snapshot again")
            os.chmod(destination, _READ_ONLY)  # our own copy: closed
        if k % 64 == 0 or k == len(store):
            callback(k / n)


def _counts(columns, class_name, rows) -> Dict[str, int]:
    if class_name is None:
        return {}
    column = next(c for c in columns if c.name == class_name)
    counts: Dict[str, int] = {}
    for i in rows:
        key = _cell(column, column.values[i]) or "(none)"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _metadata_jsonl(columns, order, image_index) -> bytes:
    """Rows as Hugging Face ImageFolder's ``metadata.jsonl`` (``file_name`` first)."""
    lines = []
    for i in order:
        row = {"file_name": columns[image_index].values[i]}
        for j, c in enumerate(columns):
            if j != image_index:
                row[c.name] = _json_value(c, c.values[i])
        lines.append(json.dumps(row, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _annotated_set(columns, order, image_index) -> bytes:
    """Rows as a BigML annotated set, images in the folder ``images``."""
    optypes = {"categorical": "categorical", "numeric": "numeric", "text": "text"}
    fields = [{"name": c.name, "optype": optypes[c.kind]}
              for j, c in enumerate(columns) if j != image_index]
    annotations = []
    for i in order:
        row = {"file": columns[image_index].values[i].split("/", 1)[1]}
        for j, c in enumerate(columns):
            if j != image_index:
                row[c.name] = _json_value(c, c.values[i])
        annotations.append(row)
    data = {"images_file": IMAGES, "new_fields": fields, "annotations": annotations}
    return json.dumps(data, indent=1, ensure_ascii=False).encode("utf-8")


def _image_resources(store) -> List[dict]:
    resources = []
    for rel in sorted(store):
        sha, size, _ = store[rel]
        resource = {"name": f"image-{sha}", "path": rel, "bytes": size,
                    "hash": f"sha256:{sha}"}
        media = _MEDIA_TYPES.get(os.path.splitext(rel)[1])
        if media:
            resource["mediatype"] = media
        resources.append(resource)
    return resources


def _table_resources(columns, boxes, digests) -> List[dict]:
    resources = []
    for name, path, cols in (("labels", LABELS, columns), ("boxes", BOXES, boxes)):
        if cols is None:
            continue
        sha, size = digests[path]
        resources.append({
            "name": name, "path": path, "profile": "tabular-data-resource",
            "format": "csv", "mediatype": "text/csv", "encoding": "utf-8",
            "bytes": size, "hash": f"sha256:{sha}",
            "schema": {"fields": [_field(c) for c in cols], "missingValues": [""]}})
    for name, path, fmt, media in (
            ("metadata", METADATA, "jsonl", "application/jsonl"),
            ("annotated-set", ANNOTATED_SET, "json", "application/json")):
        sha, size = digests[path]
        resources.append({"name": name, "path": path, "format": fmt, "mediatype": media,
                          "encoding": "utf-8", "bytes": size, "hash": f"sha256:{sha}"})
    return resources


def _manifest(snap: Snapshot, resources, parent, image_column) -> dict:
    return {
        "profile": PROFILE,
        "name": _slug(snap.name),
        "title": snap.name,
        "version": snap.version,
        "parent": snap.parent,
        "created": snap.created,
        "description": snap.description,
        "imagelab": {
            "snapshot": snap.name,
            "parent": dict(parent) if parent else None,
            "image column": image_column,
            "class": snap.class_name,
            "counts": snap.counts,
            "rows": snap.n_rows,
            "images": snap.n_images,
            "boxes": snap.n_boxes,
            "linked": snap.linked,
        },
        "resources": resources,
    }


# ------------------------------------------------------------------ reading

def find_package(path) -> str:
    """The version folder for ``path``: the folder itself or its datapackage.json."""
    path = os.path.abspath(os.fspath(path))
    if os.path.basename(path) == MANIFEST and os.path.isfile(path):
        return os.path.dirname(path)
    if os.path.isfile(os.path.join(path, MANIFEST)):
        return path
    raise SnapshotError(f"{path} is not a snapshot: it has no {MANIFEST}")


def is_package(path) -> bool:
    try:
        find_package(path)
    except (SnapshotError, OSError):
        return False
    return True


def read_manifest(path) -> dict:
    """The parsed datapackage.json of a version folder (or the file itself)."""
    manifest = os.path.join(find_package(path), MANIFEST)
    try:
        with open(manifest, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise SnapshotError(f"{manifest}: cannot read ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise SnapshotError(f"{manifest}: not a data package (no 'resources' list)")
    return data


def _resource(manifest: dict, name: str) -> Optional[dict]:
    for resource in manifest["resources"]:
        if isinstance(resource, dict) and resource.get("name") == name:
            return resource
    return None


def _safe_relative(root: str, rel) -> Optional[str]:
    """``root/rel`` if ``rel`` is a relative path that stays inside root."""
    if not isinstance(rel, str) or not rel or rel.startswith(("/", "\\")) or \
            ".." in rel.replace("\\", "/").split("/") or ":" in rel:
        return None
    return os.path.join(root, *rel.split("/"))


def read_table(path, resource: str = "labels") -> Optional[List[Column]]:
    """The columns of the snapshot's ``labels`` (or ``boxes``) resource, typed
    by its schema; None if the snapshot has no such resource."""
    root = find_package(path)
    manifest = read_manifest(root)
    spec = _resource(manifest, resource)
    if spec is None:
        return None
    file = _safe_relative(root, spec.get("path"))
    fields = (spec.get("schema") or {}).get("fields")
    if file is None or not isinstance(fields, list):
        raise SnapshotError(f"{root}: resource {resource!r} has no path or schema")
    try:
        with open(file, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise SnapshotError(f"{file}: cannot read ({reason(err)})") from err
    header, rows = (rows[0], rows[1:]) if rows else ([], [])
    names = [f.get("name") for f in fields]
    if header != names:
        raise SnapshotError(f"{file}: the header does not match the schema in {MANIFEST}")
    columns = []
    for j, spec in enumerate(fields):
        kind = spec.get("kind") or ("numeric" if spec.get("type") in ("number", "integer")
                                    else "text")
        role = spec.get("role") if spec.get("role") in ROLES else "meta"
        raw = [row[j] if j < len(row) else "" for row in rows]
        if kind == "numeric":
            values = [float(v) if v not in ("",) else math.nan for v in raw]
        else:
            values = [v if v != "" else None for v in raw]
        categories = spec.get("categories") if kind == "categorical" else None
        if kind == "categorical" and categories is None:
            categories = sorted({v for v in values if v is not None})
        columns.append(Column(spec.get("name"), kind if kind in KINDS else "text", role,
                              values, categories, dict(spec.get("attributes") or {})))
    return columns


# ------------------------------------------------------------------ verify

def verify(path, *, callback: ProgressCallback = None,
           threads: Optional[int] = None) -> VerifyReport:
    """Rehash every file of a snapshot and compare with its manifest.

    Lists files that are missing, changed (size or SHA-256) or extra (in the
    folder but not in the manifest), and problems with the manifest itself
    (a version that does not match the listed hashes). A single flipped byte
    is caught. ``callback(fraction)`` may raise ``Cancelled``.
    """
    callback = checked(callback)
    root = find_package(path)
    report = VerifyReport(root)
    try:
        manifest = read_manifest(root)
    except SnapshotError as err:
        report.problems.append(str(err))
        return report
    report.version = str(manifest.get("version", ""))
    expected: Dict[str, Tuple[str, Optional[int]]] = {}
    pairs = []
    for resource in manifest["resources"]:
        rel = resource.get("path") if isinstance(resource, dict) else None
        sha = str(resource.get("hash", "")) if isinstance(resource, dict) else ""
        if _safe_relative(root, rel) is None or not sha.startswith("sha256:"):
            report.problems.append(f"a resource has no safe path or sha256 hash: {resource!r:.80}")
            continue
        expected[rel] = (sha[len("sha256:"):], resource.get("bytes"))
        pairs.append((rel, sha[len("sha256:"):]))
    if report.version and _version(pairs) != report.version:
        report.problems.append(f"the manifest was changed: version {report.version} "
                               "does not match the files it lists")
    present = set()
    for folder, dirs, names in os.walk(root):
        rel_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        for name in names:
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            present.add(rel)
    present.discard(MANIFEST)
    # Image Lab's own bookkeeping (e.g. an extracted archive's note) is not content.
    present = {rel for rel in present if not rel.rsplit("/", 1)[-1].startswith(".imagelab-")}
    report.extra = sorted(present - set(expected))
    listed = sorted(expected)
    report.missing = [rel for rel in listed if rel not in present]
    to_check = [rel for rel in listed if rel in present]
    results = hash_files([_safe_relative(root, rel) for rel in to_check],
                         callback=callback, threads=threads)
    for rel, (sha, size) in zip(to_check, results):
        want_sha, want_size = expected[rel]
        if sha is None:
            report.changed.append(rel) if os.path.exists(_safe_relative(root, rel)) \
                else report.missing.append(rel)
        elif sha != want_sha or (want_size is not None and size != want_size):
            report.changed.append(rel)
    report.checked = len(listed)
    callback(1.0)
    return report


# ------------------------------------------------------------------ history

@dataclass
class VersionInfo:
    """One version in a snapshot folder, for a history list."""
    path: str
    name: str
    version: str
    parent: Optional[str]
    created: str
    description: str
    n_rows: int
    n_images: int
    counts: Dict[str, int]
    class_name: Optional[str]


def list_versions(folder) -> List[VersionInfo]:
    """Every complete version under ``folder`` (``folder/<name>/<version>``),
    oldest first. Partial (hidden) folders are never listed."""
    folder = os.path.abspath(os.fspath(folder))
    found = []
    try:
        names = sorted(e.name for e in os.scandir(folder)
                       if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return found
    for name in names:
        try:
            versions = sorted(e.path for e in os.scandir(os.path.join(folder, name))
                              if e.is_dir() and not e.name.startswith("."))
        except OSError:
            continue
        for path in versions:
            if not os.path.isfile(os.path.join(path, MANIFEST)):
                continue
            try:
                manifest = read_manifest(path)
            except SnapshotError:
                continue
            extra = manifest.get("imagelab") or {}
            found.append(VersionInfo(
                path, extra.get("snapshot") or manifest.get("title") or name,
                str(manifest.get("version", os.path.basename(path))),
                manifest.get("parent"), str(manifest.get("created", "")),
                str(manifest.get("description", "")), int(extra.get("rows", 0)),
                int(extra.get("images", 0)), dict(extra.get("counts") or {}),
                extra.get("class")))
    found.sort(key=lambda v: (v.created, v.name, v.version))
    return found


# ------------------------------------------------------------------ export

def export_zip(path, zip_path, *, callback: ProgressCallback = None) -> str:
    """Pack a snapshot into one zip archive (datapackage.json at its root).

    Images are stored as they are (already compressed), text files deflated.
    The archive is written to a temporary file and renamed; an existing
    ``zip_path`` is never replaced (``FileExistsError``). Returns the path.
    """
    callback = checked(callback)
    root = find_package(path)
    zip_path = os.path.abspath(os.fspath(zip_path))
    if os.path.exists(zip_path):
        raise FileExistsError(f"zip_path {zip_path} exists; choose a new file name "
                              "(an existing file is never replaced)")
    manifest = read_manifest(root)
    files = [MANIFEST] + [r["path"] for r in manifest["resources"]
                          if isinstance(r, dict) and _safe_relative(root, r.get("path"))]
    directory = os.path.dirname(zip_path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".imagelab-", suffix=".zip.part", dir=directory)
    os.close(fd)
    try:
        n = max(len(files), 1)
        with zipfile.ZipFile(temp, "w") as archive:
            for k, rel in enumerate(files, start=1):
                compress = zipfile.ZIP_STORED if rel.startswith(IMAGES + "/") \
                    else zipfile.ZIP_DEFLATED
                archive.write(_safe_relative(root, rel), rel, compress_type=compress)
                if k % 64 == 0 or k == len(files):
                    callback(k / n)
        os.link(temp, zip_path)  # fails if the name was taken meanwhile
    finally:
        os.unlink(temp)
    return zip_path


__all__ = ["Column", "Snapshot", "VerifyReport", "VersionInfo", "SnapshotError",
           "write_snapshot", "verify", "read_manifest", "read_table", "find_package",
           "is_package", "list_versions", "export_zip", "hash_files", "MANIFEST"]
