"""Copy files into folders without ever overwriting, here or in worker processes.

``copy_to_free_name`` copies one file under its name in a folder, or under
``name (2).ext``, ``name (3).ext``, ... when the name is taken by other
content; a name taken by the same content means the file is already there.
Every create is exclusive (``O_EXCL``), so nothing is ever overwritten, also
when several processes save into the same folder at once.

``CopyWorkers`` runs batches of such copies in worker processes. On a fast
disk, copying small photos is bound by the CPU (system calls and SHA-256),
and threads cannot spread that over cores: they hand Python's lock back and
forth at every system call (measured slower than one thread). The workers
are plain ``python -c`` processes fed by pipes, not ``multiprocessing``,
which would import the parent's main module (the Orange canvas) into each.

Standard library only, so that a worker starts in a few tens of milliseconds.
"""
import errno
import hashlib
import json
import os
import pickle
import stat
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

from ..errors import ImageLabError, reason

CHUNK = 1 << 20
MAX_SUFFIX = 100_000

_O_SOURCE = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0) | \
    getattr(os, "O_NONBLOCK", 0)  # a FIFO given as a source must not hang the run
_O_TARGET = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_BINARY", 0)


class SourceError(Exception):
    """Reading the source failed (as opposed to writing the copy)."""
    def __init__(self, err):
        super().__init__(str(err))
        self.err = err




def numbered(name: str, k: int) -> str:
    """``name`` for k == 1, else ``stem (k).ext``."""
    if k == 1:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext) > 16 or " " in ext:
        stem, ext = name, ""
    return f"{stem} ({k}){ext}"


def free_name_candidates(directory: str, name: str, reserved: Optional[str] = None):
    """``directory/name``, then ``directory/stem (2).ext``, ... leaving out the
    ``reserved`` name (case-folded); ImageLabError when there are no more."""
    for k in range(1, MAX_SUFFIX):
        candidate = numbered(name, k)
        if candidate.casefold() != reserved:
            yield os.path.join(directory, candidate)
    raise ImageLabError(f"more than {MAX_SUFFIX} files named {name}")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def same_content(path: str, size: int, digest: str) -> bool:
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return False
        return sha256_file(path) == digest
    except OSError:
        return False


def remove_quietly(path: Optional[str]) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def copy_hashing(source: str, target: str) -> Tuple[str, int]:
    """Copy ``source`` into a new file ``target`` (O_EXCL); return (sha256, bytes).

    One pass: each chunk is hashed and written; the modification time is kept.
    Bare ``os`` calls: this runs once per file and file objects cost more
    than the copy of a small photo (the same system calls as ``cp``, plus
    one to keep the time). Raises FileExistsError (nothing created) if the
    name is taken, SourceError if reading fails; a failed copy removes the
    partial file it created.
    """
    try:
        src = os.open(source, _O_SOURCE)
    except OSError as err:
        raise SourceError(err) from err
    try:
        try:
            st = os.fstat(src)
        except OSError as err:
            raise SourceError(err) from err
        if not stat.S_ISREG(st.st_mode):
            code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
            raise SourceError(OSError(code, "not a regular file", source))
        out = os.open(target, _O_TARGET, 0o666)
        try:
            h = hashlib.sha256()
            size = 0
            remaining = st.st_size
            while True:
                try:
                    # sized reads: no 1 MiB buffer allocated for a 30 KB file
                    chunk = os.read(src, min(max(remaining, 0) + 1, CHUNK))
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
            os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        except BaseException:
            try:
                os.close(out)
            except OSError:
                pass  # the first error is the one to report
            remove_quietly(target)  # created exclusively above: a partial file of ours
            raise
        try:
            os.close(out)  # a network file system may report a failed write only here
        except BaseException:
            remove_quietly(target)
            raise
    finally:
        os.close(src)
    return h.hexdigest(), size


def copy_to_free_name(source: str, directory: str, name: str,
                      reserved: Optional[str] = None) -> Tuple[str, str, str, int]:
    """Copy ``source`` to ``directory/name`` or the first free numbered name.

    Returns (destination, status, sha256, bytes) with status "saved", or
    "already present" when a taken name holds the same content. ``reserved``
    (case-folded) is a name never to use (the manifest's). Raises SourceError,
    OSError (writing) or ImageLabError (no free name).
    """
    digest, size = "", 0
    for target in free_name_candidates(directory, name, reserved):
        try:
            digest, size = copy_hashing(source, target)
        except FileExistsError:
            if not digest:
                try:
                    digest = sha256_file(source)
                    size = os.path.getsize(source)
                except OSError as err:
                    raise SourceError(err) from err
            if same_content(target, size, digest):
                return target, "already present", digest, size
            continue
        return target, "saved", digest, size


# Where hard links cannot be made: another device, or a file system without them.
_NO_LINKS = (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)


def link_to_free_name(source: str, directory: str, name: str,
                      reserved: Optional[str] = None,
                      hashed: bool = True) -> Tuple[str, str, str, int]:
    """Hard-link ``source`` as ``directory/name`` or the first free numbered name.

    Like ``copy_to_free_name``, which it falls back to where links cannot be
    made. ``hashed=False`` leaves SHA-256 out (empty) unless a taken name has
    to be compared.
    """
    try:
        st = os.stat(source)
        if not stat.S_ISREG(st.st_mode):
            code = errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EINVAL
            raise OSError(code, "not a regular file", source)
        digest = sha256_file(source) if hashed else ""
    except OSError as err:
        raise SourceError(err) from err
    for target in free_name_candidates(directory, name, reserved):
        try:
            os.link(source, target)
        except FileExistsError:
            try:
                if os.path.samefile(source, target):
                    return target, "already present", digest, st.st_size
            except OSError:
                pass
            if not digest:
                try:
                    digest = sha256_file(source)
                except OSError as err:
                    raise SourceError(err) from err
            if same_content(target, st.st_size, digest):
                return target, "already present", digest, st.st_size
            continue
        except OSError as err:
            if err.errno in _NO_LINKS:
                return copy_to_free_name(source, directory, name, reserved)
            raise
        return target, "saved", digest, st.st_size


#: (index, source, directory, name, reserved, how) -> see copy_batch; ``how``
#: is "copy", "link" or "link unhashed"
CopyItem = Tuple[int, str, str, str, Optional[str], str]


def place_file(source: str, directory: str, name: str, reserved: Optional[str],
               how: str) -> Tuple[str, str, str, int]:
    """Copy or link one file to a free name: (destination, status, sha256, bytes)."""
    if how == "copy":
        return copy_to_free_name(source, directory, name, reserved)
    return link_to_free_name(source, directory, name, reserved, hashed=how == "link")


def copy_batch(items: Sequence[CopyItem]) -> List[tuple]:
    """Copy or link each item; return, per item, (index, status, destination,
    sha256, bytes) or (index, "skipped", reason, "", 0). Never raises for one file."""
    results = []
    for index, source, directory, name, reserved, how in items:
        try:
            destination, status, digest, size = place_file(
                source, directory, name, reserved, how)
            results.append((index, status, destination, digest, size))
        except SourceError as err:
            results.append((index, "skipped", reason(err.err, writing=False), "", 0))
        except OSError as err:
            results.append((index, "skipped", reason(err, writing=True), "", 0))
        except ImageLabError as err:
            results.append((index, "skipped", str(err), "", 0))
    return results


# ------------------------------------------------------------------ workers

class WorkerFailed(ImageLabError):
    """A copy worker process could not start or stopped answering."""


def _send(stream, payload) -> None:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def _receive(stream):
    header = stream.read(8)
    if len(header) < 8:
        raise EOFError
    size = int.from_bytes(header, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def serve(stdin=None, stdout=None) -> None:
    """A worker's loop: batches in, results out, until the input closes."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    while True:
        try:
            items = _receive(stdin)
        except EOFError:
            return
        _send(stdout, copy_batch(items))


# The worker imports this module with the parent's sys.path, so it finds the
# same code the parent runs (an installed package or a source checkout).
_WORKER_CODE = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
                "from orangecontrib.imagelab.core.store.filecopy import serve; serve()")


def worker_command() -> List[str]:
    return [sys.executable, "-c", _WORKER_CODE, json.dumps(sys.path)]


class CopyWorkers:
    """``n`` worker processes; ``submit(items)`` gives a Future of copy_batch's result.

    Each worker belongs to one feeding thread, which blocks on the worker's
    pipes (without Python's lock) while the caller goes on. A worker that
    cannot start or dies fails its batch with WorkerFailed; the caller then
    copies the rest itself.
    """

    def __init__(self, n: int):
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="imagelab-copy")
        self._local = threading.local()
        self._processes: List[subprocess.Popen] = []
        self._lock = threading.Lock()

    def submit(self, items: Sequence[CopyItem]) -> Future:
        return self._pool.submit(self._run, list(items))

    def _worker(self) -> subprocess.Popen:
        process = getattr(self._local, "process", None)
        if process is None:
            try:
                process = subprocess.Popen(worker_command(), stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError as err:
                raise WorkerFailed(f"cannot start a copy worker: {err}") from err
            self._local.process = process
            with self._lock:
                self._processes.append(process)
        return process

    def _run(self, items):
        process = self._worker()
        try:
            _send(process.stdin, items)
            return _receive(process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as err:
            raise WorkerFailed(f"a copy worker stopped (exit code {process.poll()})") from err

    def close(self) -> None:
        """Wait for batches under way, then let the workers end."""
        self._pool.shutdown(wait=True)
        for process in self._processes:
            try:
                process.stdin.close()
            except OSError:
                pass
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
