"""The embedding pipeline: images -> vectors, fast, cached, cancellable.

    >>> result = embed_locations(["a.jpg", "b.png", None])
    >>> result.vectors.shape, result.ok          # (3, 1280), [True, True, False]

How it runs (data parallel, one worker per core):

- the images are cut into batches; each worker takes a batch, reads each
  file's bytes once, hashes them (see ``cache``), looks the hash up in the
  cache and, on a miss, decodes the image from the same bytes (JPEG draft
  mode, EXIF orientation, RGB, resized to the model's square input), then
  runs the batch's misses through onnxruntime on its own thread. Pillow and
  onnxruntime release the GIL, so the workers run truly in parallel, and one
  worker's decoding overlaps another's inference;
- this beats one batch at a time on all cores (onnxruntime's parallel loops
  stall whenever a decoder thread preempts one of their threads): measured on
  2 cores, 107-117 against 92-97 images/s;
- at most two batches per worker are in flight, so memory is bounded
  whatever the number of images;
- each batch's vectors -- ``features`` and ``logits`` both, from one pass --
  are written to the cache in one transaction, so a cancelled or crashed run
  keeps what it finished and the other output is a pure cache hit later.
"""
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .cache import EmbeddingCache, content_hash
from ..pixels.decoding import load_array, read_bytes
from ..errors import ImageError, as_image_error
from ..executors import bounded_map, cores, get_executor
from ..models import DEFAULT_MODEL, get_model
from ..paths import is_remote
from ..progress import ProgressCallback, checked

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
    #: problems with the cache, for the user (the vectors are right regardless)
    warnings: list = field(default_factory=list)


def decode_threads(*, urls: bool = False) -> int:
    """Worker threads: one per core (at most 8); fetching URLs waits on the
    network, not the CPU: 8."""
    return 8 if urls else max(1, min(cores(), 8))


def _prepare(index, location, size, model_id, output, dimension,
             cache: Optional[EmbeddingCache], stop: Optional[threading.Event] = None):
    """Worker: -> (index, "cached", vectors) | (index, "image", (hash, array))
    | (index, "error", ImageError). Setting ``stop`` ends a URL read under way."""
    if location is None:
        return index, "error", ImageError("", "no image")
    try:
        data = read_bytes(location, cancel=stop)
        key = content_hash(data)
        if cache is not None:
            try:
                hit = cache.get(key, model_id, output, dimension)
            except sqlite3.Error:  # a locked or damaged cache is a miss, not a failure
                hit = None
            if hit is not None:
                return index, "cached", hit
        pixels = load_array(location, size=(size, size), data=data)
        return index, "image", (key, pixels)
    except Exception as err:  # pylint: disable=broad-except
        # one bad image must not stop the run (see as_image_error)
        return index, "error", as_image_error(location, err)


def _embed_batch(rows, locations, spec, model_id, output,
                 cache: Optional[EmbeddingCache],
                 stop: Optional[threading.Event] = None) -> list:
    """Worker: prepare the images of ``rows`` and run the model on the ones not
    cached, as one batch; cache both outputs. -> [(row, kind, value)] with kind
    "cached" or "computed" (a vector) or "error" (an ImageError). Once ``stop``
    is set (the run ended early), the rows not started are left out."""
    results, keys, pixels, image_rows = [], [], [], []
    for row in rows:
        if stop is not None and stop.is_set():
            break
        dimension = spec.dimension if output == "features" else spec.n_classes
        _, kind, value = _prepare(row, locations[row], spec.image_size, model_id,
                                  output, dimension, cache, stop)
        if kind == "image":
            key, array = value
            keys.append(key)
            pixels.append(array)
            image_rows.append(row)
        else:
            results.append((row, kind, value))
    if pixels:
        features, logits = spec.run(np.stack(pixels))
        if cache is not None:
            try:
                cache.put_many(model_id, [
                    (key, {"features": vector, "logits": row})
                    for key, vector, row in zip(keys, features, logits)])
            except sqlite3.Error:
                pass  # a full disk or a locked cache costs speed next time, not this run
        computed = features if output == "features" else logits
        results.extend((row, "computed", vector) for row, vector in zip(image_rows, computed))
    return results


def _open_cache(warnings: list) -> Optional[EmbeddingCache]:
    """The cache, or None if it cannot be opened (a read-only folder, a lock):
    embedding then works without it, and ``warnings`` says why. (A damaged
    file is moved aside by the cache itself and a new one started.)"""
    try:
        return EmbeddingCache()
    except (sqlite3.Error, OSError) as err:
        warnings.append(f"The embedding cache cannot be used ({err}); "
                        "images are embedded without it.")
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
    warnings = []
    cache = _open_cache(warnings) if use_cache else None
    threads = threads or decode_threads(
        urls=any(is_remote(loc) for loc in locations))
    window = 2 * threads  # batches in flight
    done = 0
    cached = 0

    callback(0.0)
    if n:
        spec.session()  # build / load the model before the clock starts
    batches = [range(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    pool = get_executor("threads", max_workers=threads, name="imagelab-embed")
    # Set when this call ends (Cancelled included): the workers then stop
    # reading, so an abandoned run ends within a fraction of a second even
    # when its URLs hang, instead of after every batch in flight.
    stop = threading.Event()
    try:
        results = bounded_map(pool, lambda rows: _embed_batch(
            rows, locations, spec, model_id, output, cache, stop), batches, window=window,
            poll=lambda: callback(done / n))
        for batch in results:
            for row, kind, value in batch:
                if kind == "error":
                    errors[row] = value
                else:
                    vectors[row] = value
                    ok[row] = True
                    cached += kind == "cached"
                done += 1
            callback(done / n)
    finally:
        # The batches under way finish (they stop reading at once, and their
        # inference is short) before the cache they write to is closed.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if cache is not None:
            warnings.extend(cache.close_and_check())
    callback(1.0)
    error_rows = sorted(errors)
    return EmbeddingArrays(vectors, ok, [errors[i] for i in error_rows], error_rows,
                           cached=cached, warnings=warnings)
