"""Where each row goes, before anything is written: rows -> ``SaveJob``s.

    >>> plan = plan_saves(["a/x.jpg", None, "b/photo.2024.png"],
    ...                   labels=["cats", "dogs", "../etc"], mode="copy")
    >>> [(getattr(i, "folder", None), getattr(i, "name", None)) for i in plan.items]
    [('cats', 'x.jpg'), (None, None), ('___etc', 'photo.2024.png')]
    >>> plan.items[1].reason
    'no image location (missing value)'

Pure: touches no file. Labels become distinct safe folder names
(``names.folder_names``); file names stay whole (``photo.2024.jpg`` is not
cut at the first dot); names that are not UTF-8 are read as Windows-1252
(``names.readable``) and the job says so in its ``note``.
"""
import os
import urllib.parse
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Sequence, Union

from ..paths import is_url
from .manifest import MANIFEST_NAME
from .names import folder_names, is_valid_text, safe_name

MODES = ("copy", "link", "convert")

#: format name -> (Pillow format, file extension, supports transparency)
FORMATS = {
    "jpeg": ("JPEG", ".jpg", False),
    "png": ("PNG", ".png", True),
    "webp": ("WEBP", ".webp", True),
    "tiff": ("TIFF", ".tif", True),
    "bmp": ("BMP", ".bmp", False),
}
_FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".png": "png",
               ".webp": "webp", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp"}

_NOT_UTF8 = "name not UTF-8, read as Windows-1252"


def _format_of(name: str) -> str:
    """The FORMATS key for a file name's extension; "png" if unknown."""
    return _EXTENSIONS.get(os.path.splitext(str(name))[1].lower(), "png")


@dataclass(frozen=True)
class SkippedFile:
    """A source that was not saved, and why (``reason`` is short and readable)."""
    index: int
    path: str
    reason: str


@dataclass(frozen=True)
class SaveJob:
    """One file to save: into ``folder`` (a subfolder name; None: the target
    itself) as ``name``, by ``kind`` ("copy", "link", "link unhashed",
    "convert" or "download")."""
    index: int
    source: str
    label: Optional[str]
    folder: Optional[str]
    name: str
    kind: str
    note: str = ""


@dataclass
class SavePlan:
    """``items`` in input order, each a ``SaveJob`` or a ``SkippedFile``."""
    items: List[Union[SaveJob, SkippedFile]]
    folders: Dict[Hashable, str]


def _source_name(source: str, url: bool) -> str:
    if url:
        path = urllib.parse.unquote(urllib.parse.urlparse(source).path)
        name = path.rstrip("/").rsplit("/", 1)[-1] or "image"
    else:
        name = os.path.basename(source.rstrip("/\\")) or "image"
    return safe_name(name, keep_suffix=True)


def plan_saves(sources: Sequence[Optional[str]], *,
               labels: Optional[Sequence[Optional[Hashable]]] = None, mode: str = "copy",
               format: Optional[str] = None, hash_links: bool = True,
               fixed_folders: Optional[Dict[Hashable, str]] = None) -> SavePlan:
    """Where each source goes, before anything is written (see ``save_files``).

    ``format`` is a FORMATS key or None; ``labels[i]`` a label or a key of
    ``fixed_folders``. Touches no file.
    """
    folders: Dict[Hashable, str] = {}
    if labels is not None:
        folders = folder_names(labels, fixed={**(fixed_folders or {}),
                                              ("manifest",): MANIFEST_NAME})
        folders.pop(("manifest",), None)
    labels = list(labels) if labels is not None else [None] * len(sources)
    ext = FORMATS[format][1] if format else None
    link_kind = "link" if hash_links else "link unhashed"
    items: List[Union[SaveJob, SkippedFile]] = []
    for index, (source, label) in enumerate(zip(sources, labels)):
        if source is None or source == "":
            items.append(SkippedFile(index, "", "no image location (missing value)"))
            continue
        source = str(source)
        url = is_url(source)
        name = _source_name(source, url)
        if mode == "convert":
            target_ext = ext or FORMATS[_format_of(name)][1]
            stem, old_ext = os.path.splitext(name)
            if old_ext.lower() not in _EXTENSIONS or \
                    _EXTENSIONS[old_ext.lower()] != _format_of(target_ext):
                name = stem + target_ext
            kind = "convert"
        else:
            kind = "download" if url else ("copy" if mode == "copy" else link_kind)
        text_label = label if isinstance(label, str) or label is None else folders.get(label)
        not_utf8 = not is_valid_text(source) or \
            (text_label is not None and not is_valid_text(text_label))
        items.append(SaveJob(index, source, text_label, folders.get(label) if folders else None,
                             name, kind, _NOT_UTF8 if not_utf8 else ""))
    return SavePlan(items, folders)


def check_options(mode, fmt, max_size, n_sources, labels):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if fmt is not None:
        key = _FORMAT_ALIASES.get(str(fmt).lower(), str(fmt).lower())
        if key not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
        if mode != "convert":
            raise ValueError(f"format={fmt!r} needs mode='convert' (mode is {mode!r})")
        fmt = key
    if max_size is not None:
        if mode != "convert":
            raise ValueError(f"max_size needs mode='convert' (mode is {mode!r})")
        if int(max_size) < 1:
            raise ValueError(f"max_size must be a positive number of pixels; got {max_size}")
        max_size = int(max_size)
    if labels is not None and len(labels) != n_sources:
        raise ValueError(f"got {n_sources} sources but {len(labels)} labels")
    return fmt, max_size


__all__ = ["plan_saves", "check_options", "SaveJob", "SavePlan", "SkippedFile", "MODES", "FORMATS"]
