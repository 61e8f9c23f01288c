"""Download many images into one folder: in parallel, once, resumably, checked.

    >>> report = download_urls(urls, "photos/", names=image_ids)   # doctest: +SKIP
    >>> report.paths[i], report.status[i]        # "a1b2.jpg", "downloaded"
    >>> report.failed                            # [SkippedEntry(url, "HTTP 404 (Not Found)")]

Rules:

- each URL is written once, under a **safe name** from its ID (``names``) or,
  without one, from its URL's last path segment plus a short hash of the URL;
  the extension follows what arrived (``.jpg`` for a JPEG, whatever the URL
  says). Rows with the same URL share one download;
- an **existing complete file** under that name is kept and counted as
  "present" (``skip_existing``, the default); a file there that is not a
  readable image is left alone and the row fails, naming it. Nothing is ever
  overwritten: with ``skip_existing=False`` the URL is fetched again and a
  different content goes to ``name (2).jpg``;
- bytes go to ``<name>.part`` first; only a complete body that is an image
  (magic bytes, Pillow's header and ``verify``, the format's end marker) is
  linked to its final name. A broken connection is resumed with a ``Range``
  request, in this run (``retries``) or the next; a killed run leaves only
  ``.part`` files, which the next run continues. Cancel removes the part
  files of the downloads it interrupted;
- every failure is named per URL: "HTTP 404 (Not Found)", "timed out",
  "not an image (an HTML page)", "too big (over 50,000,000 bytes)",
  "bad URL (...)", "refused scheme 'ftp' (...)", "no URL";
- downloads run in threads from ``core.executors`` (sockets release the
  GIL), with one pooled ``HttpClient``; at most ``2 * threads`` are queued.
"""
import hashlib
import os
import re
import threading
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, UnidentifiedImageError

from .http import HttpClient
from ..errors import (Cancelled, FetchError, ImageError, ImageLabError, SkippedEntry,
                      as_image_error, reason)
from ..executors import bounded_map, get_executor
from ..paths import check_url
from ..pixels import decoding
from ..progress import ProgressCallback, checked
from ..store.placing import PlaceJob, place, remove_quietly

__all__ = ["download_urls", "DownloadReport", "DownloadStats", "safe_stem",
           "check_image", "PART_SUFFIX"]

PART_SUFFIX = ".part"

#: Pillow format -> file extension of a downloaded image.
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp",
              "BMP": ".bmp", "TIFF": ".tif", "MPO": ".jpg", "ICO": ".ico",
              "PPM": ".ppm", "TGA": ".tga", "JPEG2000": ".jp2", "AVIF": ".avif",
              "HEIF": ".heic"}
_KNOWN_EXTENSIONS = frozenset(EXTENSIONS.values())

_MAX_STEM = 80
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}


@dataclass
class DownloadStats:
    """Live counters of a run, for a progress line (images/s, MB/s); safe to
    read from another thread while the run updates them."""
    total: int = 0        # distinct URLs
    done: int = 0         # finished (downloaded, present or failed)
    received: int = 0     # bytes that came over the network or from file URLs
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.received += n

    def rates(self) -> Tuple[float, float]:
        """(images per second, megabytes per second) since the start."""
        seconds = max(time.monotonic() - self.started, 1e-6)
        return self.done / seconds, self.received / seconds / 1e6


@dataclass
class DownloadReport:
    """Result of ``download_urls``, per input row and overall.

    ``paths``: each row's file name relative to the folder (None where it
    failed); ``status``: "downloaded", "present" or "failed"; ``sizes``:
    (width, height, bytes) of each row's image (stored pixels; None where
    failed); ``orientations``: each row's EXIF orientation (1 = as stored;
    5-8 show width and height swapped); ``failed``: ``SkippedEntry(url,
    reason)`` for each failed row, in row order, with ``failed_rows`` their
    indices.
    """
    folder: str
    paths: List[Optional[str]]
    status: List[str]
    sizes: List[Optional[Tuple[int, int, int]]]
    orientations: List[int] = field(default_factory=list)
    failed: List[SkippedEntry] = field(default_factory=list)
    failed_rows: List[int] = field(default_factory=list)
    received: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return self.status.count(status)


# ----------------------------------------------------------------- names

def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[^\w.-]+", "_", text, flags=re.UNICODE)
    text = re.sub(r"_{2,}", "_", text).strip("._- ")
    return text


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def safe_stem(url: str, name: Optional[str] = None) -> str:
    """A file name without extension for ``url``: from ``name`` (an ID) when
    given, else from the URL's last path segment and a hash of the URL (two
    sites' ``photo.jpg`` do not collide). Only letters, digits, ``.-_``;
    never hidden, never a reserved Windows name, at most 80 characters."""
    if name is not None and str(name).strip():
        stem = _clean(str(name).strip())
        raw = str(name)
        with_hash = stem != raw.strip()  # changed by cleaning: keep it unique
    else:
        segment = urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        segment = re.sub(r"%[0-9A-Fa-f]{2}", "_", segment)
        stem = _clean(os.path.splitext(segment)[0]) or "image"
        raw, with_hash = url, True
    if len(stem) > _MAX_STEM:
        stem, with_hash = stem[:_MAX_STEM].rstrip("._-"), True
    if not stem or stem.lower().split(".")[0] in _WINDOWS_RESERVED:
        stem, with_hash = f"_{stem}", True
    return f"{stem}-{_short_hash(raw)}" if with_hash else stem


def _existing(folder: str) -> Dict[str, str]:
    """{stem: file name} of the image files already in ``folder`` (one listing)."""
    found = {}
    try:
        entries = os.scandir(folder)
    except FileNotFoundError:
        return found
    with entries:
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() in _KNOWN_EXTENSIONS and not entry.name.startswith("."):
                found.setdefault(stem, entry.name)
    return found


# ------------------------------------------------------------ validation

_TEXT_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"{", b"[")


def check_image(path: str, content_type: str = "") -> decoding.ImageInfo:
    """The header of a downloaded file (format, stored width and height,
    EXIF orientation), or ImageError.

    Checks magic bytes (an HTML page or JSON is named as such), Pillow's
    header and ``verify``, and the end marker (a truncated JPEG fails).
    Width and height are the stored pixels (before any EXIF rotation), as
    box coordinates count them; ``display_size`` is what a viewer shows.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as err:
        raise ImageError(path, reason(err)) from err
    if not head:
        raise ImageError(path, "empty file (0 bytes)")
    start = head.lstrip().lower()
    if start.startswith(_TEXT_STARTS):
        what = "an HTML page" if b"html" in start else \
            "JSON" if start.startswith((b"{", b"[")) else "text"
        raise ImageError(path, f"not an image ({what})")
    try:
        info = decoding.probe(path)  # header, pixel limit, truncation
    except ImageError as err:
        kind = content_type.split(";")[0].strip()
        if err.reason == "not an image file" and kind:
            raise ImageError(path, f"not an image ({kind})") from err
        raise
    try:
        if info.format != "JPEG":  # JPEG's verify checks nothing; probe did
            with Image.open(path) as image:
                image.verify()  # chunk checksums (PNG), structure
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, RuntimeError) as err:
        raise as_image_error(path, err) from err
    return info


# --------------------------------------------------------------- the run

@dataclass
class _Job:
    url: str
    stem: str
    rows: List[int]


@dataclass
class _Outcome:
    status: str                       # "downloaded" | "present" | "failed"
    name: Optional[str] = None
    size: Optional[Tuple[int, int, int]] = None
    orientation: int = 1
    error: Optional[str] = None


def _present(folder: str, name: str) -> _Outcome:
    """An existing file under the target name: present if it is a readable image."""
    path = os.path.join(folder, name)
    try:
        info = check_image(path)
    except ImageError as err:
        return _Outcome("failed", error=f"{name} is in the way and is not a readable "
                                        f"image ({err.reason}); move it away and rerun")
    return _Outcome("present", name, (info.width, info.height, os.path.getsize(path)),
                    info.orientation)


def _fetch(job: _Job, folder: str, client: HttpClient, options: dict,
           existing: Optional[str], stop: threading.Event,
           stats: DownloadStats) -> _Outcome:
    """Worker: one URL into the folder (see the module docstring)."""
    part = os.path.join(folder, job.stem + PART_SUFFIX)
    if existing is not None and options["skip_existing"]:
        outcome = _present(folder, existing)
        if outcome.status == "present":
            # a run killed between linking the file and removing its part
            remove_quietly(part)
        return outcome
    try:
        fetched = client.download(job.url, part, timeout=options["timeout"],
                                  max_bytes=options["max_bytes"],
                                  retries=options["retries"], cancel=stop,
                                  on_bytes=stats.add_bytes)
    except Cancelled:
        remove_quietly(part)  # Cancel leaves no half-written file
        raise
    except FetchError as err:
        if not err.retryable or _empty(part):
            remove_quietly(part)  # a 404, too big, nothing came: nothing to resume
        return _Outcome("failed", error=err.reason)
    except OSError as err:  # writing the part: a full disk, no permission
        return _Outcome("failed", error=reason(err, writing=True))
    try:
        info = check_image(part, fetched.content_type)
    except ImageError as err:
        remove_quietly(part)  # ours, and useless: the next run starts afresh
        return _Outcome("failed", error=err.reason)
    name = job.stem + EXTENSIONS.get(info.format, "." + info.format.lower())
    try:
        # linked to its name, never replacing: a taken name with the same
        # content means it is there already, other content gets "name (2).jpg"
        placed = place(PlaceJob(part, folder, name, how="link unhashed"))
    except ImageLabError as err:  # a PlaceError, its reason from core.errors.reason
        return _Outcome("failed", error=reason(err))
    finally:
        remove_quietly(part)
    return _Outcome("present" if placed.status == "already present" else "downloaded",
                    os.path.basename(placed.destination),
                    (info.width, info.height, placed.bytes), info.orientation)


def _empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def _check_options(threads, timeout, retries, max_bytes) -> None:
    if not isinstance(threads, int) or not 1 <= threads <= 256:
        raise ValueError(f"threads must be an integer from 1 to 256, got {threads!r}")
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not isinstance(retries, int) or not 0 <= retries <= 100:
        raise ValueError(f"retries must be an integer from 0 to 100, got {retries!r}")
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")


def download_urls(urls: Sequence[Optional[str]], folder, *,
                  names: Optional[Sequence[Optional[str]]] = None,
                  threads: int = 16, timeout: float = 30.0, retries: int = 3,
                  max_bytes: int = 50_000_000, skip_existing: bool = True,
                  callback: ProgressCallback = None,
                  stats: Optional[DownloadStats] = None,
                  client: Optional[HttpClient] = None) -> DownloadReport:
    """Download the images at ``urls`` into ``folder`` (created if needed).

    Parameters
    ----------
    urls : sequence of str or None, length n
        ``http(s)://`` or absolute ``file:`` URLs; None or "" fails as "no URL".
    names : sequence of str or None, length n, optional
        IDs to name the files by (e.g. Open Images' ImageID); a row without
        one is named from its URL.
    threads : downloads at once. timeout : seconds each attempt may take in
        all. retries : attempts after the first, on 5xx, 408, 429, timeouts
        and broken connections. max_bytes : the largest file accepted.
    callback : progress(fraction); it may raise ``Cancelled``, which stops
        the downloads under way (their part files are removed) and propagates.
    stats : a ``DownloadStats`` to watch the run live (images/s, MB/s).
    client : an ``HttpClient`` to use (default: a new one for this run).

    Returns a ``DownloadReport`` (per row: file name, status, size; failures
    with reasons).
    """
    _check_options(threads, timeout, retries, max_bytes)
    if names is not None and len(names) != len(urls):
        raise ValueError(f"names has {len(names)} values for {len(urls)} URLs")
    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(f"folder must be a folder, but {folder} is a file")
    os.makedirs(folder, exist_ok=True)
    callback = checked(callback)
    start = time.monotonic()
    n = len(urls)
    outcomes: List[Optional[_Outcome]] = [None] * n
    jobs = _plan(urls, names, outcomes)
    stats = stats if stats is not None else DownloadStats()
    stats.total, stats.done, stats.started = len(jobs), 0, time.monotonic()
    existing = _existing(folder)
    options = dict(timeout=timeout, retries=retries, max_bytes=max_bytes,
                   skip_existing=skip_existing)
    own_client = client is None
    client = client if client is not None else HttpClient(connections=threads)
    stop = threading.Event()
    pool = get_executor("threads", max_workers=threads, name="imagelab-download")
    done = 0
    callback(0.0)
    try:
        results = bounded_map(
            pool, lambda job: _fetch(job, folder, client, options,
                                     _existing_name(existing, job.stem), stop, stats),
            jobs, window=2 * threads,
            poll=lambda: callback(done / len(jobs)))
        for job, outcome in zip(jobs, results):
            for row in job.rows:
                outcomes[row] = outcome
            done += 1
            stats.done = done
            callback(done / len(jobs))
    finally:
        # Workers see ``stop`` within a fraction of a second, remove their
        # part files and end; waiting for that keeps Cancel's promise that
        # no half-written file is left (the GUI never waits for this job).
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if own_client:
            client.close()
    callback(1.0)
    return _report(folder, urls, outcomes, stats.received, time.monotonic() - start)


def _existing_name(existing: Dict[str, str], stem: str) -> Optional[str]:
    return existing.get(stem)


def _plan(urls, names, outcomes) -> List[_Job]:
    """One job per distinct URL; rows without a usable URL fail here."""
    jobs: Dict[str, _Job] = {}
    stems: Dict[str, str] = {}  # stem -> URL that has it
    for row, url in enumerate(urls):
        url = "" if url is None else str(url).strip()
        try:
            check_url(url)
        except FetchError as err:
            outcomes[row] = _Outcome("failed", error=err.reason)
            continue
        job = jobs.get(url)
        if job is None:
            name = names[row] if names is not None else None
            stem = safe_stem(url, name)
            if stems.get(stem, url) != url:  # one ID for two URLs: keep both
                stem = f"{stem}-{_short_hash(url)}"
            stems[stem] = url
            job = jobs[url] = _Job(url, stem, [])
        job.rows.append(row)
    return list(jobs.values())


def _report(folder, urls, outcomes, received, seconds) -> DownloadReport:
    report = DownloadReport(folder, [o.name for o in outcomes], [o.status for o in outcomes],
                            [o.size for o in outcomes], [o.orientation for o in outcomes],
                            received=received, seconds=seconds)
    for row, outcome in enumerate(outcomes):
        if outcome.status == "failed":
            report.failed.append(SkippedEntry("" if urls[row] is None else str(urls[row]),
                                              outcome.error))
            report.failed_rows.append(row)
    return report
