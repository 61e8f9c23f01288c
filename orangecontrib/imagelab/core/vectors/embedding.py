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

On a Dask cluster (``executor=`` a ``core.executors`` "dask" executor; any
executor whose workers can import this package will do):

- this computer looks each image up in the cache first (it reads and hashes
  the files it can read; ``http(s)`` URLs and files it cannot read go to the
  workers unread), so a rerun sends nothing that is cached;
- batches of the other locations go to the workers (``embed_on_worker``):
  each worker process loads the model once (``ModelSpec.session`` is cached
  per process), reads, decodes and embeds its batches and returns both
  outputs with each file's content hash; the vectors are written to this
  computer's cache as they come back, so a run that stops (Cancel, a lost
  scheduler) keeps what came back. A location a worker cannot read is a
  skipped row whose reason names the worker.
"""
import functools
import sqlite3
import threading
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .cache import EmbeddingCache, content_hash, derived_key
from ..pixels.decoding import load_array, read_bytes
from ..errors import ImageError, ModelError, as_image_error
from ..executors import bounded_map, cores, get_executor, shutdown_quietly, worker_name
from ..models import DEFAULT_MODEL, get_model
from ..paths import is_remote
from ..progress import ProgressCallback, checked

OUTPUTS = ("features", "logits")
#: Images per model run. With one run per core, 8 measured faster than 16 or
#: 32 on 2 cores (a smaller batch's activations stay in the processor's
#: cache): onnxruntime alone, int8 model, 298-306 images/s against 268-298
#: for 16 and 256 for 32 (float model: 203 against 197 for 16); the whole
#: pipeline with the int8 model, 244-248 against 227 (2026-12-02, ad hoc).
BATCH_SIZE = 8


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


def embed_on_worker(locations: Sequence[Optional[str]], model: str) -> dict:
    """Runs on a worker: read, decode and embed ``locations`` with ``model``
    (a key), without any cache; the model is loaded once per process.

    Returns ``{"model_id": str, "rows": [i], "hashes": [bytes],
    "features": (k, d) float32, "logits": (k, 1000) float32,
    "errors": [(i, location, reason)]}``, ``i`` indexing ``locations``; a
    reason names the worker ("file not found on Dask worker tcp://...").
    """
    spec = get_model(model)
    model_id = spec.model_id()
    rows, hashes, pixels, errors = [], [], [], []
    where = None
    for i, location in enumerate(locations):
        _, kind, value = _prepare(i, location, spec.image_size, model_id, "features",
                                  spec.dimension, None)
        if kind == "image":
            rows.append(i)
            hashes.append(value[0])
            pixels.append(value[1])
        else:
            where = where or worker_name()
            errors.append((i, value.path, f"{value.reason} on {where}"))
    if pixels:
        features, logits = spec.run(np.stack(pixels))
    else:
        features = np.zeros((0, spec.dimension), np.float32)
        logits = np.zeros((0, spec.n_classes), np.float32)
    return {"model_id": model_id, "rows": rows, "hashes": hashes,
            "features": np.asarray(features, np.float32),
            "logits": np.asarray(logits, np.float32), "errors": errors}


def _cached_vector(location, model_id, output, dimension, cache: EmbeddingCache):
    """The cached vector of a file this computer can read, else None (a miss:
    the workers will read it; URLs are never fetched here)."""
    if location is None or is_remote(location):
        return None
    try:
        key = content_hash(read_bytes(location))
        return cache.get(key, model_id, output, dimension)
    except (OSError, ImageError, sqlite3.Error):
        return None  # not readable here, or a locked cache: a miss


def _embed_remote(locations, spec, output, cache, executor: Executor, callback,
                  batch_size, vectors, ok, errors) -> int:
    """Fill ``vectors``/``ok``/``errors`` through ``executor``; -> cached count.
    See the module docstring."""
    n = len(locations)
    model_id = spec.model_id()
    dim = vectors.shape[1]
    counts = {"done": 0, "cached": 0}
    sent: deque = deque()  # rows of each batch in flight, in order
    capacity = getattr(executor, "capacity", lambda: cores())()
    lookup_pool = get_executor("threads", max_workers=decode_threads(),
                               name="imagelab-lookup") if cache is not None else None

    def batches():
        """Rows to send, ``batch_size`` at a time; cache hits filled in here."""
        waiting: List[int] = []
        chunk = max(batch_size, 64)
        for start in range(0, n, chunk):
            rows = range(start, min(start + chunk, n))
            hits = lookup_pool.map(
                lambda row: _cached_vector(locations[row], model_id, output, dim, cache),
                rows) if lookup_pool is not None else [None] * len(rows)
            for row, hit in zip(rows, hits):
                if locations[row] is None:
                    errors[row] = ImageError("", "no image")
                    counts["done"] += 1
                elif hit is not None:
                    vectors[row] = hit
                    ok[row] = True
                    counts["cached"] += 1
                    counts["done"] += 1
                else:
                    waiting.append(row)
                    if len(waiting) == batch_size:
                        sent.append(waiting)
                        yield [locations[r] for r in waiting]
                        waiting = []
            callback(counts["done"] / n)
        if waiting:
            sent.append(waiting)
            yield [locations[r] for r in waiting]

    try:
        results = bounded_map(executor, functools.partial(embed_on_worker, model=spec.key),
                              batches(), window=2 * capacity,
                              poll=lambda: callback(counts["done"] / n))
        for result in results:
            rows = sent.popleft()
            if result["model_id"] != model_id:
                raise ModelError(
                    f"the workers have other weights of {spec.key} ({result['model_id']}, "
                    f"here {model_id}): install the same orange3-imagelab and model "
                    "packages on the workers as here")
            done_rows = [rows[i] for i in result["rows"]]
            if cache is not None and done_rows:
                try:
                    cache.put_many(model_id, [
                        (key, {"features": f, "logits": g}) for key, f, g in
                        zip(result["hashes"], result["features"], result["logits"])])
                except sqlite3.Error:
                    pass  # a full disk or a locked cache costs speed next time
            if done_rows:
                vectors[done_rows] = result[output]
                ok[done_rows] = True
            for i, location, reason in result["errors"]:
                errors[rows[i]] = ImageError(location, reason)
            counts["done"] += len(rows)
            callback(counts["done"] / n)
    finally:
        if lookup_pool is not None:
            shutdown_quietly(lookup_pool)
    return counts["cached"]


def embed_locations(locations: Sequence[Optional[str]], *,
                    model: str = DEFAULT_MODEL, output: str = "features",
                    use_cache: bool = True, callback: ProgressCallback = None,
                    batch_size: int = BATCH_SIZE, threads: Optional[int] = None,
                    executor: Optional[Executor] = None,
                    out: Optional[np.ndarray] = None) -> EmbeddingArrays:
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
    executor : Executor, optional
        Run the batches there, e.g. a Dask cluster
        (``core.executors.get_executor("dask", ...)``; it is not shut down
        here). The images must be readable where the batches run.
    out : (n, d) floating array, optional
        Where to write the vectors (it becomes ``vectors``), e.g. the
        feature columns of the table about to be built, so that a large
        embedding is never held twice (100,000 × 1,280: 0.5 GB saved).

    Returns
    -------
    EmbeddingArrays
        ``vectors`` (n, d) float32 (or ``out``) with NaN rows where ``ok``
        is False.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be 'features' or 'logits', got {output!r}")
    spec = get_model(model)
    callback = checked(callback)
    n = len(locations)
    dim = spec.dimension if output == "features" else spec.n_classes
    vectors = _output_array(out, n, dim)
    ok = np.zeros(n, dtype=bool)
    errors = {}
    model_id = spec.model_id()
    warnings = []
    cache = _open_cache(warnings) if use_cache else None
    if executor is not None:
        callback(0.0)
        try:
            cached = _embed_remote(locations, spec, output, cache, executor, callback,
                                   batch_size, vectors, ok, errors)
        finally:
            if cache is not None:
                warnings.extend(cache.close_and_check())
        callback(1.0)
        return _arrays(vectors, ok, errors, cached, warnings)
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
            cached += _store_batch(batch, vectors, ok, errors)
            done += len(batch)
            callback(done / n)
    finally:
        # The batches under way finish (they stop reading at once, and their
        # inference is short) before the cache they write to is closed.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        if cache is not None:
            warnings.extend(cache.close_and_check())
    callback(1.0)
    return _arrays(vectors, ok, errors, cached, warnings)


def _store_batch(batch, vectors: np.ndarray, ok: np.ndarray, errors: dict) -> int:
    """Put a worker's ``[(row, kind, value)]`` into the result arrays; -> how
    many rows came from the cache."""
    cached = 0
    for row, kind, value in batch:
        if kind == "error":
            errors[row] = value
        else:
            vectors[row] = value
            ok[row] = True
            cached += kind == "cached"
    return cached


def _output_array(out: Optional[np.ndarray], n: int, dim: int) -> np.ndarray:
    """``out`` checked and set to NaN, or a new (n, dim) float32 array of NaN."""
    if out is None:
        return np.full((n, dim), np.nan, dtype=np.float32)
    if not isinstance(out, np.ndarray) or out.shape != (n, dim) \
            or not np.issubdtype(out.dtype, np.floating):
        raise ValueError(f"out must be a ({n}, {dim}) floating array, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} "
                         f"{getattr(out, 'shape', '')}")
    out.fill(np.nan)
    return out


def _arrays(vectors, ok, errors: dict, cached: int, warnings: list) -> EmbeddingArrays:
    error_rows = sorted(errors)
    unread = [errors[i] for i in error_rows if " on Dask worker " in errors[i].reason
              and errors[i].reason.startswith(("file not found", "permission denied"))]
    if unread:
        warnings = warnings + [
            f"{len(unread):,} images could not be read on the Dask workers "
            f"(e.g. {unread[0].path}): image locations must be readable by the "
            "workers (a shared file system, or file:// or http(s) URLs)."]
    return EmbeddingArrays(vectors, ok, [errors[i] for i in error_rows], error_rows,
                           cached=cached, warnings=warnings)


# ------------------------------------------------ images made in memory
# Variants of images (augmented copies) are never written to disk: each is
# made from the decoded model-size image, embedded, and cached under
# ``derived_key(content hash of the file, canonical text of its parameters)``
# in the same cache as the files, through the same executor.

#: make_variant(source content hash, copy index) -> (parameters text, transform);
#: transform maps the decoded (size, size, 3) uint8 image to a new array of that shape.
VariantMaker = Callable[[bytes, int], Tuple[str, Callable[[np.ndarray], np.ndarray]]]


#: decode(location, size, file bytes) -> (size, size, 3) uint8 array
Decoder = Callable[[str, int, bytes], np.ndarray]


def _load_square(location: str, size: int, data: bytes) -> np.ndarray:
    return load_array(location, size=(size, size), data=data)


def _embed_variant_batch(rows, locations, make_variant: VariantMaker, copies: int, spec,
                         model_id, output, cache: Optional[EmbeddingCache],
                         decode: Decoder = _load_square) -> list:
    """Worker: -> [(row, kind, value)]; kind "cached" or "computed" with a
    (copies, d) array, or "error" with an ImageError."""
    size = spec.image_size
    results, vectors, pending = [], {}, []  # pending: (row, copy, key, pixels)
    for row in rows:
        location = locations[row]
        if location is None:
            results.append((row, "error", ImageError("", "no image")))
            continue
        try:
            data = read_bytes(location)
            source = content_hash(data)
            variants = [make_variant(source, k) for k in range(copies)]
            keys = [derived_key(source, text) for text, _ in variants]
            dimension = spec.dimension if output == "features" else spec.n_classes
            found = np.full((copies, dimension), np.nan, dtype=np.float32)
            missing = []
            for k, key in enumerate(keys):
                try:
                    hit = None if cache is None else cache.get(key, model_id, output, dimension)
                except sqlite3.Error:
                    hit = None
                if hit is None:
                    missing.append(k)
                else:
                    found[k] = hit
            base = decode(location, size, data) if missing else None
        except Exception as err:  # pylint: disable=broad-except
            # one bad image must not stop the run (see as_image_error)
            results.append((row, "error", as_image_error(location, err)))
            continue
        vectors[row] = (found, not missing)
        for k in missing:
            pixels = np.ascontiguousarray(variants[k][1](base))
            if pixels.shape != (size, size, 3) or pixels.dtype != np.uint8:
                raise ValueError(f"a variant transform must return a ({size}, {size}, 3) "
                                 f"uint8 array, got {pixels.dtype} {pixels.shape}")
            pending.append((row, k, keys[k], pixels))
    for start in range(0, len(pending), BATCH_SIZE):
        chunk = pending[start:start + BATCH_SIZE]
        features, logits = spec.run(np.stack([pixels for *_, pixels in chunk]))
        if cache is not None:
            try:
                cache.put_many(model_id, [
                    (key, {"features": vector, "logits": logit})
                    for (_, _, key, _), vector, logit in zip(chunk, features, logits)])
            except sqlite3.Error:
                pass  # costs speed next time, not this run
        computed = features if output == "features" else logits
        for (row, k, _, _), vector in zip(chunk, computed):
            vectors[row][0][k] = vector
    results.extend((row, "cached" if all_cached else "computed", found)
                   for row, (found, all_cached) in vectors.items())
    return results


def embed_variants(locations: Sequence[Optional[str]], make_variant: VariantMaker,
                   copies: int, *, model: str = DEFAULT_MODEL, output: str = "features",
                   use_cache: bool = True, callback: ProgressCallback = None,
                   batch_size: int = BATCH_SIZE, threads: Optional[int] = None,
                   decode: Decoder = _load_square) -> EmbeddingArrays:
    """Embed ``copies`` variants made in memory of each image (e.g. augmented copies).

    Each image is read once and decoded to the model's square input by
    ``decode`` (by default as ``embed_locations`` does), and
    ``make_variant(content hash, k)`` gives copy k's parameters text and
    transform. Copy k's vector is cached under ``derived_key(content hash,
    parameters text)``, so the same copy of the same image is computed once
    whatever the file is called; a ``decode`` other than the default must be
    named in the parameters text.

    Returns
    -------
    EmbeddingArrays
        ``vectors`` (n, copies, d) float32, NaN for images that could not be
        read; ``ok`` (n,), ``errors`` and ``error_rows`` per input image;
        ``cached``: images whose copies all came from the cache.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be 'features' or 'logits', got {output!r}")
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a whole number >= 1, got {copies!r}")
    spec = get_model(model)
    callback = checked(callback)
    n = len(locations)
    dim = spec.dimension if output == "features" else spec.n_classes
    vectors = np.full((n, copies, dim), np.nan, dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    errors = {}
    cached = done = 0
    model_id = spec.model_id()
    warnings = []
    cache = _open_cache(warnings) if use_cache else None
    threads = threads or decode_threads(urls=any(is_remote(loc) for loc in locations))
    per_batch = max(1, batch_size // copies)  # source images per batch

    callback(0.0)
    if n:
        spec.session()
    batches = [range(start, min(start + per_batch, n)) for start in range(0, n, per_batch)]
    pool = get_executor("threads", max_workers=threads, name="imagelab-variants")
    try:
        for batch in bounded_map(pool, lambda rows: _embed_variant_batch(
                rows, locations, make_variant, copies, spec, model_id, output, cache,
                decode),
                batches, window=2 * threads):
            cached += _store_batch(batch, vectors, ok, errors)
            done += len(batch)
            callback(done / n)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if cache is not None:
            warnings.extend(cache.close_and_check())
    callback(1.0)
    error_rows = sorted(errors)
    return EmbeddingArrays(vectors, ok, [errors[i] for i in error_rows], error_rows,
                           cached=cached, warnings=warnings)
