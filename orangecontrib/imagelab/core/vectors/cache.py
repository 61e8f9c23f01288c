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
"""
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import numpy as np

from ..paths import cache_dir

FILE_NAME = "embeddings.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    hash BLOB NOT NULL,
    model TEXT NOT NULL,
    output TEXT NOT NULL,
    vector BLOB NOT NULL,
    UNIQUE (hash, model, output)
)
"""
# A rowid table with a unique index, not WITHOUT ROWID: vectors (4-5 kB) are
# larger than a page, which makes WITHOUT ROWID lookups 3-4 times slower.


def content_hash(data: bytes) -> bytes:
    """A 16-byte blake2b digest of the file's bytes."""
    return hashlib.blake2b(data, digest_size=16).digest()


class EmbeddingCache:
    """``(hash, model, output) -> float32 vector``; safe to use from many threads
    (each thread gets its own connection)."""

    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path is not None else cache_dir() / FILE_NAME
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        with self._connection() as connection:
            connection.execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(str(self.path), timeout=30,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def get(self, key: bytes, model: str, output: str) -> Optional[np.ndarray]:
        """The cached vector of one image, or None."""
        row = self._connection().execute(
            "SELECT vector FROM vectors WHERE hash = ? AND model = ? AND output = ?",
            (key, model, output)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32)

    def put_many(self, model: str,
                 rows: Iterable[Tuple[bytes, Dict[str, np.ndarray]]]) -> None:
        """Store ``(hash, {output: vector})`` rows in one transaction."""
        values = [(key, model, output, np.asarray(vector, np.float32).tobytes())
                  for key, vectors in rows for output, vector in vectors.items()]
        with self._connection() as connection:  # commits, or rolls back on error
            connection.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", values)

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
