"""ImageNet labels: the vocabulary with WordNet's hierarchy, top-k labels, label filtering.

The vocabulary (``data/imagenet_vocabulary.json.gz``, built by
``scripts/build_vocabulary.py``) names the 1,000 ImageNet-1k classes and, for
each, its more general WordNet names, so that "bird" covers every bird class.

A name's confidence for an image is the sum of the softmax probabilities of
the classes under it (several names: the classes under any of them, each
counted once), i.e. the model's probability that the image shows one of them.

Everything here works on probability arrays of shape (n_images, n_classes);
:func:`class_probabilities` computes them from image locations with the
embedding pipeline (logits are cached with the embeddings, so a second call on
the same images is fast).
"""
import difflib
import gzip
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import options
from ..errors import ImageError, UnknownLabelError
from ..progress import ProgressCallback, checked

VOCABULARY_PATH = Path(__file__).parent.parent / "data" / "imagenet_vocabulary.json.gz"
#: The model whose ImageNet classes are the labels: the float model, not the
#: embedding default (int8): a label is the class a user reads, and int8's top
#: class agrees with float's on about 9 photos in 10 (its features keep the
#: accuracy; its logits drift more).
LABEL_MODEL = "efficientnet-lite0"

# Status codes of scanned rows (see scan_labels); also the order of the
# "label match" values in tables.
MATCHED, REVIEW, REJECTED, UNREADABLE, NOT_SCANNED = range(5)
STATUS_NAMES = ("matched", "review", "rejected", "unreadable", "not scanned")


def normalize_name(name: str) -> str:
    """Lower case, '_' as space, single spaces: 'Tabby_Cat ' -> 'tabby cat'."""
    return " ".join(str(name).replace("_", " ").lower().split())


@dataclass(frozen=True)
class LabelClass:
    """One ImageNet class: its index, WordNet id, readable name, synonyms and
    the chain of more general names up to WordNet's root."""
    index: int
    wnid: str
    name: str
    synonyms: Tuple[str, ...]
    chain: Tuple[str, ...]


class Vocabulary:
    """Names of the ImageNet classes and of their WordNet hypernyms.

    ``names`` maps every normalized name to the sorted indices (int array)
    of the classes it covers.
    """

    def __init__(self, classes: Sequence[LabelClass], names: dict):
        self.classes = list(classes)
        self.class_names = [c.name for c in self.classes]
        self._names = {name: np.asarray(idx, dtype=np.intp) for name, idx in names.items()}
        self._sorted_names = sorted(self._names)

    def __len__(self):
        return len(self.classes)

    def names(self) -> List[str]:
        """All known names, sorted: class names, synonyms and general names."""
        return list(self._sorted_names)

    def _find(self, name: str) -> Optional[np.ndarray]:
        key = normalize_name(name)
        if key in self._names:
            return self._names[key]
        # simple plurals: "cats", "boxes", "butterflies"
        for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
            if key.endswith(suffix) and key[:-len(suffix)] + repl in self._names:
                return self._names[key[:-len(suffix)] + repl]
        return None

    def __contains__(self, name: str) -> bool:
        return self._find(name) is not None

    def lookup(self, name: str) -> np.ndarray:
        """Indices of the classes under ``name``; UnknownLabelError if unknown."""
        found = self._find(name)
        if found is None:
            raise UnknownLabelError(name, self.suggest(name))
        return found

    def classes_for(self, labels: Union[str, Iterable[str]]) -> np.ndarray:
        """Sorted indices of the classes under any of ``labels`` (one name or several).

        A string may also list names separated by commas: "cat, dog".
        """
        if isinstance(labels, str):
            labels = labels.split(",")
        names = [name for name in (str(n).strip() for n in labels) if name]
        if not names:
            raise UnknownLabelError("", ["cat", "dog", "bird", "car"])
        return np.unique(np.concatenate([self.lookup(name) for name in names]))

    def suggest(self, name: str, n: int = 5) -> List[str]:
        """Up to ``n`` known names close to ``name`` (difflib), best first."""
        key = normalize_name(name)
        if not key:
            return []
        close = difflib.get_close_matches(key, self._sorted_names, n=n, cutoff=0.6)
        if len(close) < n:  # then names that contain it as a word: "robin" -> "american robin"
            close += [other for other in self._sorted_names
                      if key in other.split() and other not in close][:n - len(close)]
        return close

    def describe(self, index: int) -> str:
        """'American robin (thrush, oscine, passerine, bird, ...)'."""
        cls = self.classes[index]
        return f"{cls.name} ({', '.join(cls.chain[:6])}, ...)"


@lru_cache(maxsize=4)
def load_vocabulary(path: Union[str, Path, None] = None) -> Vocabulary:
    """The ImageNet-1k vocabulary shipped with Image Lab (loaded once, ~20 ms)."""
    with gzip.open(path or VOCABULARY_PATH, "rt", encoding="utf-8") as f:
        data = json.load(f)
    classes = [LabelClass(i, c["wnid"], c["name"], tuple(c["synonyms"]), tuple(c["chain"]))
               for i, c in enumerate(data["classes"])]
    return Vocabulary(classes, data["names"])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (n, n_classes) -> float32 probabilities.

    Rows with NaN (images that failed) stay NaN.
    """
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=1, keepdims=True)


def top_labels(probabilities: np.ndarray, *, k: int = 5, min_confidence: float = 0.0
               ) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` most probable classes of each row.

    Parameters
    ----------
    probabilities : (n, n_classes) array; NaN rows for failed images.
    k : number of labels per image.
    min_confidence : labels below this probability are left out.

    Returns
    -------
    indices : (n, k) int array, -1 where left out (or the row is NaN).
    values : (n, k) float array, NaN where left out.
    """
    k = options.top_k(k)
    min_confidence = options.fraction("min_confidence", min_confidence)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    n, n_classes = probabilities.shape
    k = min(k, n_classes)
    if n == 0 or k == 0:
        return np.full((n, k), -1, dtype=np.intp), np.full((n, k), np.nan)
    filled = np.nan_to_num(probabilities, nan=-1.0)
    part = np.argpartition(-filled, k - 1, axis=1)[:, :k]
    part_values = np.take_along_axis(filled, part, axis=1)
    order = np.argsort(-part_values, axis=1, kind="stable")
    indices = np.take_along_axis(part, order, axis=1).astype(np.intp)
    values = np.take_along_axis(part_values, order, axis=1).astype(float)
    drop = (values < min_confidence) | (values < 0)
    indices[drop] = -1
    values[drop] = np.nan
    return indices, values


def format_labels(indices: np.ndarray, values: np.ndarray, class_names: Sequence[str]
                  ) -> List[str]:
    """One string per row: 'tabby cat 0.71, tiger cat 0.12'."""
    return [", ".join(f"{class_names[i]} {v:.2f}" for i, v in zip(row_i, row_v) if i >= 0)
            for row_i, row_v in zip(indices, values)]


def label_confidence(probabilities: np.ndarray, class_indices: np.ndarray) -> np.ndarray:
    """(n,) sum of the probabilities of ``class_indices`` per row; NaN for NaN rows."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if len(class_indices) == 0:
        return np.zeros(len(probabilities))
    return probabilities[:, np.asarray(class_indices)].sum(axis=1, dtype=np.float64)


def classify(confidence: np.ndarray, *, min_confidence: float = 0.5,
             review_min: Optional[float] = None) -> np.ndarray:
    """Status codes (MATCHED, REVIEW, REJECTED, UNREADABLE for NaN) of confidences."""
    confidence = np.asarray(confidence, dtype=float)
    status = np.full(len(confidence), REJECTED, dtype=np.int8)
    status[np.isnan(confidence)] = UNREADABLE
    with np.errstate(invalid="ignore"):
        status[confidence >= min_confidence] = MATCHED
        if review_min is not None:
            status[(confidence >= review_min) & (confidence < min_confidence)] = REVIEW
    return status


@dataclass
class LabelScan:
    """Result of :func:`scan_labels` over n rows.

    ``status`` (n,) codes, NOT_SCANNED for rows after the stop; ``confidence``
    (n,) of the requested names (NaN if unreadable or not scanned);
    ``probabilities`` (n, n_classes) float32, NaN rows where not available;
    ``scanned`` counts rows looked at (a prefix of the rows); ``errors`` holds
    the ImageErrors of unreadable scanned rows, ``error_rows`` their row indices.
    """
    status: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    scanned: int
    stopped_early: bool = False
    stop_reason: str = ""
    errors: List[ImageError] = field(default_factory=list)
    error_rows: List[int] = field(default_factory=list)


# predict(start, stop, callback) -> (probabilities (stop-start, n_classes) with NaN
# rows for failures, [(row index relative to start, ImageError)])
Predictor = Callable[[int, int, ProgressCallback],
                     Tuple[np.ndarray, List[Tuple[int, ImageError]]]]


def scan_labels(predict: Predictor, n: int, class_indices: np.ndarray, *,
                n_classes: int = 1000, min_confidence: float = 0.5,
                review_min: Optional[float] = None, max_scanned: Optional[int] = None,
                stop_after_misses: Optional[int] = None, batch_size: int = 128,
                callback: ProgressCallback = None) -> LabelScan:
    """Score rows 0..n-1 in order for the classes ``class_indices``.

    A row is MATCHED if its confidence >= ``min_confidence``, REVIEW if in
    [``review_min``, ``min_confidence``), else REJECTED; UNREADABLE if its
    image failed. Scanning stops after ``max_scanned`` rows, or right after
    ``stop_after_misses`` scanned rows in a row that are not MATCHED (REVIEW
    and REJECTED are misses; unreadable rows neither count nor break the run).
    Rows after the stop are NOT_SCANNED. Without a cap or early stop all rows
    go to ``predict`` in one call (the fastest pipeline); otherwise in chunks
    of ``batch_size`` (rows predicted past the stop are dropped; their
    logits stay cached).
    """
    min_confidence = options.fraction("min_confidence", min_confidence)
    review_min = options.fraction("review_min", review_min, optional=True)
    if review_min is not None and review_min > min_confidence:
        raise ValueError(f"review_min ({review_min}) must not exceed "
                         f"min_confidence ({min_confidence})")
    max_scanned = options.count("max_scanned", max_scanned, minimum=0, optional=True)
    stop_after_misses = options.count("stop_after_misses", stop_after_misses, optional=True)
    callback = checked(callback)
    limit = n if max_scanned is None else min(n, int(max_scanned))
    chunked = max_scanned is not None or stop_after_misses is not None
    chunk = max(1, int(batch_size)) if chunked else max(limit, 1)

    status = np.full(n, NOT_SCANNED, dtype=np.int8)
    confidence = np.full(n, np.nan)
    probabilities = np.full((n, n_classes), np.nan, dtype=np.float32)
    result = LabelScan(status, confidence, probabilities, scanned=0)
    misses = 0
    start = 0
    callback(0.0)
    while start < limit:
        stop = min(start + chunk, limit)
        done = start

        def report(fraction, _start=start, _stop=stop):
            callback((_start + fraction * (_stop - _start)) / limit)

        probs, errors = predict(start, stop, report)
        probs = np.asarray(probs, dtype=np.float32)
        conf = label_confidence(probs, class_indices)
        codes = classify(conf, min_confidence=min_confidence, review_min=review_min)
        failed = dict(errors)
        for offset in range(stop - start):
            row = start + offset
            status[row], confidence[row] = codes[offset], conf[offset]
            probabilities[row] = probs[offset]
            if offset in failed:
                result.errors.append(failed[offset])
                result.error_rows.append(row)
            done = row + 1
            if codes[offset] == MATCHED:
                misses = 0
            elif codes[offset] != UNREADABLE:
                misses += 1
                if stop_after_misses is not None and misses >= stop_after_misses:
                    result.stopped_early = True
                    result.stop_reason = (
                        f"stopped after {misses:,} misses in a row "
                        f"(at image {row + 1:,} of {n:,})")
                    break
        result.scanned = done
        if result.stopped_early:
            break
        start = stop
    if not result.stopped_early and limit < n:
        result.stopped_early = True
        result.stop_reason = f"reached the cap of {limit:,} images (of {n:,})"
    callback(1.0)
    return result


def class_probabilities(locations: Sequence[Optional[str]], *,
                        model: str = LABEL_MODEL, use_cache: bool = True,
                        callback: ProgressCallback = None, executor=None
                        ) -> Tuple[np.ndarray, List[Tuple[int, ImageError]]]:
    """Softmax class probabilities (n, 1000) of images, from the model's logits.

    Uses the embedding pipeline (batched, cached: logits are stored with the
    embeddings, so images embedded or labelled before are not decoded again).
    Rows of unreadable images (or None locations) are NaN; the second value
    lists (row, ImageError) for them. ``executor``: see ``embed_locations``
    (e.g. a Dask cluster).
    """
    from .embedding import embed_locations  # onnxruntime only when needed

    rows = [i for i, loc in enumerate(locations) if loc is not None]
    errors = [(i, ImageError(f"row {i + 1}", "no image location"))
              for i, loc in enumerate(locations) if loc is None]
    probs = np.full((len(locations), 1000), np.nan, dtype=np.float32)
    if rows:
        arrays = embed_locations([locations[i] for i in rows], model=model,
                                 output="logits", use_cache=use_cache, callback=callback,
                                 executor=executor)
        vectors = np.asarray(arrays.vectors, dtype=np.float32)
        if vectors.shape[1] != probs.shape[1]:
            raise ValueError(f"model {model!r} gives {vectors.shape[1]} logits, "
                             f"expected {probs.shape[1]} ImageNet classes")
        probs[rows] = softmax(vectors)
        probs[[rows[i] for i in np.flatnonzero(~np.asarray(arrays.ok))]] = np.nan
        errors += [(rows[r], err) for r, err in zip(arrays.error_rows, arrays.errors)]
    errors.sort(key=lambda pair: pair[0])
    checked(callback)(1.0)
    return probs, errors


def location_predictor(locations: Sequence[Optional[str]], *,
                       model: str = LABEL_MODEL, use_cache: bool = True,
                       executor=None) -> Predictor:
    """A ``predict`` for :func:`scan_labels` over image locations."""
    def predict(start, stop, callback):
        probs, errors = class_probabilities(locations[start:stop], model=model,
                                            use_cache=use_cache, callback=callback,
                                            executor=executor)
        return probs, errors
    return predict
