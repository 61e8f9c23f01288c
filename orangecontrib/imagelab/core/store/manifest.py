"""``manifest.csv``: one row per file a save run handled, appended, never rewritten.

    >>> rows = read_manifest("out/manifest.csv")       # doctest: +SKIP
    >>> rows[0]["destination"], rows[0]["status"]      # doctest: +SKIP
    ('cats/a.jpg', 'saved')

The rules, each for a failure seen in the field:

* **Never through a link.** The file is opened with ``O_NOFOLLOW``: a
  ``manifest.csv`` that is a symbolic link (even a dangling one) is refused
  (``ManifestLinkError``), never written through.
* **One header.** A new manifest appears whole, its header written aside
  and linked into place, so two runs that start together write one header.
* **Whole rows.** Rows gather in memory and go out in one ``write`` of whole
  rows a few times a second (a write per file would cost more than copying
  a small photo), and when the run ends, also by Cancel or an error. A
  write cut by a full disk is undone (the file is truncated back to its
  last whole row); a small reserve file, made when the manifest is opened
  and removed when a write hits a full disk, gives the rows of files
  already on disk room to be written. A manifest left without a final line
  break (a killed run) gets one before the next row.
* **No formulas.** A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return gets a leading ``'`` (OWASP's CSV-injection rule), so
  spreadsheets show it as text; a cell starting with ``'`` gets one too, so
  ``read_manifest`` gives every value back unchanged.
* **Valid UTF-8.** Bytes of a name that are not UTF-8 are written ``\\xe9``
  (``names.printable``).
"""
import csv
import io
import os
import re
import time
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence

from .names import printable
from .placing import (DISK_FULL, PlaceError, PlaceJob, commit, remove_quietly, temp_path,
                      write_staged)

MANIFEST_NAME = "manifest.csv"
MANIFEST_FIELDS = ("time", "source", "destination", "label", "sha256", "bytes",
                   "mode", "status", "note")

_FLUSH_SECONDS = 0.25
_FLUSH_BYTES = 64 * 1024
#: Room kept for the rows not yet written (at most _FLUSH_BYTES, plus a row).
_RESERVE_BYTES = 2 * _FLUSH_BYTES
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")
_CSV_QUOTED = re.compile(r'["\r\n]')  # with a ',' in a field: what csv.writer quotes
_O_MANIFEST = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


class ManifestLinkError(OSError):
    """The manifest's name is a symbolic link; it is never written through."""


def cell(value) -> str:
    """A value as written to the manifest (see the module's rules)."""
    text = value if isinstance(value, str) else str(value)
    if not text:
        return text
    if not text.isascii():
        text = printable(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def value(text: str) -> str:
    """A manifest cell as the value that was written (the inverse of ``cell``)."""
    return text[1:] if text.startswith("'") else text


def read_manifest(path) -> List[Dict[str, str]]:
    """The rows of a manifest as dicts (field -> value), values unescaped."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: value(text or "") for key, text in row.items() if key is not None}
                for row in csv.DictReader(f)]


class ManifestWriter:
    """Appends rows to ``folder/manifest.csv``; ``close()`` writes what is left.

    Raises ``ManifestLinkError`` if the name is a symbolic link, ``OSError``
    if it cannot be opened; ``add`` and ``close`` raise ``OSError`` when a
    write fails (the file then still ends with a whole row).
    """

    def __init__(self, folder: str, mode: str):
        self.path = os.path.join(folder, MANIFEST_NAME)
        self.mode = mode
        self._rows = io.StringIO()
        self._writer = csv.writer(self._rows)
        self._flushed = time.monotonic()
        self._clock = (None, "")
        fd = self._open(folder)
        self._fd = fd
        self._reserve = None
        self.reserve_used = False
        try:
            if os.fstat(fd).st_size == 0:  # an empty file that was there before
                self._writer.writerow(MANIFEST_FIELDS)
            else:
                self._end_last_row()
            self.flush()
            self._reserve = self._make_reserve(folder)
        except BaseException:
            os.close(fd)
            raise

    def _open(self, folder: str, create: bool = True) -> int:
        """Open for appending; a new manifest appears whole, with its header,
        so a second run starting at the same moment never writes another."""
        try:
            return os.open(self.path, _O_MANIFEST)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as err:
            if os.path.islink(self.path):
                raise ManifestLinkError(err.errno, "is a symbolic link", self.path) from err
            raise
        header = io.StringIO()
        csv.writer(header).writerow(MANIFEST_FIELDS)
        staged = write_staged(folder, lambda out: out.write(header.getvalue().encode()))
        try:
            commit(PlaceJob(self.path, folder, MANIFEST_NAME, "move", numbered=False), staged)
        except PlaceError as err:  # another run made it first (else the cause)
            if not os.path.lexists(self.path) and isinstance(err.__cause__, OSError):
                raise err.__cause__ from err
        return self._open(folder, create=False)

    def _end_last_row(self) -> None:
        """Start a new line if a killed run left the last row without one."""
        with open(self.path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 65536))
            tail = f.read()
        if tail and not tail.endswith(b"\n"):
            last = tail.rsplit(b"\n", 1)[-1]
            self._rows.write('"\r\n' if last.count(b'"') % 2 else "\r\n")

    @staticmethod
    def _make_reserve(folder: str) -> Optional[str]:
        """A file holding room for the last rows when the disk fills up.

        Raises OSError (ENOSPC) if the disk has no room for it: a run that
        starts on a full disk stops before writing anything. Where it cannot
        be made for other reasons, the manifest goes on without it.
        """
        path = temp_path(folder)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as err:
            if err.errno in DISK_FULL:
                raise
            return None
        try:
            try:
                os.posix_fallocate(fd, 0, _RESERVE_BYTES)
            except (AttributeError, OSError) as err:
                if isinstance(err, OSError) and err.errno in DISK_FULL:
                    raise
                os.write(fd, bytes(_RESERVE_BYTES))  # no fallocate here: real bytes
        except OSError as err:
            os.close(fd)
            remove_quietly(path)
            if err.errno in DISK_FULL:
                raise
            return None
        os.close(fd)
        return path

    def _now(self) -> str:
        """UTC time to the second, ISO 8601 (formatted once per second)."""
        second = int(time.time())
        if self._clock[0] != second:
            self._clock = (second, datetime.fromtimestamp(second, timezone.utc).isoformat())
        return self._clock[1]

    def add(self, source: str, destination: str, label: Optional[str], sha256: str,
            size: Optional[int], status: str, note: str = "") -> None:
        """Add a row (``destination`` relative to the folder, "" if none)."""
        row = (self._now(), cell(source), cell(destination),
               "" if label is None else cell(label), sha256,
               "" if size is None else str(size), self.mode, status, cell(note))
        line = ",".join(row)
        if line.count(",") == len(row) - 1 and not _CSV_QUOTED.search(line):
            self._rows.write(line + "\r\n")  # what csv.writer writes, five times faster
        else:
            self._writer.writerow(row)
        if time.monotonic() - self._flushed >= _FLUSH_SECONDS or \
                self._rows.tell() >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the rows gathered so far, whole, or none of them (OSError)."""
        data = self._rows.getvalue().encode("utf-8")
        if data:
            try:
                self._append(data)
            except OSError as err:
                if err.errno not in DISK_FULL or self._reserve is None:
                    raise
                self._release_reserve()
                self.reserve_used = True  # the run must stop: no room is kept any more
                self._append(data)
            self._rows.seek(0)
            self._rows.truncate()
        self._flushed = time.monotonic()

    def _append(self, data: bytes) -> None:
        start = os.fstat(self._fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            # Undo a cut row, unless another run appended meanwhile.
            if view.nbytes < len(data) and \
                    os.fstat(self._fd).st_size == start + len(data) - view.nbytes:
                os.ftruncate(self._fd, start)
            raise

    def _release_reserve(self) -> None:
        remove_quietly(self._reserve)
        self._reserve = None

    def close(self) -> None:
        """Write the rows left, then close (the file is closed even if that fails)."""
        if self._fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self._fd)
            self._fd = None
            self._release_reserve()


def relative(destination: str, root: str, root_prefix: Optional[str] = None) -> str:
    """``destination`` relative to ``root``, with forward slashes."""
    prefix = root_prefix or os.path.join(root, "")
    if destination.startswith(prefix):
        rel = destination[len(prefix):]
    else:
        rel = os.path.relpath(destination, root)
    return rel.replace(os.sep, "/")


__all__: Sequence[str] = ["MANIFEST_NAME", "MANIFEST_FIELDS", "ManifestWriter",
                          "ManifestLinkError", "read_manifest", "cell", "value"]
