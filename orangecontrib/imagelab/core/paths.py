"""Where Image Lab keeps caches and generated files.

The environment variables ``ORANGE_IMAGELAB_CACHE_DIR`` and
``ORANGE_IMAGELAB_DATA_DIR`` override the defaults (tests point them to
temporary folders).
"""
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Union


def _xdg(env: str, fallback: str) -> Path:
    base = os.environ.get(env)
    return Path(base) if base else Path.home() / fallback


def cache_dir() -> Path:
    """Folder for things that can be recomputed: embeddings, extracted zips."""
    path = os.environ.get("ORANGE_IMAGELAB_CACHE_DIR")
    path = Path(path) if path else _xdg("XDG_CACHE_HOME", ".cache") / "orange3-imagelab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Folder for generated, version-bound files such as built ONNX models."""
    path = os.environ.get("ORANGE_IMAGELAB_DATA_DIR")
    path = Path(path) if path else _xdg("XDG_DATA_HOME", ".local/share") / "orange3-imagelab"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------ locations
# An image location is a local path or a URL; these are the only rules that
# tell them apart (tables, decoding, saving and downloading all ask here).

#: URL schemes Image Lab reads; anything else is refused by name.
URL_SCHEMES = ("http", "https", "file")


def url_scheme(location) -> Optional[str]:
    """"http", "https" or "file" for a URL of those schemes, else None."""
    if not isinstance(location, str) or "://" not in location and \
            not location.lower().startswith("file:"):
        return None
    scheme = location.split(":", 1)[0].lower()
    return scheme if scheme in URL_SCHEMES else None


def is_url(location) -> bool:
    """Whether ``location`` is an ``http(s)://`` or ``file:`` URL (not a path)."""
    return url_scheme(location) is not None


def is_remote(location) -> bool:
    """Whether reading ``location`` goes over the network (http or https)."""
    return url_scheme(location) in ("http", "https")


def url_to_path(location: str) -> Optional[str]:
    """The local path of a ``file:`` URL; None for any other location.

    A relative file URL (see ``resolve_file_url``) gives a relative path.
    """
    if url_scheme(location) != "file":
        return None
    return urllib.request.url2pathname(urllib.parse.urlparse(location).path)


def _written_scheme(location: str) -> Optional[str]:
    """The scheme a text is written with ("ftp" for "ftp://x"), or None;
    a single letter is a Windows drive, not a scheme."""
    head, sep, _ = location.partition(":")
    if not sep or len(head) < 2 or not head[0].isalpha() or \
            not all(c.isalnum() or c in "+.-" for c in head):
        return None
    return head.lower()


def check_url(location) -> str:
    """The scheme of a URL Image Lab may fetch ("http", "https" or "file").

    Raises ``FetchError`` naming the problem otherwise: "no URL" (empty),
    "refused scheme 'ftp' (only http, https and file)", "bad URL (...)".
    """
    from .errors import FetchError

    text = "" if location is None else str(location).strip()
    if not text:
        raise FetchError(text, "no URL")
    scheme = _written_scheme(text)
    if scheme is None:
        raise FetchError(text, "bad URL (expected http://, https:// or file:)")
    if scheme not in URL_SCHEMES:
        raise FetchError(text, f"refused scheme {scheme!r} (only http, https and file)")
    parts = urllib.parse.urlsplit(text)
    if scheme != "file" and not parts.hostname:
        raise FetchError(text, "bad URL (no host name)")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise FetchError(text, "bad URL (contains spaces or control characters)")
    try:
        parts.port  # raises for a port that is not a number
    except ValueError as err:
        raise FetchError(text, f"bad URL ({err})") from err
    return scheme


def is_relative_file_url(location) -> bool:
    """Whether ``location`` is a relative file URL: ``file:`` and a path
    without a leading "/" (``file:photos/cat.jpg``, ``file:./cat.jpg``)."""
    return url_scheme(location) == "file" and not location[5:].startswith("/")


def resolve_file_url(location: str, base: Union[str, os.PathLike]) -> str:
    """A relative file URL made absolute against the folder ``base``.

    Metadata files that travel with their images (a bundled sample, a data
    set copied to another machine) name them ``file:images/a.jpg``: relative
    to the folder of the metadata file, like a relative link in a web page.
    Such a URL may not climb out of ``base`` (``file:../../etc/passwd``):
    ``UnsafePathError``. Any other location is returned unchanged.
    """
    from .errors import UnsafePathError

    if not is_relative_file_url(location):
        return location
    relative = urllib.request.url2pathname(urllib.parse.urlsplit(location).path)
    root = os.path.realpath(os.fspath(base))
    target = os.path.normpath(os.path.join(root, relative))
    if os.path.commonpath([root, target]) != root:
        raise UnsafePathError(f"{location}: a relative file URL may not leave "
                              f"its metadata folder {root}")
    return Path(target).as_uri()
