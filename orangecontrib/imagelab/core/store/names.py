r"""Names of saved files and folders: valid, safe on every system, distinct, whole.

    >>> safe_name("../../etc")
    '___.._etc'
    >>> safe_name("photo.2024.jpg", keep_suffix=True)      # never cut at the first dot
    'photo.2024.jpg'
    >>> readable("caf\udce9")    # b"caf\xe9" (Latin-1) as os.listdir gives it
    'café'
    >>> printable("caf\udce9")   # the same name, spelled for a UTF-8 text file
    'caf\\xe9'

Pure functions on strings: no file is touched here.
"""
import codecs
import os
import re
import unicodedata
from typing import Dict, Hashable, Iterable, Iterator, Optional

from ..errors import ImageLabError

UNLABELED = "_unlabeled"
EMPTY = "_empty"

#: Folder and file names are cut to this many UTF-8 bytes (file systems allow
#: 255; the rest leaves room for " (12)" suffixes and temporary names).
MAX_NAME_BYTES = 120

#: ``name (2).ext`` ... ``name (99999).ext``, then an error.
MAX_SUFFIX = 100_000

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | \
    {f"{dev}{i}" for dev in ("COM", "LPT") for i in list("123456789") + ["¹", "²", "³"]}
_WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
# Names that need no change: ASCII letters, digits and harmless punctuation,
# not starting with a dot or space, not ending with a dot or space.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-+=,@#&%!~'()\[\]{}]"
                         r"(?:[A-Za-z0-9_\-+=,@#&%!~'()\[\]{}. ]*"
                         r"[A-Za-z0-9_\-+=,@#&%!~'()\[\]{}])?\Z")


# ------------------------------------------------- names that are not UTF-8

def _single_bytes(err: UnicodeDecodeError):
    """Decode error handler: each byte that is not UTF-8 read as Windows-1252
    (Latin-1 where 1252 leaves a byte undefined)."""
    bad = err.object[err.start:err.end]
    text = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in bad)
    return text, err.end


codecs.register_error("imagelab-cp1252", _single_bytes)


def _os_bytes(text: str) -> bytes:
    """The bytes a str from the OS stands for (lone surrogates = undecodable
    bytes, Python's ``surrogateescape``); other lone surrogates become U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF and not 0xDC80 <= ord(ch) <= 0xDCFF
                       else ch for ch in text).encode("utf-8", "surrogateescape")


def is_valid_text(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def readable(text: str) -> str:
    """``text`` as valid Unicode, for a new name.

    A file name that is not UTF-8 (e.g. ``caf\\xe9`` in Latin-1, from an old
    camera or a Windows zip) reaches Python with lone surrogates in place of
    the bad bytes; no UTF-8 name or text file can hold those. Such bytes are
    read as Windows-1252, the likeliest encoding of such names (a superset of
    Latin-1's letters), so ``caf\\xe9`` becomes ``café``.
    """
    if is_valid_text(text):
        return text
    return _os_bytes(text).decode("utf-8", "imagelab-cp1252")


def printable(text: str) -> str:
    """``text`` for a UTF-8 text file, the bytes that are not UTF-8 written
    ``\\xe9`` as ``ls -b`` shows them (so the exact name stays visible)."""
    if is_valid_text(text):
        return text
    return _os_bytes(text).decode("utf-8", "backslashreplace")


# ------------------------------------------------------------ safe names

def _cut_bytes(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore")


def safe_name(text, *, max_bytes: int = MAX_NAME_BYTES, keep_suffix: bool = False) -> str:
    """A file or folder name made from any text, safe on Linux, macOS and Windows.

    Path separators, control characters and characters Windows forbids become
    ``_``; leading dots become ``_`` (no ``..``, no hidden folders); trailing
    dots and spaces are dropped; Windows device names (``CON``, ``com1.txt``)
    get a ``_`` prefix; bytes that were not UTF-8 are read as in
    ``readable``; the result is NFC-normalised and at most ``max_bytes``
    UTF-8 bytes (with ``keep_suffix``, a file's extension survives the cut).
    Empty text gives ``"_empty"``.
    """
    text = str(text)
    if _PLAIN_NAME.match(text) and len(text) <= max_bytes and \
            text.split(".")[0].upper() not in _WINDOWS_RESERVED:
        return text  # the common case, checked fast
    text = unicodedata.normalize("NFC", readable(text))
    chars = ["_" if ch in _WINDOWS_FORBIDDEN or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
             else ch for ch in text]
    name = "".join(chars).strip()
    stripped = name.lstrip(".")
    name = "_" * (len(name) - len(stripped)) + stripped
    suffix = ""
    if keep_suffix:
        stem, suffix = os.path.splitext(name)
        if len(suffix.encode("utf-8")) > 16:
            stem, suffix = name, ""
        name = stem
    name = _cut_bytes(name, max_bytes - len(suffix.encode("utf-8"))).rstrip(". ")
    if not name:
        name = EMPTY
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = "_" + name
    return name + suffix


def folder_names(labels: Iterable[Optional[str]], *,
                 fixed: Optional[Dict[Hashable, str]] = None) -> Dict[Hashable, str]:
    """Map distinct labels to distinct safe folder names.

    ``None`` (a missing label) maps to ``"_unlabeled"``; ``fixed`` maps extra
    keys to names that are taken first (e.g. ``"_review"``). Names are
    compared case-insensitively, so ``Cat`` and ``cat`` stay apart on Windows
    and macOS too. A label whose safe name equals the label keeps it; the
    others, in sorted order, get ``name (2)``, ``name (3)``, ...
    """
    fixed = dict(fixed or {})
    distinct = set(labels)
    result: Dict[Hashable, str] = {}
    taken = set()

    def take(key, name):
        base, k = name, 1
        while name.casefold() in taken:
            k += 1
            name = f"{_cut_bytes(base, MAX_NAME_BYTES - 8)} ({k})"
        taken.add(name.casefold())
        result[key] = name

    for key, name in fixed.items():
        take(key, name)
    if None in distinct:
        take(None, UNLABELED)
        distinct.discard(None)
    ordered = sorted(distinct, key=lambda label: printable(str(label)))
    exact = [label for label in ordered
             if is_valid_text(str(label))
             and safe_name(label) == unicodedata.normalize("NFC", str(label))]
    exact_set = set(exact)
    for label in exact + [label for label in ordered if label not in exact_set]:
        if label not in result:
            take(label, safe_name(label))
    return result


# ------------------------------------------------------- free names

def numbered(name: str, k: int) -> str:
    """``name`` for k == 1, else ``stem (k).ext``."""
    if k == 1:
        return name
    stem, ext = os.path.splitext(name)
    if len(ext) > 16 or " " in ext:
        stem, ext = name, ""
    return f"{stem} ({k}){ext}"


def free_name_candidates(directory: str, name: str,
                         reserved: Optional[str] = None) -> Iterator[str]:
    """``directory/name``, then ``directory/stem (2).ext``, ... leaving out the
    ``reserved`` name (case-folded); ImageLabError when there are no more."""
    for k in range(1, MAX_SUFFIX):
        candidate = numbered(name, k)
        if candidate.casefold() != reserved:
            yield os.path.join(directory, candidate)
    raise ImageLabError(f"more than {MAX_SUFFIX} files named {name}")
