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
import threading
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ImageLabError, SkippedEntry, reason
from ..executors import bounded_map, cores, get_executor, shutdown_quietly
from ..paths import is_url, url_to_path
from ..progress import ProgressCallback, checked, sub_range
from .placing import CHUNK, PlaceError, PlaceJob, place
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
_EXTENSION = re.compile(r"\.[a-z0-9]{1,8}")  # kept on a stored image's content name
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


# A FIFO given as an image must not hang the run: opened without blocking,
# then refused by its fstat.
_O_HASH = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | \
    getattr(os, "O_NONBLOCK", 0)
_BATCH = 32  # files per task: a task per file costs more than hashing a small photo


def _hash_one(path: str) -> tuple:
    """``(sha256, bytes, identity)`` of one file, or ``(None, reason, None)``.

    One open, one fstat and, for a file under 1 MiB, one read: it asks for a
    byte more than the size, so a short read proves the end. ``identity``
    (device, inode, bytes, mtime in ns, from the fstat of the open file) lets
    a caller tell later that a hard link is this very file, unchanged.
    """
    try:
        fd = os.open(path, _O_HASH)
    except OSError as err:
        return None, reason(err), None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, ("is a folder, not a file" if stat.S_ISDIR(st.st_mode)
                          else "not a regular file"), None
        digest = hashlib.sha256()
        size, remaining = 0, st.st_size
        while True:
            wanted = min(max(remaining, 0) + 1, CHUNK)
            chunk = os.read(fd, wanted)
            if not chunk:
                break
            digest.update(chunk)  # releases the GIL for all but tiny chunks
            size += len(chunk)
            remaining -= len(chunk)
            if remaining == 0 and len(chunk) < wanted:
                break
        return digest.hexdigest(), size, (st.st_dev, st.st_ino, size, st.st_mtime_ns)
    except OSError as err:
        return None, reason(err), None
    finally:
        os.close(fd)


def _hash_batch(paths: Sequence[str]) -> List[tuple]:
    return [_hash_one(path) for path in paths]


def _batches(items: Sequence, workers: int) -> List[Sequence]:
    """``items`` in slices of at most ``_BATCH``, at least four per worker."""
    size = max(1, min(_BATCH, -(-len(items) // (4 * workers))))
    return [items[i:i + size] for i in range(0, len(items), size)]


#: mean file size from which threads pay: below it, each file is a handful of
#: short system calls, and threads (which hand Python's lock over at every
#: call) were slower than one (3 KB files: 2x slower; 256 KB files: 1.8x faster)
THREADED_BYTES = 32 * 1024


def _workers(threads: Optional[int], sizes: Sequence[int]) -> int:
    """Threads for files of these sizes: ``threads`` if given, else one for
    small files and one per core (at most 4) for large ones (by the median:
    a snapshot's own large CSV among its small photos does not count)."""
    if threads:
        return threads
    if not sizes or sorted(sizes)[len(sizes) // 2] < THREADED_BYTES:
        return 1
    return min(4, cores())


def _executor(workers: int, name: str):
    return get_executor("inline") if workers == 1 else \
        get_executor("threads", max_workers=workers, name=name)


def digest_files(paths: Sequence[str], *, callback: ProgressCallback = None,
                 threads: Optional[int] = None,
                 sizes: Optional[Sequence[int]] = None) -> List[tuple]:
    """``(sha256, bytes, identity)`` or ``(None, reason, None)`` for each path
    (see ``_hash_one``), a batch of files per task.

    The first batch is hashed here; if the files are large (``THREADED_BYTES``)
    the rest go to threads, where reading and SHA-256 release Python's lock
    (on two cores, 256 KB files: twice the speed of one thread, ten times
    ``sha256sum``'s); small files stay in this thread. ``threads`` forces a
    number of threads; ``sizes``, the files' expected sizes, decide at once.
    """
    callback = checked(callback)
    paths = list(paths)
    results: List[tuple] = _hash_batch(paths[:_BATCH])
    callback(len(results) / max(len(paths), 1))
    rest = paths[len(results):]
    if not rest:
        return results
    workers = _workers(threads, [r[1] for r in results if r[0] is not None]
                       if sizes is None else sizes)
    executor = _executor(workers, "imagelab-hash")
    try:
        # polled while waiting too, so that a Cancel stops a slow disk at once
        for batch in bounded_map(executor, _hash_batch, _batches(rest, workers),
                                 window=2 * workers,
                                 poll=lambda: callback(len(results) / len(paths))):
            results.extend(batch)
            callback(len(results) / len(paths))
    finally:
        shutdown_quietly(executor)
    return results


def hash_files(paths: Sequence[str], *, callback: ProgressCallback = None,
               threads: Optional[int] = None) -> List[tuple]:
    """``(sha256, bytes)`` or ``(None, reason)`` for each path, hashed in threads."""
    return [result[:2] for result in digest_files(paths, callback=callback, threads=threads)]


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
    hashed = dict(zip(wanted, digest_files(wanted, callback=sub_range(callback, 0.0, 0.5))))
    stored: List[Optional[str]] = [None] * n_rows
    # relative path -> (sha, bytes, source, identity of the hashed file)
    store: Dict[str, Tuple[str, int, str, tuple]] = {}
    for i, (location, path) in enumerate(zip(sources, paths)):
        if path is None:
            skipped.append(SkippedEntry(str(location or ""),
                                        "no image location" if not location else
                                        "not a local file; save or download it first"))
            continue
        sha, size, identity = hashed[path]
        if sha is None:
            skipped.append(SkippedEntry(path, size))
            continue
        ext = os.path.splitext(path)[1].lower()
        ext = ext if _EXTENSION.fullmatch(ext) else ""
        rel = f"{IMAGES}/{sha}{ext}"
        stored[i] = rel
        if rel not in store:
            store[rel] = (sha, size, path, identity)
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
    table = _TableText(frozen)
    order = table.order(rows)
    files: Dict[str, bytes] = {LABELS: table.csv(order)}
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
        box_table = _TableText(frozen_boxes)
        files[BOXES] = box_table.csv(box_table.order(box_rows))
    files[METADATA] = table.metadata_jsonl(order, image_index)
    files[ANNOTATED_SET] = table.annotated_set(order, image_index)
    digests = {path: (hashlib.sha256(data).hexdigest(), len(data))
               for path, data in files.items()}
    pairs = [(rel, entry[0]) for rel, entry in store.items()] + \
        [(path, sha) for path, (sha, _) in digests.items()]
    version = _version(pairs)
    counts = _counts(table, class_name, rows)
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
        _place_images(store, partial, existing, link, sub_range(callback, 0.5, 0.95))
        resources = _image_resources(store) + _table_resources(
            frozen, frozen_boxes if boxes is not None else None, digests)
        for path, data in files.items():
            _write_file(os.path.join(partial, path), data)
            os.chmod(os.path.join(partial, path), _READ_ONLY)
        result.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = _manifest(result, resources, parent, image_column.name)
        _write_file(os.path.join(partial, MANIFEST), _manifest_bytes(manifest))
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


def _place_images(store, partial, existing, link, callback, threads=None):
    """Hard-link or copy each image into ``partial/images`` under its content name.

    A batch of files per task: links in this thread (a few short system
    calls each), copies of large files in threads. Link mode passes each
    file's known SHA-256 to ``place``,
    so nothing is read twice; a link is then checked to be the very file
    that was hashed, unchanged (device, inode, size, mtime). A copy (copy
    mode, or where links cannot be made) is hashed as it is written and must
    match. On an error or a Cancel the workers stop before their next file
    and are waited for, so that nothing writes into the partial folder once
    the caller removes it.
    """
    directory = os.path.join(partial, IMAGES)
    items = list(store.items())
    if not items:
        return
    stop = threading.Event()

    def place_batch(batch):
        for rel, (sha, size, source, identity) in batch:
            if stop.is_set():
                return 0
            _place_image(directory, rel.split("/", 1)[1], sha, source, identity,
                         existing.get(sha), link)
        return len(batch)

    # A link is a few system calls whatever the size: one thread is fastest.
    workers = _workers(threads, [] if link else [entry[1] for _, entry in items])
    executor = _executor(workers, "imagelab-place")
    done = 0
    try:
        for placed in bounded_map(executor, place_batch, _batches(items, workers),
                                  window=2 * workers,
                                  poll=lambda: callback(done / len(items))):
            done += placed
            callback(done / len(items))
    except BaseException:
        stop.set()
        executor.shutdown(wait=True, cancel_futures=True)  # a file at most per worker
        raise
    finally:
        shutdown_quietly(executor)


def _place_image(directory, name, sha, source, identity, from_version, link):
    how = "link" if link else "copy"
    if from_version is not None:
        # Copy mode: an image stored in another version is linked from there
        # (our own read-only file, checked first): no second copy.
        checked_sha, _, version_identity = _hash_one(from_version)
        if checked_sha == sha:
            source, how, identity = from_version, "link", version_identity
    try:  # numbered=False: a content name taken by other content is an error
        # link mode: the hash and size of the file hashed; the link is checked below
        placed = place(PlaceJob(source, directory, name, how, numbered=False,
                                sha256=sha if how == "link" else None,
                                bytes=identity[2] if how == "link" else None))
    except PlaceError as err:
        raise SnapshotError(f"cannot store {source}: {err.reason}") from err
    st = os.lstat(placed.destination)
    if how == "link" and (st.st_dev, st.st_ino) == identity[:2]:
        if (st.st_size, st.st_mtime_ns) != identity[2:]:
            raise SnapshotError(f"{source} changed while it was being snapshotted; "
                                "snapshot again")
        return  # a hard link shares the original's inode: never chmod it
    if placed.sha256 != sha:  # a copy, hashed while written
        raise SnapshotError(f"{source} changed while it was being snapshotted; "
                            "snapshot again")
    os.chmod(placed.destination, _READ_ONLY)  # our own copy: closed


def _counts(table: "_TableText", class_name, rows) -> Dict[str, int]:
    if class_name is None:
        return {}
    texts = table.texts[table.names.index(class_name)]
    counts: Dict[str, int] = {}
    for i in rows:
        key = texts[i] or "(none)"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


_encode_text = json.encoder.encode_basestring  # json.dumps' own, ensure_ascii=False


def _json_float(value: float) -> str:
    """A float as json.dumps writes it."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


class _TableText:
    """A table's cells as text, computed once per cell, for the CSV, the row
    order, ``metadata.jsonl`` and the annotated set (a snapshot of 10,000
    images writes each cell four times; per-cell Python calls add up).

    The files are byte for byte what ``csv.writer`` and ``json.dumps`` (with
    ``ensure_ascii=False``; ``indent=1`` for the annotated set) write, so a
    version stays the same for the same content.
    """

    def __init__(self, columns: Sequence[Column]):
        self.columns = list(columns)
        self.names = [c.name for c in self.columns]
        self._numbers = {j: self._numeric(c.values) for j, c in enumerate(self.columns)
                         if c.kind == "numeric"}
        self.texts = [self._numbers[j][0] if j in self._numbers else self._texts(c)
                      for j, c in enumerate(self.columns)]
        self._rows = list(zip(*self.texts))
        self._json: Optional[List[List[str]]] = None

    @staticmethod
    def _texts(column: Column) -> List[str]:
        return ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                for v in column.values]

    @staticmethod
    def _numeric(values) -> Tuple[List[str], List[str]]:
        """(CSV texts, JSON texts) of numbers, as ``_number`` and json.dumps of
        ``_json_value`` write them; whole numbers (most: sizes, counts) at once."""
        array = np.array([np.nan if v is None else v for v in values], dtype=float)
        whole = np.isfinite(array) & (np.abs(array) < 1e15)
        whole[whole] = array[whole] == np.round(array[whole])
        texts = [""] * len(array)
        json_texts = ["null"] * len(array)
        rows = np.flatnonzero(whole)
        for i, text in zip(rows.tolist(), map(str, array[rows].astype(np.int64).tolist())):
            texts[i] = json_texts[i] = text
        for i in np.flatnonzero(~whole & ~np.isnan(array)).tolist():
            texts[i] = _number(array[i])
            json_texts[i] = _json_float(float(array[i]))
        return texts, json_texts

    def order(self, rows: Sequence[int]) -> List[int]:
        """Rows sorted by their text (deterministic, independent of input order)."""
        keys = self._rows
        return sorted(rows, key=lambda i: (keys[i], i))

    def csv(self, order: Sequence[int]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.names)
        rows = self._rows
        writer.writerows([rows[i] for i in order])
        return out.getvalue().encode("utf-8")

    def _json_cells(self) -> List[List[str]]:
        """Each cell as json.dumps writes ``_json_value`` of it."""
        if self._json is None:
            self._json = [self._numbers[j][1] if j in self._numbers else
                          [_encode_text(t) if t != "" else "null" for t in texts]
                          for j, texts in enumerate(self.texts)]
        return self._json

    def _pairs(self, order, image_index, indent: str) -> List[Tuple[str, ...]]:
        """Per row in ``order``: the '<key>: <value>' texts of the columns but
        the image, built column by column (one comprehension per column)."""
        cells = self._json_cells()
        columns = []
        for j, name in enumerate(self.names):
            if j != image_index:
                prefix = f"{indent}{_encode_text(name)}: "
                column = cells[j]
                columns.append([prefix + column[i] for i in order])
        return list(zip(*columns)) if columns else [()] * len(order)

    def metadata_jsonl(self, order: Sequence[int], image_index: int) -> bytes:
        """Rows as Hugging Face ImageFolder's ``metadata.jsonl`` (``file_name`` first)."""
        images = self.texts[image_index]
        lines = ['{"file_name": ' + ", ".join((_encode_text(images[i]),) + pairs) + "}"
                 for i, pairs in zip(order, self._pairs(order, image_index, ""))]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def annotated_set(self, order: Sequence[int], image_index: int) -> bytes:
        """Rows as a BigML annotated set, images in the folder ``images``
        (as ``json.dumps(..., indent=1)`` writes it)."""
        optypes = {"categorical": "categorical", "numeric": "numeric", "text": "text"}
        others = [j for j in range(len(self.columns)) if j != image_index]
        fields = [f'  {{\n   "name": {_encode_text(self.names[j])},\n'
                  f'   "optype": "{optypes[self.columns[j].kind]}"\n  }}' for j in others]
        images = self.texts[image_index]
        annotations = [
            '  {\n   "file": ' + ",\n".join(
                (_encode_text(images[i].split("/", 1)[1]),) + pairs) + "\n  }"
            for i, pairs in zip(order, self._pairs(order, image_index, "   "))]

        def listed(items):
            return "[\n" + ",\n".join(items) + "\n ]" if items else "[]"
        text = (f'{{\n "images_file": "{IMAGES}",\n "new_fields": {listed(fields)},\n'
                f' "annotations": {listed(annotations)}\n}}')
        return text.encode("utf-8")


class _JsonText(str):
    """A resource already written as JSON (see ``_image_resources``)."""


def _image_resources(store) -> List[_JsonText]:
    """The images' resources, written as ``json.dumps`` writes them: their text
    (hex digits, "images/", an extension of ``_EXTENSION``, a media type of
    ``_MEDIA_TYPES``) needs no escaping, and 10,000 encoder calls cost more
    than hashing a thousand photos."""
    resources = []
    for rel in sorted(store):
        sha, size = store[rel][:2]
        media = _MEDIA_TYPES.get(os.path.splitext(rel)[1])
        resources.append(_JsonText(
            f'{{"name": "image-{sha}", "path": "{rel}", "bytes": {int(size)}, '
            f'"hash": "sha256:{sha}"' + (f', "mediatype": "{media}"}}' if media else "}")))
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


def _manifest_bytes(manifest: dict) -> bytes:
    """The manifest as indented JSON with one resource per line: readable, and
    written by json's C encoder (indenting 10,000 resources in Python took
    longer than hashing the images)."""
    head = dict(manifest, resources=[])
    text = json.dumps(head, indent=1, ensure_ascii=False)
    resources = ",\n  ".join(r if isinstance(r, _JsonText) else json.dumps(r, ensure_ascii=False)
                             for r in manifest["resources"])
    before, marker, after = text.rpartition('"resources": []')  # the last key
    if resources:
        marker = f'"resources": [\n  {resources}\n ]'
    return (before + marker + after).encode("utf-8")


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
    if os.sep == "/":
        return f"{root}/{rel}"  # what os.path.join makes of it, at a fraction of the cost
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
    expected: Dict[str, Tuple[str, Optional[int], str]] = {}  # rel -> (sha, bytes, path)
    pairs = []
    for resource in manifest["resources"]:
        rel = resource.get("path") if isinstance(resource, dict) else None
        sha = str(resource.get("hash", "")) if isinstance(resource, dict) else ""
        file = _safe_relative(root, rel)
        if file is None or not sha.startswith("sha256:"):
            report.problems.append(f"a resource has no safe path or sha256 hash: {resource!r:.80}")
            continue
        expected[rel] = (sha[len("sha256:"):], resource.get("bytes"), file)
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
    results = digest_files([expected[rel][2] for rel in to_check], callback=callback,
                           threads=threads,
                           sizes=[size for _, size, _ in expected.values()
                                  if isinstance(size, int)])
    for rel, (sha, size, _) in zip(to_check, results):
        want_sha, want_size, file = expected[rel]
        if sha is None:
            report.changed.append(rel) if os.path.exists(file) else report.missing.append(rel)
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
