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


class ClusterError(ImageLabError):
    """A Dask cluster cannot be used: no Dask installed, no scheduler at the
    address, no workers, or the scheduler went away during a run (what was
    finished before is kept in the cache). The message says what to do."""


class UnknownLabelError(ImageLabError, ValueError):
    """A label name is not in the vocabulary; ``suggestions`` lists the nearest known names."""

    def __init__(self, name, suggestions=()):
        self.name = name
        self.suggestions = list(suggestions)
        hint = (f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?"
                if self.suggestions else "; type a more general name, e.g. 'bird' or 'vehicle'")
        super().__init__(f"unknown label {name!r}{hint}")


class FetchError(ImageError):
    """A URL could not be fetched: ``path`` is the URL, ``reason`` says why
    ("HTTP 404 (Not Found)", "timed out", "too big", "refused scheme 'ftp'").

    ``status`` is the HTTP status when the server answered; ``retryable``
    whether trying again may help (5xx, 429, timeouts, a broken connection);
    ``retry_after`` the seconds the server asked us to wait, if it did.
    """

    def __init__(self, url, reason, *, status=None, retryable=False, retry_after=None):
        super().__init__(url, reason)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


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


# Network errors of httpx (and httpcore beneath it), by class name, most
# specific first: matched on the names in the exception's MRO so that this
# module need not import the HTTP library.
_NETWORK_REASONS = (
    ("TimeoutException", "timed out"),
    ("UnsupportedProtocol", "refused scheme"),
    ("TooManyRedirects", "too many redirects"),
    ("InvalidURL", "bad URL"),
    ("ConnectError", "cannot connect"),
    ("RemoteProtocolError", "connection broken"),
    ("ReadError", "connection broken"),
    ("WriteError", "connection broken"),
    ("ProxyError", "proxy error"),
    ("LocalProtocolError", "bad request"),
    ("DecodingError", "cannot decode the response"),
    ("HTTPError", "network error"),
)


def _network_reason(err: BaseException):
    module = type(err).__module__
    if not module.startswith(("httpx", "httpcore")):
        return None
    names = {cls.__name__ for cls in type(err).__mro__}
    for name, text in _NETWORK_REASONS:
        if name in names:
            if name == "UnsupportedProtocol":
                scheme = str(err).partition("'")[2].partition("'")[0].rstrip(":/")
                return f"refused scheme {scheme!r} (only http, https and file)" \
                    if scheme else "refused scheme (only http, https and file)"
            detail = str(err).strip()
            keep = name in ("ConnectError", "ProxyError", "LocalProtocolError") and detail
            return f"{text} ({detail})" if keep else text
    return None


def status_reason(status: int) -> str:
    """The reason for an HTTP status, e.g. "HTTP 404 (Not Found)"."""
    import http

    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
    return f"HTTP {status} ({phrase})"


def too_big_reason(limit: int) -> str:
    """The reason for a file or download over ``limit`` bytes."""
    return f"too big (over {limit:,} bytes)"


def reason(err: BaseException, *, writing: bool = False) -> str:
    """A short, readable reason for what went wrong with one file, row or URL.

    The only place that maps exceptions to the texts users see; every
    module that skips something asks here. ``writing`` says whether the
    failed operation wrote (a full disk) or read (a missing file).
    Network errors of the HTTP library read "timed out", "connection
    broken", "cannot connect (...)", "refused scheme 'ftp' (...)", ...
    """
    if isinstance(err, ImageError):
        return err.reason
    if isinstance(err, ImageLabError):
        return str(err)
    network = _network_reason(err)
    if network is not None:
        return network
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
