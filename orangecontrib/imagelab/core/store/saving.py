"""Write images into folders: never deleting, never overwriting, with a manifest.

``save_files(sources, folder, labels=...)`` puts each source file into
``folder/<safe label>/``. The rules:

* Nothing is deleted and nothing is overwritten. A copied file is created
  under its final name with an exclusive create (``O_EXCL``), which fails if
  the name exists, so concurrent or repeated runs cannot clobber each other;
  if the copy then fails (a source read error, a full disk), the partial file,
  which this run created, is removed. Converted and downloaded files are
  written under a temporary name and hard-linked to the final name, and hard
  links are made directly, with the same fail-if-taken guarantee.
* A taken name with the same content (size, then SHA-256) means the file is
  already there: nothing is written, and a rerun is idempotent. A taken name
  with other content gives ``name (2).ext``, ``name (3).ext``, ...
* Labels become safe folder names (``safe_name``); distinct labels that map to
  the same name stay apart (``folder_names``); every target folder is checked
  to lie inside ``folder`` after resolving links.
* ``manifest.csv`` in ``folder`` gets one row per file, appended (never
  rewritten) and flushed a few times a second and when the run ends, also by
  Cancel or an error, so a stopped run leaves an honest manifest.
* Many local files (``_PARALLEL_COPY_MIN`` and more) are copied or linked
  by worker processes (``filecopy.CopyWorkers``), in batches, with the same
  rules; a second file for a name this run already uses waits for the
  workers and is then handled here, so that the first one keeps the name.

GUI-free: takes plain lists (paths or URLs, labels as strings or None).
"""
import csv
import errno
import hashlib
import io
import os
import re
import time
import unicodedata
import urllib.parse
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Hashable, Iterable, List, Optional, Sequence

from ..pixels import decoding
from ..errors import Cancelled, ImageError, ImageLabError
from ..errors import reason as _reason
from .filecopy import CHUNK as _CHUNK
from .filecopy import CopyWorkers, WorkerFailed, free_name_candidates, place_file
from .filecopy import SourceError as _SourceError
from .filecopy import remove_quietly as _remove_quietly
from .filecopy import same_content as _same_content
from .filecopy import sha256_file
from ..paths import is_url
from ..progress import ProgressCallback, checked

MODES = ("copy", "link", "convert")

#: format name -> (Pillow format, file extension, supports transparency)
FORMATS = {
    "jpeg": ("JPEG", ".jpg", False),
    "png": ("PNG", ".png", True),
    "webp": ("WEBP", ".webp", True),
    "tiff": ("TIFF", ".tif", True),
    "bmp": ("BMP", ".bmp", False),
}
_FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".png": "png",
               ".webp": "webp", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp"}


def _format_of(name: str) -> str:
    """The FORMATS key for a file name's extension; "png" if unknown."""
    return _EXTENSIONS.get(os.path.splitext(str(name))[1].lower(), "png")

UNLABELED = "_unlabeled"
EMPTY = "_empty"
MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("time", "source", "destination", "label", "sha256", "bytes",
                   "mode", "status", "note")

#: Folder and file names are cut to this many UTF-8 bytes (file systems allow
#: 255; the rest leaves room for " (12)" suffixes and temporary names).
MAX_NAME_BYTES = 120

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | \
    {f"{dev}{i}" for dev in ("COM", "LPT") for i in list("123456789") + ["¹", "²", "³"]}
_WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
# Names that need no change: ASCII letters, digits and harmless punctuation,
# not starting with a dot or space, not ending with a dot or space.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-+=,@#&%!~'()\[\]{}]"
                         r"(?:[A-Za-z0-9_\-+=,@#&%!~'()\[\]{}. ]*"
                         r"[A-Za-z0-9_\-+=,@#&%!~'()\[\]{}])?\Z")
_MANIFEST_FLUSH_SECONDS = 0.25
# Copy mode hands files to worker processes from this many on (starting
# them takes a few tens of milliseconds), in batches of _COPY_BATCH.
_PARALLEL_COPY_MIN = 500
_COPY_BATCH = 64
_MAX_COPY_WORKERS = 4
_CSV_QUOTED = re.compile(r'["\r\n]')  # with a ',' in a field: what csv.writer quotes


class TargetFolderError(ImageLabError):
    """The target folder cannot be created or written to; nothing was saved."""


@dataclass(frozen=True)
class SavedFile:
    """A source that is now in the target folder (written now or earlier)."""
    index: int  # position in the input
    source: str
    destination: str  # absolute path
    label: Optional[str]
    sha256: str
    bytes: int
    status: str  # "saved" or "already present"
    wanted_name: str  # the name it would have had without a clash

    @property
    def renamed(self) -> bool:
        return os.path.basename(self.destination) != self.wanted_name


@dataclass(frozen=True)
class SkippedFile:
    """A source that was not saved, and why (``reason`` is short and readable)."""
    index: int
    path: str
    reason: str


@dataclass
class SaveReport:
    """What ``save_files`` did. ``destinations[i]`` is where input ``i`` is now
    (None if it was skipped); ``folders`` maps each label to its folder name."""
    folder: str
    n_inputs: int = 0
    saved: List[SavedFile] = field(default_factory=list)
    already_present: List[SavedFile] = field(default_factory=list)
    skipped: List[SkippedFile] = field(default_factory=list)
    manifest: Optional[str] = None
    folders: Dict[Optional[str], str] = field(default_factory=dict)
    destinations: List[Optional[str]] = field(default_factory=list)

    @property
    def renamed(self) -> List[SavedFile]:
        """Saved files that got a new name (``name (2).jpg``) to avoid a clash."""
        return [f for f in self.saved if f.renamed]

    def summary(self, max_names: int = 3) -> str:
        """E.g. "12 saved (2 renamed), 3 already present, 1 of 16 skipped: a.jpg (file not
        found)"."""
        parts = [f"{len(self.saved):,} saved"
                 + (f" ({len(self.renamed):,} renamed)" if self.renamed else "")]
        if self.already_present:
            parts.append(f"{len(self.already_present):,} already present")
        if self.skipped:
            parts.append(f"{len(self.skipped):,} of {self.n_inputs:,} skipped: "
                         + skipped_names(self.skipped, max_names))
        return ", ".join(parts)


def skipped_names(skipped: Sequence[SkippedFile], max_names: int = 3) -> str:
    """'a/b.jpg (file not found), c.jpg (truncated JPEG), ...'"""
    names = [f"{_short(s.path)} ({s.reason})" for s in skipped[:max_names]]
    return ", ".join(names) + (", ..." if len(skipped) > max_names else "")


def _short(path: str) -> str:
    parts = str(path).replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:])


# ---------------------------------------------------------------- safe names

def _cut_bytes(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_name(text, *, max_bytes: int = MAX_NAME_BYTES, keep_suffix: bool = False) -> str:
    """A file or folder name made from any text, safe on Linux, macOS and Windows.

    Path separators, control characters and characters Windows forbids become
    ``_``; leading dots become ``_`` (no ``..``, no hidden folders); trailing
    dots and spaces are dropped; Windows device names (``CON``, ``com1.txt``)
    get a ``_`` prefix; the result is NFC-normalised and at most ``max_bytes``
    UTF-8 bytes (with ``keep_suffix``, a file's extension survives the cut).
    Empty text gives ``"_empty"``.
    """
    text = str(text)
    if _PLAIN_NAME.match(text) and len(text) <= max_bytes and \
            text.split(".")[0].upper() not in _WINDOWS_RESERVED:
        return text  # the common case, checked fast
    text = unicodedata.normalize("NFC", text)
    chars = ["_" if ch in _WINDOWS_FORBIDDEN or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
             else ch for ch in text]
    name = "".join(chars).strip()
    stripped = name.lstrip(".")
    name = "_" * (len(name) - len(stripped)) + stripped
    suffix = ""
    if keep_suffix:
        stem, suffix = os.path.splitext(name)
        if len(suffix.encode("utf-8")) > 16:
            stem, suffix = name, ""
        name = stem
    name = _cut_bytes(name, max_bytes - len(suffix.encode("utf-8"))).rstrip(". ")
    if not name:
        name = EMPTY
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name + suffix


def folder_names(labels: Iterable[Optional[str]], *,
                 fixed: Optional[Dict[Hashable, str]] = None) -> Dict[Hashable, str]:
    """Map distinct labels to distinct safe folder names.

    ``None`` (a missing label) maps to ``"_unlabeled"``; ``fixed`` maps extra
    keys to names that are taken first (e.g. ``"_review"``). Names are
    compared case-insensitively, so ``Cat`` and ``cat`` stay apart on Windows
    and macOS too. A label whose safe name equals the label keeps it; the
    others, in sorted order, get ``name (2)``, ``name (3)``, ...
    """
    fixed = dict(fixed or {})
    distinct = {label for label in labels}
    result: Dict[Hashable, str] = {}
    taken = set()

    def take(key, name):
        base, k = name, 1
        while name.casefold() in taken:
            k += 1
            name = f"{_cut_bytes(base, MAX_NAME_BYTES - 8)} ({k})"
        taken.add(name.casefold())
        result[key] = name

    for key, name in fixed.items():
        take(key, name)
    if None in distinct:
        take(None, UNLABELED)
        distinct.discard(None)
    ordered = sorted(distinct, key=str)
    exact = [label for label in ordered
             if safe_name(label) == unicodedata.normalize("NFC", str(label))]
    for label in exact + [label for label in ordered if label not in set(exact)]:
        if label not in result:
            take(label, safe_name(label))
    return result


# ------------------------------------------------------------ file helpers

def _temp_path(directory: str) -> str:
    return os.path.join(directory, f".imagelab-{os.getpid()}-{uuid.uuid4().hex}.part")


def _write_bytes(data: bytes, target: str) -> tuple:
    with open(target, "xb") as out:
        out.write(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def _link_exclusive(source: str, target: str) -> None:
    """Give ``source``'s content the new name ``target``; FileExistsError if taken."""
    try:
        os.link(source, target)
        return
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                             errno.ENOSYS, errno.EINVAL):
            raise
    # No hard links here (FAT, some network shares): exclusive create and copy.
    with open(source, "rb") as src, open(target, "xb") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)


# --------------------------------------------------------------------- jobs

@dataclass
class _Job:
    index: int
    source: str
    label: Optional[str]
    directory: str
    name: str
    temp: Optional[str] = None
    direct: bool = False  # a local copy, written straight to its final name
    sha256: str = ""
    bytes: int = 0
    present: Optional[str] = None  # an existing file with the same content
    url: bool = False


def _source_name(source: str, url: bool) -> str:
    if url:
        path = urllib.parse.unquote(urllib.parse.urlparse(source).path)
        name = path.rstrip("/").rsplit("/", 1)[-1] or "image"
    else:
        name = os.path.basename(source.rstrip("/\\")) or "image"
    return safe_name(name, keep_suffix=True)


class _Saver:
    def __init__(self, folder, mode, fmt, max_size, quality, manifest, hash_links):
        self.root = os.path.abspath(os.fspath(folder))
        self.mode = mode
        self.format = fmt
        self.max_size = max_size
        self.quality = quality
        # how place_file() copies or links local files (in workers, too)
        self.how = "copy" if mode == "copy" else "link" if hash_links else "link unhashed"
        self.manifest_path = os.path.join(self.root, MANIFEST_NAME) if manifest else None
        self.manifest_file = None
        self.writer = None
        self._dirs: Dict[str, object] = {}
        self._root_prefix = os.path.join(self.root, "")
        self._clock = (None, "")
        self._flushed = time.monotonic()

    def _now(self) -> str:
        """UTC time to the second, ISO 8601 (formatted once per second)."""
        second = int(time.time())
        if self._clock[0] != second:
            stamp = datetime.fromtimestamp(second, timezone.utc).isoformat()
            self._clock = (second, stamp)
        return self._clock[1]

    # -- target folders
    def open_root(self):
        try:
            os.makedirs(self.root, exist_ok=True)
        except FileExistsError as err:
            raise TargetFolderError(f"cannot save into {self.root}: it is a file, "
                                    "not a folder; choose another folder") from err
        except OSError as err:
            raise TargetFolderError(f"cannot create {self.root}: "
                                    f"{_reason(err, writing=True)}") from err
        if not os.path.isdir(self.root):
            raise TargetFolderError(f"cannot save into {self.root}: not a folder")
        self.real_root = os.path.realpath(self.root)
        probe = _temp_path(self.root)
        try:
            open(probe, "xb").close()
        except OSError as err:
            raise TargetFolderError(f"cannot write into {self.root}: "
                                    f"{_reason(err, writing=True).replace('cannot write: ', '')}; "
                                    "choose a folder you can write to") from err
        finally:
            _remove_quietly(probe)
        if self.manifest_path:
            new = not os.path.exists(self.manifest_path) or \
                os.path.getsize(self.manifest_path) == 0
            try:
                self.manifest_file = open(self.manifest_path, "a", newline="", encoding="utf-8")
            except OSError as err:
                raise TargetFolderError(f"cannot write the manifest {self.manifest_path}: "
                                        f"{_reason(err, writing=True)}") from err
            # Rows gather in memory and go to the file in one write per flush.
            self._rows = io.StringIO()
            self.writer = csv.writer(self._rows)
            if new:
                self.writer.writerow(MANIFEST_FIELDS)
                self._flush_manifest()

    def directory(self, folder_name: Optional[str]) -> str:
        """The target folder for a label (created); raises OSError/ImageLabError."""
        key = folder_name or ""
        if key not in self._dirs:
            path = os.path.join(self.root, folder_name) if folder_name else self.root
            try:
                os.makedirs(path, exist_ok=True)
                if not os.path.isdir(path):
                    raise ImageLabError(f"{folder_name} exists and is not a folder")
                real = os.path.realpath(path)
                if os.path.commonpath([real, self.real_root]) != self.real_root:
                    raise ImageLabError(f"folder {folder_name!r} leads outside the target folder")
                self._dirs[key] = path
            except FileExistsError:
                self._dirs[key] = ImageLabError(f"{folder_name} exists and is not a folder")
            except (OSError, ImageLabError) as err:
                self._dirs[key] = err
        result = self._dirs[key]
        if isinstance(result, BaseException):
            raise result
        return result

    # -- worker step: bytes into a temporary file next to the target
    def prepare(self, job: _Job, mode: Optional[str] = None) -> _Job:
        mode = mode or self.mode
        if mode in ("copy", "link") and not job.url:
            # Copied or linked by place(): one exclusive create under the
            # final name is a third of the file-system calls of a temporary
            # file + link.
            job.direct = True
            return job
        temp = _temp_path(job.directory)
        job.temp = temp
        try:
            if mode == "convert":
                job.sha256, job.bytes = self._convert(job.source, temp)
            else:  # a URL, in copy or link mode: downloaded
                try:
                    data = decoding.read_bytes(job.source)
                except ImageError as err:
                    raise _SourceError(err) from err
                job.sha256, job.bytes = _write_bytes(data, temp)
        except BaseException:
            _remove_quietly(temp)
            job.temp = None
            raise
        return job

    def _convert(self, source: str, temp: str) -> tuple:
        fmt = self.format
        try:
            if fmt is None:  # keep the format the file name promises (else PNG)
                fmt = _format_of(source)
            pil_format, _, alpha = FORMATS[fmt]
            image = decoding.load_image(source, max_side=self.max_size, keep_alpha=alpha)
        except ImageError as err:
            raise _SourceError(err) from err
        options = {"quality": self.quality} if pil_format in ("JPEG", "WEBP") else {}
        if pil_format == "PNG":
            options["compress_level"] = 6
        with open(temp, "xb") as out:
            image.save(out, format=pil_format, **options)
        return sha256_file(temp), os.path.getsize(temp)

    # -- main-thread step: take a final name, never replacing anything
    def reserved_name(self, directory: str) -> Optional[str]:
        """A name no saved file may take in ``directory`` (case-folded)."""
        return MANIFEST_NAME if directory == self.root else None

    def place(self, job: _Job) -> tuple:
        """Return (destination, status)."""
        if job.present:
            return job.present, "already present"
        if job.direct:
            destination, status, job.sha256, job.bytes = place_file(
                job.source, job.directory, job.name, self.reserved_name(job.directory),
                self.how)
            return destination, status
        # a converted or downloaded file, in a temporary file next to the target
        try:
            for target in free_name_candidates(job.directory, job.name,
                                               self.reserved_name(job.directory)):
                try:
                    _link_exclusive(job.temp, target)
                except FileExistsError:
                    if _same_content(target, job.bytes, job.sha256):
                        return target, "already present"
                    continue
                return target, "saved"
        finally:
            _remove_quietly(job.temp)  # linked to its final name, or not needed

    def record(self, source, destination, label, sha, size, status, note=""):
        if self.writer is None:
            return
        if not destination:
            rel = ""
        elif destination.startswith(self._root_prefix):
            rel = destination[len(self._root_prefix):].replace(os.sep, "/")
        else:
            rel = os.path.relpath(destination, self.root).replace(os.sep, "/")
        row = (self._now(), source, rel, "" if label is None else str(label), sha,
               str(size) if destination else "", self.mode, status, note)
        line = ",".join(row)
        if line.count(",") == len(row) - 1 and not _CSV_QUOTED.search(line):
            self._rows.write(line + "\r\n")  # what csv.writer writes, five times faster
        else:
            self.writer.writerow(row)
        # Flushed a few times a second, not per row (a write call per file
        # costs more than a small copy's hashing); close() flushes the rest,
        # also on Cancel or an error, so a stopped run's manifest is whole.
        if time.monotonic() - self._flushed >= _MANIFEST_FLUSH_SECONDS:
            self._flush_manifest()

    def _flush_manifest(self):
        self.manifest_file.write(self._rows.getvalue())
        self.manifest_file.flush()
        self._rows.seek(0)
        self._rows.truncate()
        self._flushed = time.monotonic()

    def close(self):
        if self.manifest_file is not None:
            try:
                self._flush_manifest()
            finally:
                self.manifest_file.close()
                self.manifest_file = None


class _Done:
    """A finished 'future' for work run inline."""
    def __init__(self, fn, args):
        self._error = None
        try:
            self._value = fn(*args)
        except BaseException as err:  # noqa: BLE001 - re-raised by result()
            self._error = err

    def result(self):
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self):
        return False

    def cancelled(self):
        return False


class _Inline:
    """The executor interface, running each job at once in this thread."""
    def submit(self, fn, *args):
        return _Done(fn, args)

    def shutdown(self, wait=True):
        pass


def _check_options(mode, fmt, max_size, n_sources, labels):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if fmt is not None:
        key = _FORMAT_ALIASES.get(str(fmt).lower(), str(fmt).lower())
        if key not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
        if mode != "convert":
            raise ValueError(f"format={fmt!r} needs mode='convert' (mode is {mode!r})")
        fmt = key
    if max_size is not None:
        if mode != "convert":
            raise ValueError(f"max_size needs mode='convert' (mode is {mode!r})")
        if int(max_size) < 1:
            raise ValueError(f"max_size must be a positive number of pixels; got {max_size}")
        max_size = int(max_size)
    if labels is not None and len(labels) != n_sources:
        raise ValueError(f"got {n_sources} sources but {len(labels)} labels")
    return fmt, max_size


def save_files(sources: Sequence[Optional[str]], folder, *,
               labels: Optional[Sequence[Optional[str]]] = None,
               mode: str = "copy", format: Optional[str] = None,
               max_size: Optional[int] = None, manifest: bool = True,
               quality: int = 90, fixed_folders: Optional[Dict[Hashable, str]] = None,
               threads: Optional[int] = None, hash_links: bool = True,
               callback: ProgressCallback = None) -> SaveReport:
    """Save files into ``folder``, one subfolder per label; never overwrite.

    Parameters
    ----------
    sources : sequence of n paths or URLs (None for a missing one)
    folder : the target folder (created if needed)
    labels : sequence of n labels (str, or None for ``_unlabeled``), or None
        to put every file directly into ``folder``; a key of ``fixed_folders``
        is also accepted as a label (e.g. a marker for ``_review``)
    mode : "copy" (byte for byte), "link" (hard link; a copy across devices)
        or "convert" (re-encode to ``format``, default the source's format)
    format : "jpeg", "png", "webp", "tiff" or "bmp" (``mode="convert"`` only)
    max_size : in convert mode, scale down so the longest side is at most this
    manifest : append a row per file to ``folder/manifest.csv``
    hash_links : in link mode, compute SHA-256 for the manifest (reads files)
    callback : ``callback(fraction)``; may raise ``Cancelled``, which stops
        after the file in hand and keeps everything saved and recorded so far

    Returns a ``SaveReport``. Raises ``TargetFolderError`` if ``folder``
    cannot be written to at all; per-file problems are reported as skipped.
    """
    sources = list(sources)
    fmt, max_size = _check_options(mode, format, max_size, len(sources), labels)
    callback = checked(callback)
    saver = _Saver(folder, mode, fmt, max_size, quality, manifest, hash_links)
    saver.open_root()
    report = SaveReport(folder=saver.root, n_inputs=len(sources),
                        manifest=saver.manifest_path,
                        destinations=[None] * len(sources))
    if labels is not None:
        report.folders = folder_names(labels, fixed={
            **(fixed_folders or {}), ("manifest",): MANIFEST_NAME})
        report.folders.pop(("manifest",), None)
    labels = list(labels) if labels is not None else [None] * len(sources)
    ext = FORMATS[fmt][1] if fmt else None

    def skip(index, path, reason, label=None):
        report.skipped.append(SkippedFile(index, str(path), reason))
        saver.record(str(path), None, label, "", 0, "skipped", reason)

    def jobs():
        for index, (source, label) in enumerate(zip(sources, labels)):
            if source is None or source == "":
                skip(index, "", "no image location (missing value)", label)
                yield None
                continue
            source = str(source)
            try:
                directory = saver.directory(report.folders.get(label) if report.folders else None)
            except (OSError, ImageLabError) as err:
                reason = _reason(err, writing=True) if isinstance(err, OSError) else str(err)
                skip(index, source, reason, label)
                yield None
                continue
            url = is_url(source)
            name = _source_name(source, url)
            if mode == "convert":
                target_ext = ext or FORMATS[_format_of(name)][1]
                stem, old_ext = os.path.splitext(name)
                if old_ext.lower() not in _EXTENSIONS or \
                        _EXTENSIONS[old_ext.lower()] != _format_of(target_ext):
                    name = stem + target_ext
            text_label = label if isinstance(label, str) or label is None \
                else report.folders.get(label)
            yield _Job(index, source, text_label, directory, name, url=url)

    def finish(job, destination, status):
        """Report and record a file that is now in the target folder."""
        item = SavedFile(job.index, job.source, destination, job.label,
                         job.sha256, job.bytes, status, job.name)
        report.destinations[job.index] = destination
        if status == "saved":
            report.saved.append(item)
            renamed = not destination.endswith(os.sep + job.name)
        else:
            report.already_present.append(item)
            renamed = False
        saver.record(job.source, destination, job.label, job.sha256, job.bytes,
                     status, "renamed" if renamed else "")

    n = max(len(sources), 1)
    done = 0

    def copy_in_workers(job_iter, n_workers):
        """Copy or link local files in batches in worker processes, in input order.

        Returns the jobs left for this thread, in input order: URLs, a second
        file for a name already taken in this run (so the first one keeps the
        name, as when copying one by one), and the rest if a worker fails.
        """
        nonlocal done
        workers = CopyWorkers(n_workers)
        left, claimed, batch, in_flight = [], set(), [], deque()
        broken = False

        def collect(progress=True):
            nonlocal done, broken
            batch_jobs, future = in_flight.popleft()
            try:
                results = future.result()
            except WorkerFailed:
                broken = True
                left.extend(batch_jobs)
                return
            for job, (_, status, where, sha, size) in zip(batch_jobs, results):
                if status == "skipped":
                    skip(job.index, job.source, where, job.label)
                else:
                    job.sha256, job.bytes = sha, size
                    finish(job, where, status)
            done += len(batch_jobs)
            if progress:
                callback(done / n)

        def submit():
            items = [(job.index, job.source, job.directory, job.name,
                      saver.reserved_name(job.directory), saver.how) for job in batch]
            in_flight.append((list(batch), workers.submit(items)))
            batch.clear()

        try:
            for job in job_iter:
                if job is None:
                    done += 1
                    continue
                key = (job.directory, job.name.casefold())
                if job.url or key in claimed:
                    left.append(job)
                    continue
                claimed.add(key)
                batch.append(job)
                if len(batch) == _COPY_BATCH:
                    submit()
                while len(in_flight) >= 2 * n_workers or in_flight and in_flight[0][1].done():
                    collect()
                if broken:
                    break
            if batch and broken:
                left.extend(batch)
            elif batch:
                submit()
            while in_flight:
                collect()
        except BaseException:
            # Cancelled (or an error): start nothing more, but report and
            # record the batches under way: their files are on disk now.
            for _, future in in_flight:
                future.cancel()
            while in_flight:
                if in_flight[0][1].cancelled():
                    in_flight.popleft()
                else:
                    collect(progress=False)
            raise
        finally:
            workers.close()
        return sorted(left, key=lambda job: job.index)

    # Threads speed up converting (Pillow decodes and encodes without Python's
    # lock) but not copying or linking, which are bound by system calls and
    # hashing: many go to worker processes instead (measured, see filecopy).
    n_workers = threads or min(os.cpu_count() or 1, _MAX_COPY_WORKERS)
    parallel_copy = mode in ("copy", "link") and n_workers > 1 and \
        len(sources) >= _PARALLEL_COPY_MIN
    n_threads = threads or ((os.cpu_count() or 2) if mode == "convert" else 1)
    window = 4 * n_threads if n_threads > 1 else 1
    pending = deque()
    pool = ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else _Inline()
    try:
        job_iter = jobs()
        if parallel_copy:
            job_iter = iter(copy_in_workers(job_iter, n_workers) + list(job_iter))
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                job = next(job_iter, StopIteration)
                if job is StopIteration:
                    exhausted = True
                elif job is None:
                    done += 1
                elif mode == "copy" and not job.url:
                    # nothing to do ahead: place() copies it, so no trip to a thread
                    pending.append((job, _Done(saver.prepare, (job,))))
                else:
                    pending.append((job, pool.submit(saver.prepare, job)))
            if not pending:
                callback(done / n)
                break
            job, future = pending.popleft()
            try:
                future.result()
                destination, status = saver.place(job)
            except _SourceError as err:
                skip(job.index, job.source, _reason(err.err, writing=False), job.label)
            except OSError as err:
                skip(job.index, job.source, _reason(err, writing=True), job.label)
            except ImageLabError as err:
                skip(job.index, job.source, str(err), job.label)
            else:
                finish(job, destination, status)
            done += 1
            callback(done / n)
    except BaseException:
        for job, future in pending:
            future.cancel()
        for job, future in pending:
            if not future.cancelled():
                try:
                    future.result()
                except BaseException:  # noqa: BLE001 - cleaning up after a stop
                    pass
            _remove_quietly(job.temp)
        raise
    finally:
        pool.shutdown(wait=True)
        saver.close()
    for files in (report.saved, report.already_present, report.skipped):
        files.sort(key=lambda f: f.index)
    return report


__all__ = ["save_files", "SaveReport", "SavedFile", "SkippedFile", "TargetFolderError",
           "safe_name", "folder_names", "MODES", "FORMATS", "UNLABELED", "MANIFEST_NAME",
           "Cancelled"]
