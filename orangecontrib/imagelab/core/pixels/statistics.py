"""Per-image pixel statistics for the quality and duplicate checks, from one small decode.

    >>> batch = measure_batch([(0, "a.jpg"), (1, "b.png")])       # doctest: +SKIP
    >>> batch.values[:, COLUMNS.index("dark")]                    # doctest: +SKIP

Each image is read once (its bytes hashed for the cache and for exact
duplicates), decoded once at most ``THUMB_SIDE`` px (JPEG ``draft``), and
measured on that thumbnail:

=================  ==============================================================
column             what (scores follow CleanVision 0.3.7's definitions, so its
                   documented thresholds mean the same here)
=================  ==============================================================
``width``          width of the stored image, EXIF-oriented (px)
``height``         height (px)
``file bytes``     size of the file
``dark``           99th percentile of perceived brightness
                   ``sqrt(.241 R² + .691 G² + .068 B²) / 255``; low = dark
``light``          1 - 5th percentile of the same; low = washed out
``entropy``        Shannon entropy (bits) of the colour histogram (grey images:
                   one channel, as Pillow's ``Image.entropy``)
``edges``          standard deviation of Pillow's FIND_EDGES filter on the
                   grey image at most ``BLUR_SIDE`` (64) px (CleanVision's
                   blur statistic, without the filter's one-pixel border)
``grey std``       standard deviation of that grey image (its contrast)
``histogram std``  standard deviation of its 256-bin histogram (CleanVision's
                   term for near-uniform images)
``chroma``         mean over pixels of max(R, G, B) - min(R, G, B) (levels);
                   about 0 for a grey image whatever its file format
``grey mode``      1 if the file stores a grey mode ("L", "LA", "1", "I", ...)
=================  ==============================================================

plus ``tiny``, the grey image reduced to ``TINY`` × ``TINY`` (16 × 16, box
filter: 256 bytes that confirm a near duplicate), ``phash``, the 64-bit DCT
perceptual hash (as ``imagehash.phash``:
32×32 grey, 2-D DCT-II, the top-left 8×8 against their median), and
``pixel_hash``, a 128-bit blake2b of the full-size decoded RGB pixels when
the image was decoded at full size anyway (every format but a JPEG that
draft decoding shrank); the caller hashes the pixels of the remaining
candidates with ``pixel_hash_batch`` (see ``core.vectors.issues``).

``measure_batch`` is a module-level function of picklable arguments that
returns small arrays, so a batch can run in a thread, a process or on a
cluster worker (see ``core.executors``). Statistics are cached by the
file's content hash in SQLite (``StatisticsCache``, its own file next to
the embedding cache); workers only read the cache, the caller writes.
"""
import hashlib
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .decoding import decode_reduced, load_rgb, read_bytes
from ..errors import as_image_error
from ..paths import cache_dir

#: Longest side of the thumbnail every statistic is measured on.
THUMB_SIDE = 64
#: Longest side for the edge (blur) statistics: CleanVision's 64 px.
BLUR_SIDE = 64
#: Bumped whenever a statistic changes, so cached rows of older versions are ignored.
VERSION = "2"
#: side of the grey thumbnail kept per image to confirm near duplicates
TINY = 16

COLUMNS = ("width", "height", "file bytes", "dark", "light", "entropy", "edges",
           "grey std", "histogram std", "chroma", "grey mode")
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")

Entry = Tuple[int, Optional[str]]  # (row, location)


@dataclass
class StatisticsBatch:
    """What ``measure_batch`` returns for m images (the rows it was given).

    rows: (m,) int64; values: (m, len(COLUMNS)) float64, NaN rows where not ok;
    tiny: (m, TINY * TINY) uint8 grey thumbnails; phash: (m,) uint64;
    file_hash, pixel_hash: (m,) ``V16`` (all zero = none);
    ok, cached: (m,) bool; errors: (row, location, reason) of each failed image.
    """
    rows: np.ndarray
    values: np.ndarray
    tiny: np.ndarray
    phash: np.ndarray
    file_hash: np.ndarray
    pixel_hash: np.ndarray
    ok: np.ndarray
    cached: np.ndarray
    errors: List[Tuple[int, str, str]] = field(default_factory=list)


# ------------------------------------------------------------ statistics

def _brightness(rgb: np.ndarray) -> np.ndarray:
    squares = rgb.astype(np.float32) ** 2
    return np.sqrt(squares @ np.array([0.241, 0.691, 0.068], np.float32)).ravel() / 255.0


def _percentiles(values: np.ndarray, fractions: Sequence[float]) -> List[float]:
    """Linear-interpolated percentiles (as ``np.percentile``) with one partition."""
    n = len(values)
    positions = [f * (n - 1) for f in fractions]
    kth = sorted({min(int(p) + d, n - 1) for p in positions for d in (0, 1)})
    part = np.partition(values, kth)
    out = []
    for p in positions:
        low = int(p)
        high = min(low + 1, n - 1)
        out.append(float(part[low] + (part[high] - part[low]) * (p - low)))
    return out


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _dct_rows(n: int = 32, k: int = 8) -> np.ndarray:
    """The first ``k`` rows of the (unnormalised, scipy type-2) DCT matrix of size n."""
    i = np.arange(n)
    return 2 * np.cos(np.pi * np.arange(k)[:, None] * (2 * i[None, :] + 1) / (2 * n))


_DCT8 = _dct_rows()


def phash(grey: Image.Image) -> int:
    """64-bit DCT perceptual hash of a grey ("L") image, bit i = row-major
    position i of the 8×8 low frequencies (imagehash's bit order and values)."""
    pixels = np.asarray(grey.resize((32, 32), Image.LANCZOS), dtype=np.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    bits = (low > np.median(low)).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def pixel_digest(rgb: Image.Image) -> bytes:
    """128-bit hash of decoded 8-bit RGB pixels and their shape."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{rgb.width}x{rgb.height}".encode())
    digest.update(rgb.tobytes())
    return digest.digest()


def _edges(grey: np.ndarray) -> np.ndarray:
    """Pillow's FIND_EDGES (8 × centre - the 8 neighbours, clipped to 0-255) on
    the interior pixels (the filter's border is an artefact, not an edge)."""
    if min(grey.shape) < 3:
        return np.zeros(1)
    g = grey.astype(np.int16)
    h, w = g.shape
    total = np.zeros((h - 2, w - 2), np.int16)
    for dy in range(3):
        for dx in range(3):
            total += g[dy:dy + h - 2, dx:dx + w - 2]
    return np.clip(9 * g[1:-1, 1:-1] - total, 0, 255)


def measure(image: Image.Image, *, width: int, height: int, file_bytes: int,
            grey_mode: bool) -> Tuple[np.ndarray, np.ndarray, int]:
    """Statistics of one thumbnail (RGB, at most ``THUMB_SIDE`` px) ->
    ``((len(COLUMNS),) float64, (TINY * TINY,) uint8, phash)``."""
    if max(image.size) > BLUR_SIDE:
        ratio = max(image.size) / BLUR_SIDE
        image = image.resize((max(int(image.width // ratio), 1),
                              max(int(image.height // ratio), 1)), Image.BICUBIC)
    rgb = np.asarray(image, dtype=np.uint8)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    p5, p99 = _percentiles(_brightness(rgb), (0.05, 0.99))
    channels = (r,) if grey_mode else (r, g, b)
    counts = np.concatenate([np.bincount(c.ravel(), minlength=256) for c in channels])
    grey_image = image.convert("L")
    grey = np.asarray(grey_image)
    chroma = float((np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)).mean())
    values = np.array([
        width, height, file_bytes, p99, 1.0 - p5, _entropy(counts), _edges(grey).std(),
        grey.std(), np.std(np.bincount(grey.ravel(), minlength=256)),
        chroma, float(grey_mode)], dtype=np.float64)
    tiny = np.asarray(grey_image.resize((TINY, TINY), Image.BOX), dtype=np.uint8).ravel()
    return values, tiny, phash(grey_image)


# ------------------------------------------------------------ the cache

FILE_NAME = "image_statistics.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS image_statistics (
    hash BLOB NOT NULL,
    version TEXT NOT NULL,
    vals BLOB NOT NULL,
    tiny BLOB NOT NULL,
    phash INTEGER NOT NULL,
    pixel_hash BLOB NOT NULL,
    UNIQUE (hash, version)
)
"""


class StatisticsCache:
    """``file content hash -> (values, tiny, phash, pixel hash)`` in SQLite (WAL).

    Picklable (only the path travels), so workers can read it; each thread
    opens its own connection. A row is used only if its values have the
    expected length, so a damaged row is a miss, never a wrong answer.
    """

    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list = []
        with self._connection() as connection:
            connection.execute(_SCHEMA)

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def get(self, key: bytes) -> Optional[Tuple[np.ndarray, np.ndarray, int, bytes]]:
        row = self._connection().execute(
            "SELECT vals, tiny, phash, pixel_hash FROM image_statistics "
            "WHERE hash = ? AND version = ?", (key, VERSION)).fetchone()
        if row is None:
            return None
        if len(row[0]) != 8 * len(COLUMNS) or len(row[1]) != TINY * TINY \
                or len(row[3]) not in (0, 16):
            return None
        values = np.frombuffer(row[0], dtype=np.float64)
        tiny = np.frombuffer(row[1], dtype=np.uint8)
        return values, tiny, row[2] & 0xFFFFFFFFFFFFFFFF, bytes(row[3])

    def put_many(self, rows: Iterable[Tuple[bytes, np.ndarray, np.ndarray, int, bytes]]
                 ) -> None:
        """Store ``(hash, values, tiny, phash, pixel hash)`` rows in one transaction."""
        values = [(key, VERSION, np.asarray(vals, np.float64).tobytes(),
                   np.asarray(tiny, np.uint8).tobytes(),
                   int(np.int64(np.uint64(ph))), pixel)   # SQLite integers are signed
                  for key, vals, tiny, ph, pixel in rows]
        with self._connection() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO image_statistics VALUES (?, ?, ?, ?, ?, ?)", values)

    def count(self) -> int:
        return self._connection().execute(
            "SELECT COUNT(*) FROM image_statistics WHERE version = ?", (VERSION,)).fetchone()[0]

    def clear(self) -> None:
        connection = self._connection()
        with connection:
            connection.execute("DELETE FROM image_statistics")
        connection.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


def open_cache() -> Optional[StatisticsCache]:
    """The cache in ``cache_dir()``, or None if it cannot be opened (checks then
    run without it)."""
    try:
        return StatisticsCache()
    except (sqlite3.Error, OSError):
        return None


# ------------------------------------------------------------ the work unit

def content_hash(data: bytes) -> bytes:
    """16-byte blake2b of a file's bytes (the embedding cache's key too)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def measure_batch(entries: Sequence[Entry], *,
                  cache: Optional[StatisticsCache] = None) -> StatisticsBatch:
    """Read, hash, decode small and measure each ``(row, location)``.

    A None location or any failure becomes an entry of ``errors`` (the image
    is named with its reason); the other images go on. ``cache``, if given,
    is read (never written: the caller stores the rows whose ``cached`` is
    False).
    """
    m = len(entries)
    batch = StatisticsBatch(
        rows=np.array([row for row, _ in entries], dtype=np.int64),
        values=np.full((m, len(COLUMNS)), np.nan), tiny=np.zeros((m, TINY * TINY), np.uint8),
        phash=np.zeros(m, np.uint64),
        file_hash=np.zeros(m, "V16"), pixel_hash=np.zeros(m, "V16"),
        ok=np.zeros(m, bool), cached=np.zeros(m, bool))
    for i, (row, location) in enumerate(entries):
        if location is None:
            batch.errors.append((int(row), "", "no image"))
            continue
        try:
            data = read_bytes(location)
            key = content_hash(data)
            batch.file_hash[i] = np.void(key)
            hit = None
            if cache is not None:
                try:
                    hit = cache.get(key)
                except sqlite3.Error:
                    hit = None  # a locked or damaged cache is a miss
            if hit is not None:
                batch.values[i], batch.tiny[i], batch.phash[i] = hit[:3]
                if hit[3]:
                    batch.pixel_hash[i] = np.void(hit[3])
                batch.ok[i] = batch.cached[i] = True
                continue
            reduced = decode_reduced(location, max_side=THUMB_SIDE, data=data)
            batch.values[i], batch.tiny[i], batch.phash[i] = measure(
                reduced.image, width=reduced.width, height=reduced.height,
                file_bytes=len(data), grey_mode=reduced.mode in GREY_MODES)
            if reduced.full is not None:
                batch.pixel_hash[i] = np.void(pixel_digest(reduced.full))
            batch.ok[i] = True
        except Exception as err:  # pylint: disable=broad-except
            # one bad image must not stop the run (see as_image_error)
            error = as_image_error(location, err)
            batch.errors.append((int(row), error.path, error.reason))
    return batch


def pixel_hash_batch(entries: Sequence[Entry]) -> List[Tuple[int, bytes]]:
    """``(row, pixel hash)`` of each image decoded at full size; ``b""`` where
    it fails (the first pass already reported why)."""
    out = []
    for row, location in entries:
        try:
            out.append((int(row), pixel_digest(load_rgb(location))))
        except Exception:  # pylint: disable=broad-except
            out.append((int(row), b""))
    return out
