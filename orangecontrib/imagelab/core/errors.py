"""Typed errors of Image Lab, and the one place that turns an exception into a reason.

Nothing here raises a bare ``Exception``. Every skipped file, row, box or URL
is reported as an object with ``.path`` and ``.reason``; ``reason(err)`` is
how any caught exception becomes that short text, and ``skipped_summary``
is how a list of them becomes the one-line message the widgets show.
"""
import errno
from dataclasses import dataclass
from typing import Sequence


class ImageLabError(Exception):
    """Base class of all errors raised by Image Lab."""


class Cancelled(ImageLabError):
    """Raised by a progress callback to stop a long job.

    Jobs catch nothing: they let it propagate after keeping what they
    finished (e.g. rows already written to a cache).
    """


class ImageError(ImageLabError):
    """One image could not be read or decoded.

    ``path`` names the file (or URL); ``reason`` is short and readable, e.g.
    "truncated JPEG", and is what the widgets and ``skipped`` lists show.
    """

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class UnsafePathError(ImageLabError):
    """A path would escape its root folder (``..``, absolute, a symlink out)."""


class ArchiveError(ImageLabError):
    """A zip archive is unreadable or exceeds the safety limits (a zip bomb)."""


class AnnotationError(ImageLabError):
    """An annotation file cannot be understood; the message says how to fix it."""


class ModelError(ImageLabError):
    """A model is unknown or its weights cannot be loaded or built."""


class UnknownLabelError(ImageLabError, ValueError):
    """A label name is not in the vocabulary; ``suggestions`` lists the nearest known names."""

    def __init__(self, name, suggestions=()):
        self.name = name
        self.suggestions = list(suggestions)
        hint = (f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
                if self.suggestions else "; type a more general name, e.g. 'bird' or 'vehicle'")
        super().__init__(f"unknown label {name!r}{hint}")


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A file, archive entry, row, box or URL that was left out, and why."""
    path: str
    reason: str


# ------------------------------------------------------------ reasons

_WRITE_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "cannot write: read-only file system",
    errno.EACCES: "cannot write: permission denied",
    errno.EPERM: "cannot write: permission denied",
    errno.ENAMETOOLONG: "name too long",
    errno.ELOOP: "a symbolic link is in the way",
}
_READ_REASONS = {
    errno.ENOENT: "file not found",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a folder, not a file",
    errno.ENAMETOOLONG: "name too long",
    errno.ELOOP: "a symbolic link loops",
}


def reason(err: BaseException, *, writing: bool = False) -> str:
    """A short, readable reason for what went wrong with one file, row or URL.

    The only place that maps exceptions to the texts users see; every
    module that skips something asks here. ``writing`` says whether the
    failed operation wrote (a full disk) or read (a missing file).
    """
    if isinstance(err, ImageError):
        return err.reason
    if isinstance(err, ImageLabError):
        return str(err)
    if isinstance(err, OSError):
        if isinstance(err, TimeoutError):
            return "timed out"
        table = _WRITE_REASONS if writing else _READ_REASONS
        text = table.get(err.errno)
        if text is None and writing:
            text = f"cannot write ({err.strerror or err})"
        return text or f"unreadable ({err.strerror or err})"
    if isinstance(err, MemoryError):
        return "too large (out of memory)"
    if isinstance(err, UnicodeError):
        return f"name or text is not valid in this encoding ({err.reason})"
    return f"{type(err).__name__}: {err}"


def skipped_summary(entries: Sequence, total: int, *, noun: str = "files",
                    verb: str = "skipped", shown: int = 3) -> str:
    """The one-line message for left-out items, e.g.
    ``"3 of 1,204 files skipped: a/IMG_1.jpg (truncated JPEG), ..."``.

    ``entries`` have ``.path`` and ``.reason``; an empty path reads
    "(empty cell)".
    """
    first = ", ".join(f"{e.path or '(empty cell)'} ({e.reason})" for e in entries[:shown])
    more = ", ..." if len(entries) > shown else ""
    return f"{len(entries):,} of {total:,} {noun} {verb}: {first}{more}"


def as_image_error(location, err: BaseException) -> ImageError:
    """``err``, raised while reading or decoding one image, as an ImageError.

    Pillow's plugins raise many kinds of errors on odd files (and warnings
    under ``-W error``); one bad image must never stop a run, so callers
    that decode catch everything and ask here what to report.
    """
    if isinstance(err, ImageError):
        return err
    if isinstance(err, MemoryError):
        return ImageError(location, "too large to decode (out of memory)")
    if isinstance(err, Warning):  # DecompressionBombWarning raised as an error
        return ImageError(location, f"too many pixels (decompression bomb): {err}")
    if isinstance(err, OSError):
        return ImageError(location, reason(err))
    return ImageError(location, f"cannot decode ({type(err).__name__}: {err})")
