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
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

from .cache import EmbeddingCache, content_hash, derived_key
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
        pool.shutdown(wait=True, cancel_futures=True)
        if cache is not None:
            warnings.extend(cache.close_and_check())
    callback(1.0)
    error_rows = sorted(errors)
    return EmbeddingArrays(vectors, ok, [errors[i] for i in error_rows], error_rows,
                           cached=cached, warnings=warnings)
