"""The embedding pipeline: images -> vectors, fast, cached, cancellable.

    >>> result = embed_locations(["a.jpg", "b.png", None])
    >>> result.vectors.shape, result.ok          # (3, 1280), [True, True, False]

How it runs:

- a thread pool reads each file's bytes once, hashes them (see ``cache``),
  looks the hash up in the cache and, on a miss, decodes the image from the
  same bytes (JPEG draft mode, EXIF orientation, RGB, resized to the model's
  square input); Pillow releases the GIL, so decoding runs truly in parallel;
- the calling thread collects decoded images in order into batches and runs
  each batch through onnxruntime (which releases the GIL too), while the pool
  decodes the next images: decoding overlaps inference;
- at most ``window`` images are in flight (read, hashed or decoded, not yet
  consumed), so memory is bounded whatever the number of images;
- each batch's vectors -- ``features`` and ``logits`` both, from one pass --
  are written to the cache in one transaction, so a cancelled or crashed run
  keeps what it finished and the other output is a pure cache hit later.
"""
import os
import sqlite3
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .cache import EmbeddingCache, content_hash
from .decoding import load_array, read_bytes
from .errors import ImageError
from .models import DEFAULT_MODEL, get_model
from .progress import ProgressCallback, checked

OUTPUTS = ("features", "logits")
BATCH_SIZE = 16


@dataclass
class EmbeddingArrays:
    """Result of ``embed_locations``.

    vectors: (n, d) float32; rows of failed images are NaN
    ok: (n,) bool
    errors: ImageError (``.path``, ``.reason``) for each failed row, in input order
    error_rows: row index of each error
    """
    vectors: np.ndarray
    ok: np.ndarray
    errors: list = field(default_factory=list)
    error_rows: list = field(default_factory=list)
    #: how many images came from the cache (the rest were computed)
    cached: int = 0


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 2)


def decode_threads(*, with_model: bool = False, urls: bool = False) -> int:
    """Threads that read, hash and decode.

    Alone (hand-made features) as many as cores. Beside onnxruntime, which
    runs its parallel loops on every core, half the cores: a decoder thread
    that preempts one of onnxruntime's threads stalls the whole loop, and on
    2 cores one decoder measured faster than two (pipeline / raw model 0.8
    against 0.45-0.75). Fetching URLs waits on the network, not the CPU: 8.
    """
    if urls:
        return 8
    n = cores()
    return max(1, n // 2) if with_model else max(1, min(n, 8))


def _prepare(index, location, size, model_id, output, cache: Optional[EmbeddingCache]):
    """Worker: -> (index, "cached", vectors) | (index, "image", (hash, array))
    | (index, "error", ImageError)."""
    if location is None:
        return index, "error", ImageError("", "no image")
    try:
        data = read_bytes(location)
        key = content_hash(data)
        if cache is not None:
            try:
                hit = cache.get(key, model_id, output)
            except sqlite3.Error:  # a locked or damaged cache is a miss, not a failure
                hit = None
            if hit is not None:
                return index, "cached", hit
        pixels = load_array(location, size=(size, size), data=data)
        return index, "image", (key, pixels)
    except ImageError as err:
        return index, "error", err
    except MemoryError:
        return index, "error", ImageError(location, "too large to decode (out of memory)")
    except Exception as err:  # pylint: disable=broad-except
        # Pillow's plugins raise many kinds of errors on odd files; one bad
        # image must not stop the run.
        return index, "error", ImageError(
            location, f"cannot decode ({type(err).__name__}: {err})")


def _open_cache() -> Optional[EmbeddingCache]:
    """The cache, or None if it cannot be opened (read-only or damaged folder):
    embedding then works without it."""
    try:
        return EmbeddingCache()
    except (sqlite3.Error, OSError):
        return None


def embed_locations(locations: Sequence[Optional[str]], *,
                    model: str = DEFAULT_MODEL, output: str = "features",
                    use_cache: bool = True, callback: ProgressCallback = None,
                    batch_size: int = BATCH_SIZE, threads: Optional[int] = None,
                    ) -> EmbeddingArrays:
    """Embed images given as paths or ``file://``/``http(s)://`` URLs.

    Parameters
    ----------
    locations : sequence of str or None, length n
        None (a missing cell) becomes a failed row with the reason "no image".
    model : str
        A key of ``models.available_models()``.
    output : "features" or "logits"
        The embedding (n, dimension) or the 1000 ImageNet logits (n, 1000).
    use_cache : bool
        Read and write the SQLite cache in ``cache_dir()``.
    callback : callable(fraction), optional
        Progress; it may raise ``Cancelled``, which propagates after the
        finished batches are cached.

    Returns
    -------
    EmbeddingArrays
        ``vectors`` (n, d) float32 with NaN rows where ``ok`` is False.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be 'features' or 'logits', got {output!r}")
    spec = get_model(model)
    callback = checked(callback)
    n = len(locations)
    dim = spec.dimension if output == "features" else spec.n_classes
    vectors = np.full((n, dim), np.nan, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    errors = {}
    model_id = spec.model_id()
    cache = _open_cache() if use_cache else None
    threads = threads or decode_threads(
        with_model=True,
        urls=any(loc is not None and str(loc).lower().startswith(("http:", "https:"))
                 for loc in locations))
    window = max(4 * batch_size, 4 * threads)
    done = 0
    cached = 0
    batch_rows, batch_keys, batch_pixels = [], [], []

    def run_batch():
        nonlocal done
        features, logits = spec.run(np.stack(batch_pixels))
        result = features if output == "features" else logits
        vectors[batch_rows] = result
        ok[batch_rows] = True
        if cache is not None:
            try:
                cache.put_many(model_id, [
                    (key, {"features": f, "logits": l})
                    for key, f, l in zip(batch_keys, features, logits)])
            except sqlite3.Error:
                pass  # a full disk or a locked cache costs speed next time, not this run
        done += len(batch_rows)
        batch_rows.clear()
        batch_keys.clear()
        batch_pixels.clear()

    callback(0.0)
    if n:
        spec.session()  # build / load the model before the clock starts
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="imagelab-embed")
    pending = deque()
    try:
        next_index = 0
        while next_index < n or pending:
            while next_index < n and len(pending) < window:
                pending.append(pool.submit(_prepare, next_index, locations[next_index],
                                           spec.image_size, model_id, output, cache))
                next_index += 1
            index, kind, value = pending.popleft().result()
            if kind == "error":
                errors[index] = value
                done += 1
            elif kind == "cached":
                vectors[index] = value
                ok[index] = True
                done += 1
                cached += 1
            else:
                key, pixels = value
                batch_rows.append(index)
                batch_keys.append(key)
                batch_pixels.append(pixels)
            if kind != "image" and done % 32 == 0:
                callback(done / n)
            if len(batch_rows) >= batch_size or batch_rows and not pending:
                run_batch()
                callback(done / n)
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
        if cache is not None:
            cache.close()
    callback(1.0)
    error_rows = sorted(errors)
    return EmbeddingArrays(vectors, ok, [errors[i] for i in error_rows], error_rows,
                           cached=cached)
