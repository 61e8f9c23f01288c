"""A persistent store of embeddings: SQLite in WAL mode in ``cache_dir()``.

Rows are keyed by (content hash of the image file, model id, output name);
the value is the vector as float32 bytes. Rows are written per batch, in a
transaction each, so a cancelled or crashed run keeps everything it finished.
WAL lets decoder threads read while the main thread writes, and lets several
processes (two Orange windows) share the file.

Content hash: blake2b (128 bits) of the file's bytes, whole. The pipeline
reads each file's bytes once anyway (it decodes from them), and blake2b runs
at about 1 GB/s, under a millisecond for a typical photo, so there is no need
for a partial hash (size + first/last MiB) that a retouched photo could fool.
The path is not part of the key: a renamed or copied file is still a hit,
and the same path with new contents is a miss.

Nothing read back is trusted: SQLite has no page checksums, so a disk or a
program that overwrites part of the file can hand back garbage as a vector.
Each row stores an 8-byte checksum of (key, model, output, vector); a row
whose checksum does not match, or (for rows written before checksums) whose
values are not finite, is a miss and is recomputed. A file SQLite cannot
read at all is moved aside (``embeddings.sqlite.damaged-<time>``, kept for
inspection) and a new cache is started; ``warnings`` says so, and the
widgets show it.
"""
import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from ..paths import cache_dir

FILE_NAME = "embeddings.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    hash BLOB NOT NULL,
    model TEXT NOT NULL,
    output TEXT NOT NULL,
    vector BLOB NOT NULL,
    checksum BLOB,
    UNIQUE (hash, model, output)
)
"""
# A rowid table with a unique index, not WITHOUT ROWID: vectors (4-5 kB) are
# larger than a page, which makes WITHOUT ROWID lookups 3-4 times slower.


def content_hash(data: bytes) -> bytes:
    """A 16-byte blake2b digest of the file's bytes."""
    return hashlib.blake2b(data, digest_size=16).digest()


def _checksum(key: bytes, model: str, output: str, blob: bytes) -> bytes:
    digest = hashlib.blake2b(digest_size=8)
    for part in (key, model.encode(), output.encode(), blob):
        digest.update(len(part).to_bytes(4, "little"))
        digest.update(part)
    return digest.digest()


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    """"file is not a database" or "database disk image is malformed"; not
    OperationalError (locked, read-only, disk full), which says nothing
    about the file's content."""
    return not isinstance(err, sqlite3.OperationalError)


def _quarantine(path: Path) -> Path:
    """Move a damaged cache file (and its WAL files) aside; return the new name."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            os.replace(source, Path(str(aside) + suffix))
    return aside


class EmbeddingCache:
    """``(hash, model, output) -> float32 vector``; safe to use from many threads
    (each thread gets its own connection)."""

    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        #: what went wrong with the file, for the user (e.g. "moved aside")
        self.warnings: List[str] = []
        #: rows found damaged and recomputed in this session
        self.damaged_rows = 0
        #: set when SQLite reports the file damaged while in use
        self.damaged = False
        try:
            self._create()
        except sqlite3.DatabaseError as err:
            if not _is_damage(err):
                raise  # locked, read-only, no space: not the file's fault
            self.close()
            aside = _quarantine(self.path)
            self.warnings.append(f"The embedding cache {self.path} was damaged ({err}); "
                                 f"it was moved to {aside.name} and a new one started.")
            self._create()

    def _create(self) -> None:
        connection = self._connection()
        with connection:
            connection.execute(_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(vectors)")}
            if "checksum" not in columns:  # a cache from before checksums
                connection.execute("ALTER TABLE vectors ADD COLUMN checksum BLOB")

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), timeout=30,
                                         check_same_thread=False)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:
                connection.close()
                raise
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def get(self, key: bytes, model: str, output: str,
            dimension: Optional[int] = None) -> Optional[np.ndarray]:
        """The cached vector of one image, or None if absent or damaged.

        A damaged row (wrong checksum, wrong length, values not finite) is
        counted in ``damaged_rows`` and reads as a miss, so the caller
        recomputes it and ``put_many`` replaces it. If SQLite itself reports
        the file damaged, ``damaged`` is set and this is a miss too.
        """
        try:
            row = self._connection().execute(
                "SELECT vector, checksum FROM vectors "
                "WHERE hash = ? AND model = ? AND output = ?",
                (key, model, output)).fetchone()
        except sqlite3.DatabaseError as err:
            self.damaged = self.damaged or _is_damage(err)
            return None
        if row is None:
            return None
        blob, checksum = row
        ok = isinstance(blob, bytes) and len(blob) % 4 == 0 and (
            checksum == _checksum(key, model, output, blob) if checksum is not None
            else True)
        vector = np.frombuffer(blob, dtype=np.float32) if ok else None
        if vector is None or (dimension is not None and len(vector) != dimension) or \
                (checksum is None and not np.isfinite(vector).all()):
            self.damaged_rows += 1
            return None
        return vector

    def put_many(self, model: str,
                 rows: Iterable[Tuple[bytes, Dict[str, np.ndarray]]]) -> None:
        """Store ``(hash, {output: vector})`` rows in one transaction."""
        values = []
        for key, vectors in rows:
            for output, vector in vectors.items():
                blob = np.asarray(vector, np.float32).tobytes()
                values.append((key, model, output, blob, _checksum(key, model, output, blob)))
        try:
            with self._connection() as connection:  # commits, or rolls back on error
                connection.executemany(
                    "INSERT OR REPLACE INTO vectors (hash, model, output, vector, checksum) "
                    "VALUES (?, ?, ?, ?, ?)", values)
        except sqlite3.DatabaseError as err:
            self.damaged = self.damaged or _is_damage(err)
            raise

    def close_and_check(self) -> List[str]:
        """Close; if SQLite reported the file damaged while in use, move it
        aside (the next run starts a new cache). Returns the warnings of the
        whole session, for the user."""
        self.close()
        if self.damaged and self.path.exists():
            aside = _quarantine(self.path)
            self.warnings.append(f"The embedding cache {self.path} is damaged; it was "
                                 f"moved to {aside.name} and the next run starts a new one.")
            self.damaged = False
        if self.damaged_rows:
            self.warnings.append(f"{self.damaged_rows:,} damaged cache entries were "
                                 "recomputed.")
        return self.warnings

    def count(self, model: Optional[str] = None) -> int:
        """Number of cached images (of ``model`` or of all models)."""
        query = "SELECT COUNT(DISTINCT hash || model) FROM vectors"
        args: tuple = ()
        if model is not None:
            query += " WHERE model = ?"
            args = (model,)
        return self._connection().execute(query, args).fetchone()[0]

    def clear(self, model: Optional[str] = None) -> None:
        """Remove the cached vectors (of ``model``, or all), and shrink the file."""
        connection = self._connection()
        with connection:
            if model is None:
                connection.execute("DELETE FROM vectors")
            else:
                connection.execute("DELETE FROM vectors WHERE model = ?", (model,))
        connection.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


def clear_cache(model: Optional[str] = None) -> None:
    """Empty the embedding cache in ``cache_dir()`` (for one model key, or all)."""
    cache = EmbeddingCache()
    try:
        if model is None:
            cache.clear()
        else:
            # model ids are "<key>-<weights hash>"; clear every version of the key
            connection = cache._connection()
            with connection:
                connection.execute("DELETE FROM vectors WHERE model LIKE ?", (f"{model}-%",))
    finally:
        cache.close()


def derived_key(source_key: bytes, params: str) -> bytes:
    """The cache key of an image made in memory from another one (e.g. an
    augmented copy): a 16-byte blake2b of (the source's content hash, the
    canonical text of the transform's parameters). The digest is personalised
    ("imagelab-derive"), so it lives apart from the files' ``content_hash`` keys
    in the same table."""
    digest = hashlib.blake2b(digest_size=16, person=b"imagelab-derive")
    digest.update(source_key)
    digest.update(params.encode("utf-8"))
    return digest.digest()
