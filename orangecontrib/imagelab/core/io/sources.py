"""Find images in folders and zip archives, safely, and read their headers.

    >>> result = scan_folder("photos/")          # doctest: +SKIP
    >>> result.records[0]                        # doctest: +SKIP
    ImageRecord(path='cats/IMG_1.jpg', size=52731, width=640, height=480,
                format='JPEG', label='cats')

Rules (the same for folders and extracted archives):

- Hidden files and folders (names starting with ".") are ignored, and so are
  text and metadata side files (``.csv``, ``.json``, ``.txt``, ...; see
  ``SIDE_FILE_SUFFIXES``). Every other file is checked; one that is not a
  readable image becomes a ``SkippedEntry`` with a short reason.
- Symbolic links are followed only when they point inside the root; a link
  out of the root is skipped and reported, never read.
- The label of an image is its innermost folder; images directly in the root
  have no label (None).
- A zip archive is extracted once into ``cache_dir()/archives/<hash>/``, keyed
  by the archive's content hash. Entries with absolute paths or ``..`` and
  links are refused and reported; limits on the total uncompressed size and
  on the compression ratio stop archive bombs with an ``ArchiveError``.
  Nothing is written outside the cache folder and source files are only read.
"""
import hashlib
import json
import os
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from ..pixels import decoding
from ..pixels.decoding import ImageInfo
from ..errors import ArchiveError, ImageError, SkippedEntry, as_image_error, reason
from ..executors import cores, get_executor
from ..paths import cache_dir
from ..progress import ProgressCallback, checked, sub_range

#: Files with these suffixes are never images; they are ignored, not reported.
SIDE_FILE_SUFFIXES = frozenset((
    ".csv", ".tsv", ".json", ".txt", ".md", ".rst", ".xml", ".yaml", ".yml",
    ".ini", ".log", ".html", ".htm", ".db", ".sqlite", ".ows", ".tab",
    ".part"))  # downloads in progress (core.io.download)

#: Default safety limits for zip archives.
MAX_ARCHIVE_BYTES = 8 * 1024 ** 3       # total uncompressed size
MAX_COMPRESSION_RATIO = 200             # per entry, for entries above 1 MiB
_RATIO_MIN_BYTES = 1024 ** 2

_MANIFEST = ".imagelab-archive.json"    # hidden, so scans ignore it
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One readable image: ``path`` is relative to the root, with "/".
    ``width``/``height`` as displayed (after the EXIF orientation);
    ``stored_size`` is the stored pixels' (boxes are given in them)."""
    path: str
    size: int               # bytes
    width: int
    height: int
    format: str             # Pillow's format name, e.g. "JPEG"
    label: Optional[str]    # innermost folder; None at the root
    orientation: int = 1    # EXIF orientation, 1-8

    @property
    def stored_size(self) -> Tuple[int, int]:
        if self.orientation in decoding.SWAPPED_ORIENTATIONS:
            return self.height, self.width
        return self.width, self.height


@dataclass
class ScanResult:
    """Images found under ``origin`` (absolute), sorted by path."""
    origin: str
    records: List[ImageRecord] = field(default_factory=list)
    skipped: List[SkippedEntry] = field(default_factory=list)

    @property
    def labels(self) -> List[str]:
        """Distinct labels, sorted."""
        return sorted({r.label for r in self.records if r.label is not None})

    @property
    def n_folders(self) -> int:
        """Number of distinct folders (the root counts) holding images."""
        return len({r.path.rpartition("/")[0] for r in self.records})


# ---------------------------------------------------------------- walking


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_files(root, *, callback: ProgressCallback = None
               ) -> Tuple[List[Tuple[str, str, int]], List[SkippedEntry]]:
    """Candidate image files under ``root``.

    Returns ``([(relative path with "/", absolute path, size in bytes)],
    skipped)``, sorted by relative path. ``callback(0)`` is called once per
    folder so that a long walk can be cancelled.
    """
    callback = checked(callback)
    root = os.path.abspath(os.fspath(root))
    real_root = os.path.realpath(root)
    files, skipped = [], []
    visited = {real_root}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        callback(0.0)
        try:
            with os.scandir(folder) as entries:
                entries = list(entries)
        except OSError as err:
            skipped.append(SkippedEntry(prefix.rstrip("/") or ".",
                                        f"folder unreadable ({err.strerror or err})"))
            continue
        for entry in entries:
            name = entry.name
            if _is_hidden(name):
                continue
            rel = prefix + name
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not _inside(target, real_root):
                        skipped.append(SkippedEntry(
                            rel, "symbolic link points outside the folder; not followed"))
                        continue
                    if os.path.isdir(target):
                        if target not in visited:
                            visited.add(target)
                            stack.append((entry.path, rel + "/"))
                        continue
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/"))
                    continue
                if not entry.is_file():
                    continue  # sockets, fifos, broken links
                if os.path.splitext(name)[1].lower() in SIDE_FILE_SUFFIXES:
                    continue
                size = entry.stat().st_size
            except OSError as err:
                skipped.append(SkippedEntry(rel, reason(err)))
                continue
            files.append((rel, entry.path, size))
    files.sort(key=lambda f: f[0])
    skipped.sort(key=lambda s: s.path)
    return files, skipped


# ---------------------------------------------------------------- headers

_HEAD_BYTES = 1 << 12
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"IEND\xaeB`\x82"
_PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}


def _jpeg_info(head: bytes) -> Optional[ImageInfo]:
    header = decoding.jpeg_header(head, until_scan=False)
    if header is None:
        return None
    mode = _JPEG_MODES.get(header.components)
    return ImageInfo(header.width, header.height, "JPEG", mode, header.orientation) \
        if mode else None


def _png_info(head: bytes) -> Optional[ImageInfo]:
    if len(head) < 26 or head[12:16] != b"IHDR" or head[24] != 8:
        return None
    mode = _PNG_MODES.get(head[25])
    width = int.from_bytes(head[16:20], "big")
    height = int.from_bytes(head[20:24], "big")
    return ImageInfo(width, height, "PNG", mode) if mode else None


def quick_probe(path: str, size: Optional[int] = None) -> Optional[ImageInfo]:
    """Header of a plain, complete JPEG or PNG, read without Pillow; else None.

    A fast path for the common case: it returns an ``ImageInfo`` only when
    the header parses, the size is sane, and the file ends with its format's
    end marker. Anything unusual returns None, and the caller falls back to
    ``decoding.probe``, which gives the precise reason. ``size`` (bytes), if
    known, saves a system call.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        head = os.read(fd, _HEAD_BYTES)
        if head[:3] == b"\xff\xd8\xff":
            info, end = _jpeg_info(head), b"\xff\xd9"
            if info is None and len(head) == _HEAD_BYTES:  # a long EXIF block
                head += os.read(fd, 1 << 17)
                info = _jpeg_info(head)
        elif head[:8] == _PNG_SIGNATURE:
            info, end = _png_info(head), _PNG_END
        else:
            return None
        if info is None:
            return None
        if size is None:
            size = os.fstat(fd).st_size
        tail = head[-16:] if len(head) >= size else os.pread(fd, 16, size - 16)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not tail.endswith(end) or info.width <= 0 or info.height <= 0 \
            or decoding.smallest_decode(info.format, info.width, info.height) \
            > decoding.MAX_PIXELS:
        return None
    return info


def _label(rel: str) -> Optional[str]:
    # NFC: a folder name typed on macOS (NFD) and on Linux (NFC) is one category
    parts = rel.split("/")
    return unicodedata.normalize("NFC", parts[-2]) if len(parts) > 1 else None


def probe_files(files, *, check_full: bool = False, workers: Optional[int] = None,
                callback: ProgressCallback = None
                ) -> Tuple[List[ImageRecord], List[SkippedEntry]]:
    """Read the headers (or, with ``check_full``, decode) ``files`` from ``walk_files``.

    Plain JPEGs and PNGs are checked by ``quick_probe`` in this thread (it
    is faster than any pool for warm files); the rest, or all files with
    ``check_full``, are probed by Pillow in a thread pool of ``workers``.
    """
    callback = checked(callback)
    n = len(files)
    infos: List[object] = [None] * n
    slow = []
    step = 500
    if check_full:
        slow = list(range(n))
    else:
        for start in range(0, n, step):
            callback(0.5 * start / max(n, 1))
            for i in range(start, min(start + step, n)):
                info = quick_probe(files[i][1], files[i][2])
                if info is None:
                    slow.append(i)
                else:
                    infos[i] = info
    if slow:
        first = 0.0 if check_full else 0.5 * (n - len(slow)) / n
        report = sub_range(callback, first, 1.0)

        def job(i):
            path = files[i][1]
            try:
                return decoding.probe(path, full=check_full)
            except Exception as err:  # pylint: disable=broad-except
                # one bad file must not stop the others (see as_image_error)
                return as_image_error(path, err)

        workers = workers or min(8, cores() + 2)
        with get_executor("threads", max_workers=workers, name="imagelab-probe") as pool:
            for start in range(0, len(slow), 64):
                report(start / len(slow))
                chunk = slow[start:start + 64]
                for i, info in zip(chunk, pool.map(job, chunk)):
                    infos[i] = info
    callback(1.0)
    records, skipped = [], []
    for (rel, _, size), info in zip(files, infos):
        if isinstance(info, ImageError):
            skipped.append(SkippedEntry(rel, info.reason))
        else:
            records.append(ImageRecord(rel, size, *info.display_size,
                                       info.format, _label(rel), info.orientation))
    return records, skipped


def scan_folder(root, *, check_full: bool = False,
                callback: ProgressCallback = None) -> ScanResult:
    """All images under the folder ``root``, with their headers checked.

    ``check_full=True`` decodes every image fully (slow; catches damage that
    headers do not show). ``callback(fraction)`` may raise ``Cancelled``.
    Raises ``FileNotFoundError``/``NotADirectoryError`` for a bad root.
    """
    root = os.path.abspath(os.fspath(root))
    if not os.path.exists(root):
        raise FileNotFoundError(f"folder not found: {root}")
    if not os.path.isdir(root):
        raise NotADirectoryError(f"not a folder: {root}")
    callback = checked(callback)
    files, skipped = walk_files(root, callback=sub_range(callback, 0.0, 0.05))
    records, bad = probe_files(files, check_full=check_full,
                               callback=sub_range(callback, 0.05, 1.0))
    skipped = sorted(skipped + bad, key=lambda s: s.path)
    return ScanResult(root, records, skipped)


# ---------------------------------------------------------------- archives


def file_hash(path, *, callback: ProgressCallback = None) -> str:
    """BLAKE2b (128-bit, hex) of a file's content."""
    callback = checked(callback)
    total = max(os.path.getsize(path), 1)
    digest = hashlib.blake2b(digest_size=16)
    done = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * _CHUNK), b""):
            digest.update(block)
            done += len(block)
            callback(done / total)
    return digest.hexdigest()


def _unsafe_reason(name: str) -> Optional[str]:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path in archive; refused"
    if ".." in name.replace("\\", "/").split("/"):
        return "path with '..' in archive; refused"
    return None


def _is_link(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _entry_name(name: str) -> str:
    """An entry's path without "." parts ("./a/./b.jpg" -> "a/b.jpg")."""
    return "/".join(part for part in name.replace("\\", "/").split("/")
                    if part not in ("", "."))


def _entries(infos) -> Tuple[list, list]:
    """(entries to extract, [(name, reason)] refused) of a zip's entries.

    Refused, by name: absolute paths, "..", links, a second entry with the
    same name, and a file whose name is also a folder of other entries.
    Hidden files and folders are left out silently, as in folders.
    """
    refused, files = [], {}
    folders = set()
    for info in infos:
        name = info.filename
        why = _unsafe_reason(name)
        if why is None and _is_link(info):
            why = "symbolic link in archive; refused"
        clean = _entry_name(name)
        if why:
            refused.append((name, why))
        elif not clean or any(_is_hidden(part) for part in clean.split("/")):
            continue
        elif info.is_dir():
            folders.add(clean)
        elif clean in files:
            refused.append((name, "a second entry with the same name; the first is kept"))
        else:
            files[clean] = info
        parts = clean.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    wanted = []
    for clean, info in files.items():
        if clean in folders:
            refused.append((info.filename, "a file and a folder share this name; "
                                           "the file is skipped"))
        else:
            wanted.append(info)
    return wanted, refused


def _check_limits(infos, archive, max_bytes, max_ratio):
    total = sum(info.file_size for info in infos)
    if total > max_bytes:
        raise ArchiveError(
            f"{archive}: unpacks to {total:,} bytes, more than the limit of "
            f"{max_bytes:,}; extract it yourself and import the folder")
    for info in infos:
        if info.file_size > _RATIO_MIN_BYTES and \
                info.file_size > max_ratio * max(info.compress_size, 1):
            raise ArchiveError(
                f"{archive}: entry '{info.filename}' is compressed "
                f"{info.file_size / max(info.compress_size, 1):,.0f}:1, more than "
                f"the limit of {max_ratio}:1 (a zip bomb?); not extracted")
    packed = sum(info.compress_size for info in infos)
    if total > _RATIO_MIN_BYTES and total > max_ratio * max(packed, 1):
        # many small entries, each under the per-entry check, can still be a bomb
        raise ArchiveError(
            f"{archive}: its {len(infos):,} entries unpack to {total:,} bytes from "
            f"{packed:,}, {total / max(packed, 1):,.0f}:1, more than the limit of "
            f"{max_ratio}:1 (a zip bomb?); not extracted")


def extract_archive(archive, *, max_bytes: int = MAX_ARCHIVE_BYTES,
                    max_ratio: float = MAX_COMPRESSION_RATIO,
                    callback: ProgressCallback = None
                    ) -> Tuple[str, List[SkippedEntry]]:
    """Extract a zip archive once into the cache; return (folder, refused entries).

    The folder is ``cache_dir()/archives/<content hash>``; a second call with
    the same content reuses it. Extraction goes to a temporary folder that is
    renamed when complete, so a cancelled or failed run leaves nothing half
    done. Raises ``ArchiveError`` for an unreadable archive or one over the
    limits (checked on the declared sizes before writing anything, and on the
    bytes actually written).
    """
    archive = os.path.abspath(os.fspath(archive))
    callback = checked(callback)
    if not os.path.isfile(archive):
        raise ArchiveError(f"{archive}: file not found")
    key = file_hash(archive, callback=sub_range(callback, 0.0, 0.1))
    base = cache_dir() / "archives"
    base.mkdir(parents=True, exist_ok=True)
    target = base / key
    manifest = target / _MANIFEST
    if manifest.exists():
        refused = json.loads(manifest.read_text(encoding="utf-8"))["refused"]
        callback(1.0)
        return str(target), [SkippedEntry(p, r) for p, r in refused]

    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArchiveError(f"{archive}: not a readable zip archive ({err})") from err
    with zf:
        wanted, refused = _entries(zf.infolist())
        _check_limits(wanted, archive, max_bytes, max_ratio)
        temp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=base))
        try:
            _extract(zf, wanted, temp, archive, max_bytes,
                     sub_range(callback, 0.1, 1.0))
            (temp / _MANIFEST).write_text(
                json.dumps({"archive": archive, "refused": refused}),
                encoding="utf-8")
            try:
                os.rename(temp, target)
            except OSError:
                if not (target / _MANIFEST).exists():
                    raise
                shutil.rmtree(temp, ignore_errors=True)  # another run won the race
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    return str(target), [SkippedEntry(p, r) for p, r in refused]


def _extract(zf, infos, temp: Path, archive, max_bytes, callback):
    real_temp = os.path.realpath(temp)
    total = max(sum(info.file_size for info in infos), 1)
    written = 0
    for info in infos:
        parts = _entry_name(info.filename).split("/")
        path = os.path.realpath(os.path.join(real_temp, *parts))
        if not _inside(path, real_temp) or path == real_temp:
            raise ArchiveError(f"{archive}: entry '{info.filename}' escapes the "
                               "extraction folder; not extracted")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        left = info.file_size
        try:
            with zf.open(info) as src, open(path, "xb") as dst:
                while True:
                    block = src.read(min(_CHUNK, left + 1))
                    if not block:
                        break
                    left -= len(block)
                    written += len(block)
                    if left < 0 or written > max_bytes:
                        raise ArchiveError(
                            f"{archive}: entry '{info.filename}' unpacks to more "
                            "bytes than declared or than the limit; not extracted")
                    dst.write(block)
                    callback(written / total)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError,
                NotImplementedError, RuntimeError) as err:
            raise ArchiveError(f"{archive}: cannot extract '{info.filename}' "
                               f"({err})") from err


def scan_archive(archive, *, check_full: bool = False,
                 callback: ProgressCallback = None) -> ScanResult:
    """Extract (once) and scan a zip archive; origin is the extraction folder."""
    callback = checked(callback)
    folder, refused = extract_archive(archive, callback=sub_range(callback, 0.0, 0.5))
    result = scan_folder(folder, check_full=check_full,
                         callback=sub_range(callback, 0.5, 1.0))
    result.skipped = sorted(result.skipped + refused, key=lambda s: s.path)
    return result


def iter_side_files(root, suffixes=(".csv", ".json")) -> Iterator[str]:
    """Non-hidden files with ``suffixes`` directly in ``root`` (annotation candidates)."""
    try:
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries
                           if e.is_file() and not _is_hidden(e.name)
                           and os.path.splitext(e.name)[1].lower() in suffixes)
    except OSError:
        return
    for name in names:
        yield os.path.join(root, name)
