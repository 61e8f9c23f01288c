"""Save files into folders, one per label: never deleting, never overwriting, with a manifest.

    >>> report = save_files(["a.jpg", "b.jpg"], "out", labels=["cats", "dogs"])  # doctest: +SKIP
    >>> report.summary()                                                          # doctest: +SKIP
    '2 saved'

Three steps, each in one place:

1. ``planning.plan_saves`` (pure, no file touched): rows -> ``SaveJob``s,
   each with a folder and a file name, or a skipped row.
2. ``TargetFolder`` creates the folders and refuses any folder inside the
   target that is a symbolic link (its files are skipped, never written
   through), and opens ``manifest.csv`` (``manifest.ManifestWriter``: never
   through a link, whole rows, no spreadsheet formulas).
3. Each file goes in through ``placing`` (see its rules: written aside and
   linked into place without replacing anything; the same content already
   there means "already present"; other content gives ``name (2).ext``):
   ``placing.stage`` (copying, converting, downloading, hashing) runs in one
   executor chosen up front (``core.executors``), ``placing.commit`` in the
   caller's thread in input order, which also writes the manifest rows.

Copying and linking run in the caller's thread: on the 2-core machine,
worker processes running the same primitive were no faster (0.8-1.1x one
thread) and threads were slower (they hand Python's lock back and forth
at every system call); see ``benchmarks/save_images.py``, which still
measures processes, to check on other machines. Converting (Pillow decodes
and encodes without the lock) and downloading run in threads, one per core.

A full disk: the file that does not fit is skipped ("disk full") and the run
goes on while the disk keeps ``MIN_FREE_BYTES`` free (a smaller file may
still fit); below that, or when a quota is exceeded, the run stops and
returns its report with ``stopped`` naming the disk. The manifest keeps a
row for every file on disk, and the next run appends to it.

GUI-free: takes plain lists (paths or URLs, labels as strings or None).
"""
import errno
import os
import stat
from dataclasses import dataclass, field
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

from ..errors import Cancelled, ImageLabError, reason
from ..executors import bounded_map, cores, get_executor
from ..pixels import decoding
from ..progress import ProgressCallback, checked
from .manifest import (
    MANIFEST_FIELDS,
    MANIFEST_NAME,
    ManifestLinkError,
    ManifestWriter,
    relative,
)
from .names import MAX_NAME_BYTES, UNLABELED, folder_names, safe_name
from .placing import (
    DISK_FULL,
    Placed,
    PlaceError,
    PlaceJob,
    Staged,
    commit,
    discard,
    failure,
    remove_quietly,
    stage,
    temp_path,
    write_staged,
)
from .planning import (
    FORMATS,
    MODES,
    SaveJob,
    SavePlan,
    SkippedFile,
    _format_of,
    check_options,
    plan_saves,
)

#: A run that meets a full disk stops when less than this is left.
MIN_FREE_BYTES = 64 * 1024


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


@dataclass
class SaveReport:
    """What ``save_files`` did. ``destinations[i]`` is where input ``i`` is now
    (None if it was skipped or not reached); ``folders`` maps each label to
    its folder name; ``stopped`` says why the run ended early (a full disk),
    None if it went through."""
    folder: str
    n_inputs: int = 0
    saved: List[SavedFile] = field(default_factory=list)
    already_present: List[SavedFile] = field(default_factory=list)
    skipped: List[SkippedFile] = field(default_factory=list)
    manifest: Optional[str] = None
    folders: Dict[Optional[str], str] = field(default_factory=dict)
    destinations: List[Optional[str]] = field(default_factory=list)
    stopped: Optional[str] = None

    @property
    def renamed(self) -> List[SavedFile]:
        """Saved files that got a new name (``name (2).jpg``) to avoid a clash."""
        return [f for f in self.saved if f.renamed]

    def summary(self, max_names: int = 3) -> str:
        """E.g. "12 saved (2 renamed), 3 already present, 1 of 16 skipped: a.jpg (file not
        found)"; with "; stopped: ..." when a full disk ended the run."""
        parts = [f"{len(self.saved):,} saved"
                 + (f" ({len(self.renamed):,} renamed)" if self.renamed else "")]
        if self.already_present:
            parts.append(f"{len(self.already_present):,} already present")
        if self.skipped:
            parts.append(f"{len(self.skipped):,} of {self.n_inputs:,} skipped: "
                         + skipped_names(self.skipped, max_names))
        text = ", ".join(parts)
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


def skipped_names(skipped: Sequence[SkippedFile], max_names: int = 3) -> str:
    """'a/b.jpg (file not found), c.jpg (truncated JPEG), ...'"""
    names = [f"{short_path(s.path)} ({s.reason})" for s in skipped[:max_names]]
    return ", ".join(names) + (", ..." if len(skipped) > max_names else "")


def short_path(path: str) -> str:
    """The last two components of a path: enough to find a file, short enough to show."""
    parts = str(path).replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:])


# --------------------------------------------------------- the target folder

class TargetFolder:
    """The folder saved into: created and checked once; its subfolders made
    on first use, never through a symbolic link."""

    def __init__(self, folder):
        self.root = os.path.abspath(os.fspath(folder))
        self._prefix = os.path.join(self.root, "")
        self._dirs: Dict[str, Union[str, BaseException]] = {}
        try:
            os.makedirs(self.root, exist_ok=True)
        except FileExistsError as err:
            raise TargetFolderError(f"cannot save into {self.root}: it is a file, "
                                    "not a folder; choose another folder") from err
        except OSError as err:
            raise TargetFolderError(f"cannot create {self.root}: "
                                    f"{reason(err, writing=True)}") from err
        if not os.path.isdir(self.root):
            raise TargetFolderError(f"cannot save into {self.root}: not a folder")
        probe = temp_path(self.root)
        try:
            open(probe, "xb").close()
        except OSError as err:
            raise TargetFolderError(f"cannot write into {self.root}: "
                                    f"{reason(err, writing=True).replace('cannot write: ', '')}; "
                                    "choose a folder you can write to") from err
        finally:
            remove_quietly(probe)

    def open_manifest(self, mode: str) -> ManifestWriter:
        try:
            return ManifestWriter(self.root, mode)
        except ManifestLinkError as err:
            raise TargetFolderError(
                f"{err.filename} is a symbolic link (to {os.readlink(err.filename)}); "
                "Image Lab never writes through links: remove it, or choose another "
                "folder") from err
        except OSError as err:
            if err.errno in DISK_FULL:
                raise
            raise TargetFolderError(f"cannot write the manifest {err.filename}: "
                                    f"{reason(err, writing=True)}") from err

    def directory(self, name: Optional[str]) -> str:
        """The folder for a subfolder name (made if needed); raises OSError or
        ImageLabError, the same one for every file of that folder."""
        if not name:
            return self.root
        found = self._dirs.get(name)
        if found is None:
            try:
                found = self._make(name)
            except (OSError, ImageLabError) as err:
                found = err
            self._dirs[name] = found
        if isinstance(found, BaseException):
            raise found
        return found

    def _make(self, name: str) -> str:
        path = os.path.join(self.root, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            try:
                os.mkdir(path)
                return path
            except FileExistsError:
                st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise ImageLabError(f"folder {name!r} is a symbolic link (to {os.readlink(path)}); "
                                "Image Lab never writes through links: remove the link or "
                                "choose another folder")
        if not stat.S_ISDIR(st.st_mode):
            raise ImageLabError(f"{name} exists and is not a folder")
        return path

    def relative(self, destination: str) -> str:
        return relative(destination, self.root, self._prefix)

    def full_disk(self, directory: str, err_errno: Optional[int],
                  always: bool = False) -> Optional[str]:
        """Why the run must stop after a write found the disk full, or None
        while a smaller file may still fit (unless ``always``)."""
        try:
            st = os.statvfs(directory)
            free: Optional[int] = st.f_bavail * st.f_frsize
        except (OSError, AttributeError):
            free = None  # no statvfs (Windows): stop to be safe
        if free is not None and free >= MIN_FREE_BYTES and err_errno != errno.EDQUOT \
                and not always:
            return None
        mount = self.root
        while not os.path.ismount(mount) and os.path.dirname(mount) != mount:
            mount = os.path.dirname(mount)
        what = "disk quota" if err_errno == errno.EDQUOT else "disk"
        left = "" if free is None else f", {free / 1024:,.0f} KiB free"
        return (f"the {what} holding {self.root} (mounted at {mount}) is full{left}; "
                "free some space or choose another folder, then save again (files already "
                "saved are kept and not written twice)")


# -------------------------------------------------------------------- running

class _Run:
    """One save run: stages jobs (in the executor's threads), commits and records them."""

    def __init__(self, target: TargetFolder, manifest: Optional[ManifestWriter],
                 report: SaveReport, fmt: Optional[str], max_size: Optional[int], quality: int):
        self.target = target
        self.manifest = manifest
        self.report = report
        self.format, self.max_size, self.quality = fmt, max_size, quality

    def with_directories(self, items):
        """(item, directory or the error that prevents it), made in this thread."""
        for item in items:
            if isinstance(item, SkippedFile):
                yield item, None
                continue
            try:
                yield item, self.target.directory(item.folder)
            except (OSError, ImageLabError) as err:
                yield item, err

    # -- in the executor
    def stage(self, entry):
        """(entry, what ``finish`` needs): (PlaceJob, Staged), a PlaceError or None."""
        return entry, self._stage(*entry)

    def _stage(self, item, directory) -> Union[Tuple[PlaceJob, Staged], PlaceError, None]:
        if isinstance(item, SkippedFile):
            return None
        if isinstance(directory, BaseException):
            return failure(item.source, directory)
        reserved = MANIFEST_NAME if directory == self.target.root else None
        if item.kind in ("convert", "download"):
            try:
                if item.kind == "convert":
                    staged = self._convert(item.source, directory)
                else:
                    data = decoding.read_bytes(item.source)
                    staged = write_staged(directory, lambda out: out.write(data))
            except Exception as err:  # noqa: BLE001 - one odd image never stops the run
                return failure(item.source, err)
            return PlaceJob(item.source, directory, item.name, "move", reserved), staged
        job = PlaceJob(item.source, directory, item.name, item.kind, reserved)
        try:
            return job, stage(job)
        except PlaceError as err:
            return err

    def _convert(self, source: str, directory: str) -> Staged:
        fmt = self.format or _format_of(source)  # keep the format the name promises
        pil_format, _, alpha = FORMATS[fmt]
        image = decoding.load_image(source, max_side=self.max_size, keep_alpha=alpha)
        options = {"quality": self.quality} if pil_format in ("JPEG", "WEBP") else {}
        if pil_format == "PNG":
            options["compress_level"] = 6
        return write_staged(directory, lambda out: image.save(out, format=pil_format, **options))

    @staticmethod
    def discard(staged) -> None:
        """Remove the temporary file of a staged job that will not be committed."""
        _, result = staged
        if isinstance(result, tuple):
            discard(result[1])

    # -- in the caller's thread, in input order
    def finish(self, entry, result) -> None:
        item = entry[0]
        if isinstance(item, SkippedFile):
            self.skip(item.index, item.path, item.reason, None)
            return
        if isinstance(result, PlaceError):
            self.skip(item.index, item.source, result.reason, item.label)
            if result.disk_full:
                self._check_disk(entry[1], result)
            return
        job, staged = result
        try:
            placed = commit(job, staged)
        except PlaceError as err:
            self.skip(item.index, item.source, err.reason, item.label)
            if err.disk_full:
                self._check_disk(job.directory, err)
            return
        self.saved(item, placed)

    def _check_disk(self, directory, err: PlaceError) -> None:
        message = self.target.full_disk(directory, err.disk_full)
        if message and not self.report.stopped:
            self.report.stopped = message

    def saved(self, item: SaveJob, placed: Placed) -> None:
        report = self.report
        entry = SavedFile(item.index, item.source, placed.destination, item.label,
                          placed.sha256, placed.bytes, placed.status, item.name)
        report.destinations[item.index] = placed.destination
        (report.saved if placed.status == "saved" else report.already_present).append(entry)
        note = "renamed" if placed.status == "saved" and entry.renamed else ""
        if item.note:
            note = f"{note}; {item.note}" if note else item.note
        self.record(item.source, self.target.relative(placed.destination), item.label,
                    placed.sha256, placed.bytes, placed.status, note)

    def skip(self, index: int, path: str, why: str, label: Optional[str]) -> None:
        self.report.skipped.append(SkippedFile(index, str(path), why))
        self.record(str(path), "", label, "", None, "skipped", why)

    def record(self, *row) -> None:
        if self.manifest is None:
            return
        try:
            self.manifest.add(*row)
        except OSError as err:
            self._manifest_failed(err)
            return
        if self.manifest.reserve_used and not self.report.stopped:
            self.report.stopped = self.target.full_disk(self.target.root, errno.ENOSPC,
                                                        always=True)

    def _manifest_failed(self, err: OSError) -> None:
        self.manifest = None  # no more rows: the file ends with its last whole row
        if not self.report.stopped:
            if err.errno in DISK_FULL:
                self.report.stopped = self.target.full_disk(self.target.root, err.errno,
                                                            always=True)
            else:
                self.report.stopped = (f"cannot write the manifest {self.report.manifest}: "
                                       f"{reason(err, writing=True)}")

    def close(self) -> None:
        if self.manifest is not None:
            try:
                self.manifest.close()
            except OSError as err:
                self._manifest_failed(err)


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
    threads : how many files are copied, converted or downloaded at once
        (default: one per core to convert or download, else 1)
    hash_links : in link mode, compute SHA-256 for the manifest (reads files)
    callback : ``callback(fraction)``; may raise ``Cancelled``, which stops
        after the file in hand and keeps everything saved and recorded so far

    Returns a ``SaveReport`` (also when a full disk stopped the run: see
    ``stopped``). Raises ``TargetFolderError`` if ``folder`` cannot be
    written to at all; per-file problems are reported as skipped.
    """
    sources = list(sources)
    fmt, max_size = check_options(mode, format, max_size, len(sources), labels)
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None; got {threads!r}")
    callback = checked(callback)
    plan = plan_saves(sources, labels=labels, mode=mode, format=fmt, hash_links=hash_links,
                      fixed_folders=fixed_folders)
    target = TargetFolder(folder)
    report = SaveReport(folder=target.root, n_inputs=len(sources),
                        manifest=os.path.join(target.root, MANIFEST_NAME) if manifest else None,
                        destinations=[None] * len(sources), folders=plan.folders)
    try:
        writer = target.open_manifest(mode) if manifest else None
    except OSError as err:  # a full disk (open_manifest raises the rest as TargetFolderError)
        report.stopped = target.full_disk(target.root, err.errno, always=True)
        return report
    run = _Run(target, writer, report, fmt, max_size, quality)
    if threads is None:
        parallel = mode == "convert" or any(isinstance(item, SaveJob) and
                                            item.kind == "download" for item in plan.items)
        threads = cores() if parallel else 1
    executor = get_executor("inline" if threads == 1 else "threads", max_workers=threads,
                            name="imagelab-save")
    n, done = max(len(sources), 1), 0
    results = bounded_map(executor, run.stage, run.with_directories(plan.items),
                          window=4 * threads if threads > 1 else 1, discard=run.discard,
                          poll=lambda: callback(done / n))  # Cancel while a download waits
    try:
        for entry, result in results:
            run.finish(entry, result)
            done += 1
            if report.stopped:
                break
            callback(done / n)
    finally:
        results.close()
        executor.shutdown(wait=True, cancel_futures=True)
        run.close()
    for files in (report.saved, report.already_present, report.skipped):
        files.sort(key=lambda f: f.index)
    return report


__all__ = ["save_files", "plan_saves", "SaveJob", "SavePlan", "TargetFolder",
           "SaveReport", "SavedFile", "SkippedFile", "TargetFolderError",
           "safe_name", "folder_names", "MODES", "FORMATS", "UNLABELED", "MANIFEST_NAME",
           "MANIFEST_FIELDS", "MAX_NAME_BYTES",
           "MIN_FREE_BYTES", "Cancelled"]
