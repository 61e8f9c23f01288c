"""Typed errors of Image Lab. Nothing here raises a bare ``Exception``."""


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
