"""Put one file into a folder: never overwriting, never through a link, never half-written.

    >>> job = PlaceJob("photos/a.jpg", "out/cats", "a.jpg", how="link")  # doctest: +SKIP
    >>> place(job)                                                       # doctest: +SKIP
    Placed(destination='out/cats/a.jpg', status='saved', sha256='9f86d0...', bytes=28114)

The one primitive that puts files where users keep them (Save Images,
Predictions to Folders, snapshots). Its rules:

* **Never overwrite, never half a file.** A copy is written to a file
  without a name in the target folder (Linux's ``O_TMPFILE``) and then
  linked under its name; elsewhere to a temporary name
  (``.imagelab-<pid>-<random>.part``), then hard-linked to its name and
  unlinked (renamed on Windows, where rename never replaces). ``link``
  fails if the name is taken, so nothing is ever replaced; a hard link to
  the source is made straight under its name. A copy killed mid-file
  leaves nothing (or a ``.part`` file), never a truncated file under the
  real name. (Measured: the unnamed file costs ~10 % over copying straight
  to the name, a temporary name ~35 %.)
* **A taken name** holding the same content (size, then SHA-256) means the
  file is already there: status "already present", nothing written, so
  reruns and two runs at once make no duplicates. Holding other content:
  the next free name, ``name (2).ext``, ... (with ``numbered=False``, a
  ``PlaceError`` instead, for content-addressed folders where a clash means
  damage).
* **Links.** A name that is a symbolic link is never written through,
  followed or taken for the same content: it is a taken name like any other.
* **Errors.** Every failure is a ``PlaceError`` (an ``ImageError``: ``path``,
  ``reason``, ``disk_full``), its reason from ``core.errors.reason``, reading
  the source told apart from writing the target (``failure`` is that
  mapping, for callers that write files of their own). Partial files of ours
  are removed.

``place(job)`` does it all. A caller with many jobs may split it:
``stage(job)`` copies and hashes (in any thread), ``commit(job, staged)``
takes the name (in input order, so the first of two files with one name
keeps it). The folder must exist; it is not checked for links here (see
``saving.TargetFolder``). Nothing is fsynced: a killed process is covered,
a power cut is up to the file system.

Standard library only: no Qt, no Pillow.
"""
import errno
import functools
import hashlib
import os
import stat
import threading
import uuid
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional, Tuple

from ..errors import ImageError, ImageLabError, reason
from .names import free_name_candidates

__all__ = ["PlaceJob", "Placed", "Staged", "PlaceError", "SourceError", "HOWS",
           "place", "stage", "commit", "discard", "failure", "write_staged", "temp_path",
           "sha256_file", "same_content", "remove_quietly"]

#: "copy": byte for byte, the modification time kept; "link": a hard link (a
#: copy across devices or where links cannot be made), with SHA-256; "link
#: unhashed": the same without reading the file (``sha256`` is "" unless a
#: clash needs it); "move": the staged file is moved into place (or removed
#: when the file is already there): one from ``write_staged`` passed to
#: ``commit``, or, for ``place``/``stage``, ``source`` itself, a temporary
#: file of the caller's in ``directory``.
HOWS = ("copy", "link", "link unhashed", "move")
CHUNK = 1 << 20
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

_O_SOURCE = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | \
    getattr(os, "O_NONBLOCK", 0)  # a FIFO given as a source must not hang the run
_O_TARGET = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_BINARY", 0)
_O_COMPARE = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | \
    getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
# Where hard links cannot be made: another device, or a file system without them.
_NO_LINKS = (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
             errno.ENOSYS, errno.EINVAL)


@dataclass(frozen=True)
class PlaceJob:
    """One file to put into a folder.

    ``source``: a local file (see ``HOWS`` for "move"). ``directory``: an
    existing folder. ``name``: the wanted name, one component (make it with
    ``names.safe_name``). ``reserved``: a case-folded name never to take (a
    manifest's). ``sha256``: the source's digest if the caller knows it (saves
    a read in link mode). ``bytes``: with ``sha256``, the size the caller
    found when it hashed the source, a regular file: link mode then makes no
    ``stat`` either, and the caller checks the link it gets (snapshots compare
    its inode, size and time with the file they hashed).
    """
    source: str
    directory: str
    name: str
    how: str = "copy"
    reserved: Optional[str] = None
    numbered: bool = True
    sha256: Optional[str] = None
    bytes: Optional[int] = None


@dataclass(frozen=True)
class Placed:
    """Where a job's file now is: ``status`` is "saved" or "already present"."""
    destination: str
    status: str
    sha256: str
    bytes: int


@dataclass
class Staged:
    """What ``stage`` prepared: the source's digest and size and, for a copy,
    the copy: an open unnamed file (``fd``) or a temporary file (``temp``)."""
    temp: Optional[str]
    sha256: str
    bytes: int
    fd: Optional[int] = None


class PlaceError(ImageError):
    """A file could not be placed. ``reading``: the source could not be read
    (else writing failed); ``disk_full``: the error number when the disk
    (``ENOSPC``) or the user's quota (``EDQUOT``) is full, else 0."""

    def __init__(self, path, reason, *, reading: bool = False, disk_full: int = 0):
        super().__init__(path, reason)
        self.reading = reading
        self.disk_full = disk_full


class SourceError(Exception):
    """Reading the source failed (as opposed to writing the target): wraps ``err``."""

    def __init__(self, err: OSError):
        super().__init__(str(err))
        self.err = err


def failure(path: str, err: BaseException) -> PlaceError:
    """THE mapping of what went wrong placing one file to a ``PlaceError``.

    ``SourceError`` reads as a reading failure ("file not found"), any other
    ``OSError`` as a writing one ("disk full", "cannot write: ..."), an
    ``ImageError`` keeps its reason (e.g. from decoding a file to convert).
    """
    if isinstance(err, PlaceError):
        return err
    if isinstance(err, SourceError):
        return PlaceError(path, reason(err.err, writing=False), reading=True)
    if isinstance(err, OSError):
        return PlaceError(path, reason(err, writing=True),
                          disk_full=err.errno if err.errno in DISK_FULL else 0)
    return PlaceError(path, reason(err))


_MAPPED = (OSError, SourceError, ImageLabError)


# ------------------------------------------------------------------ steps

def place(job: PlaceJob) -> Placed:
    """Put ``job.source`` into ``job.directory`` (see the module's rules).

    Returns ``Placed``; raises ``PlaceError`` for this file and nothing else
    (a ``BaseException`` such as ``KeyboardInterrupt`` passes through, after
    removing the temporary file).
    """
    return commit(job, stage(job))


def stage(job: PlaceJob) -> Staged:
    """The copying and hashing of ``place``, safe to run in any thread.

    A copy whose name is free is made now (an unnamed file, or a temporary
    name); one whose name is taken is only hashed, for ``commit`` to compare. Raises
    ``PlaceError``; pass the result to ``commit`` or ``discard``.
    """
    if job.how not in HOWS:
        raise ValueError(f"how must be one of {', '.join(HOWS)}; got {job.how!r}")
    try:
        if job.how == "copy":
            if _taken(os.path.join(job.directory, job.name)):
                return Staged(None, *_hash_source(job.source))
            return _copy_to_staged(job.source, job.directory)
        if job.how == "move":
            digest = job.sha256 or sha256_file(job.source)
            return Staged(job.source, digest, os.path.getsize(job.source))
        if job.how == "link" and job.sha256 and job.bytes is not None:
            return Staged(None, job.sha256, job.bytes)  # the caller's word (see PlaceJob)
        try:
            st = os.stat(job.source)
        except OSError as err:
            raise SourceError(err) from err
        _check_regular(st, job.source)
        digest = job.sha256 or (_hash_source(job.source)[0] if job.how == "link" else "")
        return Staged(None, digest, st.st_size)
    except _MAPPED as err:
        raise failure(job.source, err) from err


def commit(job: PlaceJob, staged: Staged) -> Placed:
    """Take the first free name for ``stage``'s result; see ``place``."""
    try:
        if job.how in ("link", "link unhashed"):
            try:
                return _commit_link(job, staged)
            except _NoLinks:
                staged = stage(PlaceJob(job.source, job.directory, job.name, "copy",
                                        job.reserved, job.numbered))
        return _commit_file(job, staged)
    except _MAPPED as err:
        raise failure(job.source, err) from err
    finally:
        discard(staged)  # renamed into place (then gone), or not needed


def discard(staged: Optional[Staged]) -> None:
    """Remove a staged copy that will not be committed."""
    if staged is None:
        return
    if staged.fd is not None:
        try:
            os.close(staged.fd)  # an unnamed file: gone with its last descriptor
        except OSError:
            pass
        staged.fd = None
    if staged.temp:
        remove_quietly(staged.temp)
        staged.temp = None


def write_staged(directory: str, write: Callable[[BinaryIO], object]) -> Staged:
    """A new file in ``directory`` written by ``write(file)``, staged for
    ``commit`` with ``how="move"`` (e.g. a converted image); raises OSError."""
    staged = _new_staged(directory)
    try:
        with os.fdopen(os.dup(staged.fd), "wb") as out:
            write(out)
        staged.sha256, staged.bytes = _hash_fd(staged.fd, offset=0)
        _close_named(staged)
    except BaseException:
        discard(staged)
        raise
    return staged


# -------------------------------------------------------------- committing

class _NoLinks(Exception):
    """This file system or pair of devices has no hard links: copy instead."""


def _commit_link(job: PlaceJob, staged: Staged) -> Placed:
    for target in free_name_candidates(job.directory, job.name, job.reserved):
        try:
            os.link(job.source, target)
        except FileExistsError:
            if _same_file(job.source, target):  # linked by an earlier run
                return Placed(target, "already present", staged.sha256, staged.bytes)
            if not staged.sha256:
                staged.sha256 = _hash_source(job.source)[0]
            if same_content(target, staged.bytes, staged.sha256):
                return Placed(target, "already present", staged.sha256, staged.bytes)
            _clash(job, target)
            continue
        except OSError as err:
            if err.errno in _NO_LINKS:
                raise _NoLinks() from err
            if err.errno == errno.ENOENT and not os.path.exists(job.source):
                raise SourceError(err) from err
            raise
        return Placed(target, "saved", staged.sha256, staged.bytes)


def _commit_file(job: PlaceJob, staged: Staged) -> Placed:
    for target in free_name_candidates(job.directory, job.name, job.reserved):
        if staged.temp is None and staged.fd is None:
            if _taken(target):
                if same_content(target, staged.bytes, staged.sha256):
                    return Placed(target, "already present", staged.sha256, staged.bytes)
                _clash(job, target)
                continue
            copied = _copy_to_staged(job.source, job.directory)
            staged.temp, staged.fd = copied.temp, copied.fd
            staged.sha256, staged.bytes = copied.sha256, copied.bytes
        try:
            if staged.fd is not None:
                _link_fd(staged.fd, target)
            else:
                _rename_noreplace(staged.temp, target)
                staged.temp = None
        except FileExistsError:
            if same_content(target, staged.bytes, staged.sha256):
                return Placed(target, "already present", staged.sha256, staged.bytes)
            _clash(job, target)
            continue
        return Placed(target, "saved", staged.sha256, staged.bytes)


def _clash(job: PlaceJob, target: str) -> None:
    if not job.numbered:
        raise PlaceError(job.source, f"{os.path.basename(target)} is taken by other content")


# ------------------------------------------------------------ renaming

def _rename_noreplace(source: str, target: str) -> None:
    """Rename ``source`` to ``target``; FileExistsError (nothing changed) if taken."""
    if os.name == "nt":
        os.rename(source, target)  # never replaces on Windows
        return
    try:
        os.link(source, target)  # fails if taken, unlike rename()
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
        # No hard links (FAT, some shares): the last resort is an exclusive
        # create under the real name and a copy.
        with open(source, "rb") as src, open(target, "xb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
    remove_quietly(source)


# ------------------------------------------------------- unnamed files

_O_TMPFILE = getattr(os, "O_TMPFILE", 0) if os.path.isdir("/proc/self/fd") else 0
_root_fd: Optional[int] = None
_root_lock = threading.Lock()


def _link_fd(fd: int, target: str) -> None:
    """Give the unnamed file open as ``fd`` the name ``target``; FileExistsError if taken."""
    global _root_fd
    if _root_fd is None:
        with _root_lock:
            if _root_fd is None:
                _root_fd = os.open("/", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    # With a src_dir_fd, os.link calls linkat(..., AT_SYMLINK_FOLLOW), which
    # links the file that /proc/self/fd/N stands for (plain link() would not).
    os.link(f"/proc/self/fd/{fd}", target, src_dir_fd=_root_fd)


@functools.lru_cache(maxsize=256)
def _unnamed_files_work(directory: str) -> bool:
    """Whether this folder's file system makes and links unnamed files (tried once)."""
    if not _O_TMPFILE:
        return False
    probe = temp_path(directory)
    try:
        fd = os.open(directory, _O_TMPFILE | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:
        return False
    try:
        _link_fd(fd, probe)
    except OSError:
        return False
    finally:
        os.close(fd)
    remove_quietly(probe)
    return True


def _new_staged(directory: str) -> Staged:
    """An empty staged file in ``directory``: unnamed where possible, else a temporary name."""
    if _unnamed_files_work(directory):
        try:
            fd = os.open(directory, _O_TMPFILE | os.O_RDWR | getattr(os, "O_CLOEXEC", 0), 0o666)
            return Staged(None, "", 0, fd)
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    temp = temp_path(directory)
    return Staged(temp, "", 0, os.open(temp, (_O_TARGET & ~os.O_WRONLY) | os.O_RDWR, 0o666))


def _close_named(staged: Staged) -> None:
    """A named temporary file needs no descriptor until it is renamed."""
    if staged.temp is not None and staged.fd is not None:
        fd, staged.fd = staged.fd, None
        os.close(fd)  # a network file system may report a failed write only here


def _copy_to_staged(source: str, directory: str) -> Staged:
    src, st = _open_source(source)
    try:
        staged = _new_staged(directory)
        try:
            staged.sha256, staged.bytes = _copy_fd(src, st, staged.fd)
            _close_named(staged)
        except BaseException:
            discard(staged)  # a partial file of ours
            raise
        return staged
    finally:
        os.close(src)


# ------------------------------------------------------------ file helpers

def temp_path(directory: str) -> str:
    """A new temporary name in ``directory`` (the same file system as the target)."""
    return os.path.join(directory, f".imagelab-{os.getpid()}-{uuid.uuid4().hex}.part")


def _taken(path: str) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _check_regular(st: os.stat_result, path: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
        raise SourceError(OSError(code, "not a regular file", path))


def _open_source(path: str) -> Tuple[int, os.stat_result]:
    """An open regular file to read and its stat; SourceError if it is not one."""
    try:
        fd = os.open(path, _O_SOURCE)
    except OSError as err:
        raise SourceError(err) from err
    try:
        st = os.fstat(fd)
        _check_regular(st, path)
    except OSError as err:
        os.close(fd)
        raise SourceError(err) from err
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _same_file(source: str, target: str) -> bool:
    """Whether ``target`` (not a link) is a hard link to ``source``."""
    try:
        st = os.lstat(target)
        return stat.S_ISREG(st.st_mode) and os.path.samestat(st, os.stat(source))
    except OSError:
        return False


def _hash_source(path: str) -> Tuple[str, int]:
    """(sha256, bytes) of a source file; reading errors as SourceError."""
    fd, _ = _open_source(path)
    try:
        return _hash_fd(fd)
    except OSError as err:
        raise SourceError(err) from err
    finally:
        os.close(fd)


def _hash_fd(fd: int, offset: Optional[int] = None) -> Tuple[str, int]:
    """(sha256, bytes) from the descriptor's position, or from ``offset`` (pread)."""
    h = hashlib.sha256()
    size = 0
    while chunk := (os.read(fd, CHUNK) if offset is None else os.pread(fd, CHUNK, offset + size)):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def sha256_file(path: str) -> str:
    """SHA-256 of a file, hex."""
    fd = os.open(path, _O_COMPARE & ~getattr(os, "O_NOFOLLOW", 0))
    try:
        return _hash_fd(fd)[0]
    finally:
        os.close(fd)


def same_content(path: str, size: int, digest: str) -> bool:
    """Whether ``path`` is a regular file (not a link) with this size and SHA-256."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return False
        fd = os.open(path, _O_COMPARE)
        try:
            return _hash_fd(fd)[0] == digest
        finally:
            os.close(fd)
    except OSError:
        return False


def remove_quietly(path: Optional[str]) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _copy_fd(src: int, st: os.stat_result, out: int) -> Tuple[str, int]:
    """Copy the open source ``src`` (``st`` its fstat) into ``out``, hashing:
    (sha256, bytes). The modification time is kept. Bare ``os`` calls: this
    runs once per file, and file objects cost more than the copy of a small
    photo. Reading errors raise SourceError."""
    h = hashlib.sha256()
    size = 0
    remaining = st.st_size
    while True:
        # Sized reads: no 1 MiB buffer for a 30 KB file, and one byte more
        # than the size, so that a short read proves the end (no extra read).
        wanted = min(max(remaining, 0) + 1, CHUNK)
        try:
            chunk = os.read(src, wanted)
        except OSError as err:
            raise SourceError(err) from err
        if not chunk:
            break
        h.update(chunk)
        written = os.write(out, chunk)
        if written < len(chunk):
            view = memoryview(chunk)[written:]
            while view:
                view = view[os.write(out, view):]
        size += len(chunk)
        remaining -= len(chunk)
        if remaining == 0 and len(chunk) < wanted:
            break
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    return h.hexdigest(), size
