"""Where Image Lab keeps caches and generated files.

The environment variables ``ORANGE_IMAGELAB_CACHE_DIR`` and
``ORANGE_IMAGELAB_DATA_DIR`` override the defaults (tests point them to
temporary folders).
"""
import os
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional


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
    """The local path of a ``file:`` URL; None for any other location."""
    if url_scheme(location) != "file":
        return None
    return urllib.request.url2pathname(urllib.parse.urlparse(location).path)
