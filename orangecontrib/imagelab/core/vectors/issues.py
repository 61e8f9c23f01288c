"""Find what is wrong with an image set: duplicates, bad images, outliers, label errors.

    >>> result = find_issues_arrays(locations, embeddings=vectors, labels=codes)
    >>> result.flags["blurry"], result.scores["blurry"], result.groups

Every check gives each image a **score in [0, 1]** (low = more of the issue,
as in CleanVision) and a **flag** (score below a threshold). Checks:

====================  ===========================================  ==================
check                 score                                        flagged below
                                                                   (CleanVision's)
====================  ===========================================  ==================
``dark``              99th percentile of perceived brightness      0.32 (0.32)
``light``             1 - 5th percentile of it                     0.05 (0.05)
``blurry``            ``1 - exp(-edges / contrast)``: std of the   0.29 (0.29, on
                      FIND_EDGES filter over the std of the grey   ``1 - exp(-edges /
                      image ≤ 64 px; 1 for near-uniform images     100)`` + a term)
``low_information``   colour-histogram entropy / 10, at most 1     0.3 (0.3)
``grayscale``         5 × chroma / (contrast + 1), at most 1:      0.5 (CleanVision:
                      mean max - min of R, G, B over the std of    grey file mode only)
                      the grey image; 0 for a grey file
``odd_size``          1 - d / (2 a): d = |log2(side / median      0.5 (IQR × 3 of the
                      side)|, side = sqrt(w h), a = max(1, 3 IQR   side, no minimum)
                      of log2 side) -- at least twice / half the
                      median side before a flag
``odd_aspect_ratio``  min(w / h, h / w)                            0.35 (0.35)
``exact_duplicates``  0 for an image whose decoded pixels equal    (md5 of pixels)
                      another's, else 1
``near_duplicates``   distance to the closest other image, at      distance 0.05 /
                      most 1: cosine distance of the embedding,    8 bits + thumbnails
                      or pHash Hamming bits / 64 without one       (phash, equal
                      (pairs within 8 bits whose 16×16             hashes only)
                      thumbnails also match)
``outliers``          exp(-d / mean d), d = mean cosine distance   the top 2 % of d
                      to the 5 nearest neighbours in the embedding
``label_errors``      out-of-fold probability of the given label   confident-learning
                      (``label quality``)                          rule, see below
====================  ===========================================  ==================

Pixel statistics come from ``core.pixels.statistics`` (one small decode per
image, in parallel through ``core.executors``, cached by content hash).

**Duplicates** are grouped: images joined by an exact or a near pair form
one group (connected components); in each group one image is marked to
keep -- the largest (pixels), then the oldest file (modification time),
then the first row. Exact duplicates: identical file bytes (the fast first
pass), or identical decoded pixels (PNG and lossless WebP of one image
match; JPEGs that draft decoding shrank are decoded in full only when
another image of the same size has a similar pHash).

**Label errors** (the confident-learning rule of Northcutt et al., 2021,
implemented here from the paper): out-of-fold class probabilities ``p`` of a
logistic regression on the embedding (stratified k-fold), or probabilities
given by the caller. Each class ``j`` gets a threshold ``t_j``, the mean of
``p_j`` over the rows labelled ``j``. A row labelled ``y`` is suspect when
its ``p_y < t_y`` and some other class ``k`` has ``p_k >= t_k``; its
suggested label is the likeliest such ``k``. Rows without a label get the
likeliest class as a suggestion (and no flag).
"""
import os
import warnings
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ImageError
from ..executors import (
    bounded_map, cores, get_executor, runs_elsewhere, shutdown_quietly, worker_name)
from ..paths import is_remote, is_url, url_to_path
from ..pixels import statistics as stats
from ..progress import ProgressCallback, checked, sub_range

PIXEL_CHECKS = ("dark", "light", "blurry", "low_information", "grayscale", "odd_size",
                "odd_aspect_ratio", "exact_duplicates")
VECTOR_CHECKS = ("near_duplicates", "outliers", "label_errors")
CHECKS = PIXEL_CHECKS + VECTOR_CHECKS
#: Every check; ``checks=ALL`` is the default of ``find_issues``.
ALL = CHECKS
#: What a failed image is flagged as (not a check one can switch off).
UNREADABLE = "unreadable"

#: Names for people: column names and the widget's summary.
TITLES = {"dark": "dark", "light": "light", "blurry": "blurry",
          "low_information": "low information", "grayscale": "grayscale",
          "odd_size": "odd size", "odd_aspect_ratio": "odd aspect ratio",
          "exact_duplicates": "exact duplicate", "near_duplicates": "near duplicate",
          "outliers": "outlier", "label_errors": "label error", UNREADABLE: "unreadable"}

DEFAULT_THRESHOLDS: Dict[str, float] = {
    "dark": 0.32, "light": 0.05, "blurry": 0.29, "low_information": 0.3,
    "grayscale": 0.5, "odd_size": 0.5, "odd_aspect_ratio": 0.35,
    #: near duplicates: cosine distance of embeddings, or pHash Hamming bits
    "near_duplicate_distance": 0.05, "near_duplicate_bits": 8,
    #: outliers: flag the kNN distances above this quantile; k neighbours
    "outlier_quantile": 0.98, "outlier_neighbours": 5,
    #: label errors: folds of the out-of-fold predictions
    "label_folds": 5,
}
#: (low, high) of each threshold; integers where the value counts something.
_RANGES = {"near_duplicate_bits": (0, 32), "outlier_neighbours": (1, 100),
           "label_folds": (2, 20), "near_duplicate_distance": (0.0, 2.0)}
_INTEGER = ("near_duplicate_bits", "outlier_neighbours", "label_folds")

BATCH_SIZE = 16
#: near duplicates without an embedding: thumbnails differ by at most this
#: share of their contrast (see ``thumbnails_match``)
TINY_MATCH = 0.1
#: a grey image with a smaller standard deviation (levels) is near-uniform:
#: low information, not blurry
UNIFORM_STD = 2.0
#: label errors: the logistic regression's input dimension and regularisation
PCA_COMPONENTS = 48
LR_C = 1.0


@dataclass
class IssueArrays:
    """Result of ``find_issues_arrays`` for n images.

    scores, flags: check -> (n,) float64 in [0, 1] (NaN where not computed) /
        bool; only the checks that ran; ``flags["unreadable"]`` is always there
    statistics: (n, len(statistics.COLUMNS)) float64, NaN for failed images
    groups: (n,) int64 duplicate group (-1 = none, groups numbered from 0 in
        the order of their first row); keep: (n,) bool, one True per group;
        group_kind: "exact" or "near" per group
    label_quality: (n,) p of the given label; suggested: (n,) class index
        (-1 = none); probabilities: (n, k) or None
    errors, error_rows: ImageError per failed image and its row
    notes: check -> why it was skipped or how it ran (for the report)
    thresholds: the thresholds used
    """
    scores: Dict[str, np.ndarray]
    flags: Dict[str, np.ndarray]
    statistics: np.ndarray
    groups: np.ndarray
    keep: np.ndarray
    group_kind: List[str]
    label_quality: np.ndarray
    suggested: np.ndarray
    probabilities: Optional[np.ndarray]
    thresholds: Dict[str, float]
    errors: List[ImageError] = field(default_factory=list)
    error_rows: List[int] = field(default_factory=list)
    notes: Dict[str, str] = field(default_factory=dict)
    cached: int = 0

    def counts(self) -> Dict[str, int]:
        """check -> number of flagged images (checks that ran, then unreadable)."""
        return {check: int(flag.sum()) for check, flag in self.flags.items()}


def check_options(checks: Sequence[str], thresholds: Optional[Dict[str, float]]
                  ) -> Tuple[Tuple[str, ...], Dict[str, float]]:
    """Validate ``checks`` and ``thresholds``; -> (checks in order, all thresholds)."""
    if isinstance(checks, str):
        checks = (checks,)
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValueError(f"checks: unknown {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(CHECKS)}")
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in DEFAULT_THRESHOLDS:
            raise ValueError(f"thresholds: unknown key {key!r}; valid keys are "
                             f"{', '.join(DEFAULT_THRESHOLDS)}")
        low, high = _RANGES.get(key, (0.0, 1.0))
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not low <= value <= high or (key in _INTEGER and value != int(value)):
            kind = "an integer" if key in _INTEGER else "a number"
            raise ValueError(f"thresholds[{key!r}] must be {kind} from {low} to {high}, "
                             f"got {value!r}")
        merged[key] = int(value) if key in _INTEGER else float(value)
    return tuple(c for c in CHECKS if c in checks), merged


# ------------------------------------------------------------ quality scores

def quality_scores(values: np.ndarray) -> Dict[str, np.ndarray]:
    """Scores of the per-image checks from statistics rows (n, len(COLUMNS))."""
    col = {name: values[:, i] for i, name in enumerate(stats.COLUMNS)}
    width, height = col["width"], col["height"]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Edges relative to contrast: CleanVision's raw edge statistic calls a
        # dim or low-contrast photo blurry, and its uniform-histogram term
        # exempts any photo on a plain background (most product photos).
        blurry = np.where(col["grey std"] < UNIFORM_STD, 1.0,
                          1 - np.exp(-col["edges"] / np.maximum(col["grey std"], 1e-9)))
        # Colour relative to contrast: a washed-out or dark colour photo keeps
        # its colour in proportion, a grey one has none whatever its contrast.
        grayscale = np.where(col["grey mode"] > 0, 0.0,
                             np.minimum(5.0 * col["chroma"] / (col["grey std"] + 1.0), 1.0))
        return {
            "dark": col["dark"],
            "light": col["light"],
            "blurry": blurry,
            "low_information": np.minimum(col["entropy"] * 0.1, 1.0),
            "grayscale": grayscale,
            "odd_size": odd_size_scores(np.sqrt(width * height)),
            "odd_aspect_ratio": np.minimum(width / height, height / width),
        }


def odd_size_scores(side: np.ndarray) -> np.ndarray:
    """1 - d / (2 a) clipped to [0, 1]: d = |log2(side / median)|, a = max(1,
    3 × IQR of log2 side). NaN sides stay NaN."""
    side = np.asarray(side, dtype=float)
    out = np.full(side.shape, np.nan)
    good = np.isfinite(side) & (side > 0)
    if not good.any():
        return out
    logs = np.log2(side[good])
    q1, median, q3 = np.percentile(logs, [25, 50, 75])
    allowed = max(1.0, 3 * (q3 - q1))
    out[good] = np.clip(1 - np.abs(logs - median) / (2 * allowed), 0, 1)
    return out


# ------------------------------------------------------------ duplicates

class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def equal_pairs(keys: Sequence, valid: np.ndarray) -> List[Tuple[int, int]]:
    """(first row, other row) for rows with equal keys (only where ``valid``)."""
    first: Dict = {}
    pairs = []
    for i in np.flatnonzero(valid):
        key = keys[i]
        if key in first:
            pairs.append((first[key], int(i)))
        else:
            first[key] = int(i)
    return pairs


def hamming_pairs(hashes: np.ndarray, max_bits: int, valid: Optional[np.ndarray] = None
                  ) -> List[Tuple[int, int, int]]:
    """(i, j, bits) for i < j with at most ``max_bits`` differing bits.

    Pigeonhole search: two 64-bit hashes within ``max_bits`` agree exactly
    on at least one of ``max_bits + 1`` bands, so only rows sharing a band
    value are compared (fast for large sets; every pair found once).
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    rows = np.arange(len(hashes)) if valid is None else np.flatnonzero(valid)
    if len(rows) < 2:
        return []
    bands = max_bits + 1
    edges = np.linspace(0, 64, bands + 1).astype(int)
    found = set()
    for b in range(bands):
        lo, width = edges[b], edges[b + 1] - edges[b]
        if width == 0:
            continue
        mask = np.uint64((1 << int(width)) - 1)
        band = (hashes[rows] >> np.uint64(lo)) & mask
        order = np.argsort(band, kind="stable")
        sorted_band = band[order]
        starts = np.flatnonzero(np.r_[True, sorted_band[1:] != sorted_band[:-1]])
        ends = np.r_[starts[1:], len(order)]
        for start, end in zip(starts, ends):
            if end - start < 2:
                continue
            members = rows[order[start:end]]
            h = hashes[members]
            bits = np.bitwise_count(h[:, None] ^ h[None, :])
            ii, jj = np.nonzero(np.triu(bits <= max_bits, 1))
            for a, c in zip(members[ii], members[jj]):
                found.add((int(min(a, c)), int(max(a, c))))
    return sorted((i, j, int(np.bitwise_count(hashes[i] ^ hashes[j]))) for i, j in found)


def thumbnails_match(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two 16×16 grey thumbnails show the same picture: mean absolute
    difference at most ``TINY_MATCH`` of their contrast (+ 10 levels), so two
    similar garments on the same background, which pHash alone confuses, differ."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    contrast = (a.std() + b.std()) / 2 + 10.0
    return float(np.abs(a - b).mean()) <= TINY_MATCH * contrast


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def cosine_neighbours(vectors: np.ndarray, k: int, valid: np.ndarray, *,
                      block: int = 1024, callback: ProgressCallback = None
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """The k nearest other rows by cosine distance, in blocks of rows.

    -> (indices (n, k) int64, distances (n, k) float64); rows that are not
    ``valid`` (and missing neighbours) get -1 / NaN.
    """
    callback = checked(callback)
    n = len(vectors)
    idx = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.nan)
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        return idx, dist
    unit = _unit_rows(vectors[rows])
    kk = min(k, len(rows) - 1)
    for start in range(0, len(rows), block):
        sims = unit[start:start + block] @ unit.T
        np.fill_diagonal(sims[:, start:start + block], -np.inf)
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1)
        part = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        out_rows = rows[start:start + block]
        idx[out_rows, :kk] = rows[part]
        dist[out_rows, :kk] = np.clip(1.0 - top, 0.0, 2.0)
        callback(min(1.0, (start + block) / len(rows)))
    return idx, dist


def duplicate_groups(n: int, exact: List[Tuple[int, int]], near: List[Tuple[int, int]],
                     size: np.ndarray, age: np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Connected components of the exact and near pairs.

    size: (n,) larger is kept first; age: (n,) modification time, older
    (smaller) kept first (NaN last). -> (groups (n,) -1 = none, keep (n,),
    kind per group).
    """
    uf = _UnionFind(n)
    for i, j in exact + near:
        uf.union(i, j)
    exact_uf = _UnionFind(n)
    for i, j in exact:
        exact_uf.union(i, j)
    members: Dict[int, List[int]] = {}
    for i in sorted({i for pair in exact + near for i in pair}):
        members.setdefault(uf.find(i), []).append(i)
    groups = np.full(n, -1, dtype=np.int64)
    keep = np.zeros(n, dtype=bool)
    kinds = []
    size = np.nan_to_num(np.asarray(size, dtype=float), nan=-1.0)
    age = np.nan_to_num(np.asarray(age, dtype=float), nan=np.inf)
    for g, rows in enumerate(sorted(members.values(), key=lambda r: r[0])):
        groups[rows] = g
        best = min(rows, key=lambda i: (-size[i], age[i], i))
        keep[best] = True
        kinds.append("exact" if len({exact_uf.find(i) for i in rows}) == 1 else "near")
    return groups, keep, kinds


def modification_times(locations: Sequence[Optional[str]], rows: Sequence[int]) -> np.ndarray:
    """(n,) file modification times for ``rows`` (NaN elsewhere, and for URLs)."""
    out = np.full(len(locations), np.nan)
    for i in rows:
        location = locations[i]
        path = url_to_path(location) if location and is_url(location) else location
        if path:
            try:
                out[i] = os.stat(path).st_mtime
            except OSError:
                pass
    return out


# ------------------------------------------------------------ outliers

def outlier_scores(distances: np.ndarray, quantile: float) -> Tuple[np.ndarray, np.ndarray]:
    """From kNN distances (n, k) -> (scores exp(-d / mean d), flags d > quantile)."""
    with warnings.catch_warnings():  # a row without neighbours is NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        d = np.nanmean(distances, axis=1) if distances.size else np.full(len(distances), np.nan)
    good = np.isfinite(d)
    scores = np.full(len(d), np.nan)
    flags = np.zeros(len(d), dtype=bool)
    if good.sum() >= 2:
        mean = d[good].mean()
        scores[good] = np.exp(-d[good] / mean) if mean > 0 else 1.0
        cut = np.quantile(d[good], quantile)
        flags[good] = d[good] > cut
    return scores, flags


# ------------------------------------------------------------ label errors

def out_of_fold_probabilities(X: np.ndarray, labels: np.ndarray, n_classes: int, *,
                              folds: int = 5, seed: int = 0,
                              callback: ProgressCallback = None
                              ) -> Tuple[np.ndarray, str]:
    """Out-of-fold class probabilities of logistic regression.

    X: (n, d) finite rows; labels: (n,) class index, -1 = none. Classes with
    fewer than 2 rows are left out (their rows get NaN). Stratified k-fold
    (k = min(folds, smallest class)); unlabelled rows are predicted by a
    model fitted on all labelled rows. -> ((n, n_classes) probabilities with
    NaN rows where none, a note for the report).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    callback = checked(callback)
    n = len(labels)
    probabilities = np.full((n, n_classes), np.nan)
    counts = np.bincount(labels[labels >= 0], minlength=n_classes)
    usable = counts >= 2
    train = (labels >= 0) & usable[np.maximum(labels, 0)]
    if usable.sum() < 2:
        return probabilities, "needs at least two classes with two images each"
    k = int(min(folds, counts[usable].min()))
    # Unit rows projected on their first principal components (fitted on all
    # rows, labels unseen): 5-10x faster fits than on 1,280 raw columns, with
    # the same out-of-fold accuracy on the embeddings we ship.
    X = _unit_rows(X).astype(np.float64)
    # about one component per 20 labelled images: few images cannot fit many
    components = min(PCA_COMPONENTS, max(8, len(np.flatnonzero(train)) // 20),
                     X.shape[1], max(1, n - 1))
    X = PCA(components, random_state=seed).fit_transform(X) if components < X.shape[1] else X
    X = X / (X.std(axis=0, keepdims=True) + 1e-12)
    rows = np.flatnonzero(train)
    X_train, y_train = X[rows], labels[rows]

    def model():
        return LogisticRegression(C=LR_C, max_iter=500)

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    unlabelled = np.flatnonzero(labels < 0)
    steps = k + (1 if len(unlabelled) else 0)
    for step, (fit_idx, test_idx) in enumerate(splitter.split(X_train, y_train)):
        fitted = model().fit(X_train[fit_idx], y_train[fit_idx])
        probabilities[rows[test_idx][:, None], fitted.classes_[None, :]] = \
            fitted.predict_proba(X_train[test_idx])
        callback((step + 1) / steps)
    for c in range(n_classes):  # classes a fold's model never saw
        column = probabilities[rows, c]
        column[np.isnan(column)] = 0.0
        probabilities[rows, c] = column
    if len(unlabelled):
        fitted = model().fit(X_train, y_train)
        probabilities[unlabelled[:, None], fitted.classes_[None, :]] = \
            fitted.predict_proba(X[unlabelled])
        probabilities[unlabelled] = np.nan_to_num(probabilities[unlabelled])
    note = f"logistic regression on {components} principal components, " \
           f"{k}-fold out-of-fold probabilities"
    if (~usable & (counts > 0)).any():
        note += "; classes with one image are not checked"
    callback(1.0)
    return probabilities, note


def confident_learning(probabilities: np.ndarray, labels: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The confident-learning rule on (n, k) probabilities and labels (-1 = none).

    -> (suspect (n,) bool, label quality (n,) = p of the given label (NaN if
    none), suggested (n,) class: for a suspect row the likeliest other class
    above its threshold, for an unlabelled row the likeliest class, else the
    given label; -1 where there are no probabilities).
    """
    p = np.asarray(probabilities, dtype=float)
    n, k = p.shape
    labels = np.asarray(labels)
    has_p = np.isfinite(p).all(axis=1)
    labelled = (labels >= 0) & has_p
    quality = np.full(n, np.nan)
    quality[labelled] = p[labelled, labels[labelled]]
    thresholds = np.full(k, np.inf)
    for j in range(k):
        rows = labelled & (labels == j)
        if rows.any():
            thresholds[j] = p[rows, j].mean()
    above = np.zeros((n, k), dtype=bool)
    above[has_p] = p[has_p] >= thresholds
    suspect = np.zeros(n, dtype=bool)
    suggested = np.full(n, -1, dtype=np.int64)
    for i in np.flatnonzero(has_p):
        if labels[i] < 0:
            suggested[i] = int(np.argmax(p[i]))
            continue
        y = labels[i]
        others = above[i].copy()
        others[y] = False
        if not above[i, y] and others.any():
            suspect[i] = True
            suggested[i] = int(np.flatnonzero(others)[np.argmax(p[i, others])])
        else:
            suggested[i] = y
    return suspect, quality, suggested


# ------------------------------------------------------------ the whole run

def measure_on_worker(entries) -> "stats.StatisticsBatch":
    """``statistics.measure_batch`` on a cluster's worker: no cache (the
    caller's is on another machine); a reason names the worker."""
    batch = stats.measure_batch(entries)
    if batch.errors:
        where = worker_name()
        batch.errors = [(row, path, f"{why} on {where}") for row, path, why in batch.errors]
    return batch


def _cached_here(location, cache) -> Optional[tuple]:
    """``(file hash, cached row)`` of a file this computer can read and has
    measured before, else None (URLs are left to the workers)."""
    if location is None or is_remote(location):
        return None
    try:
        key = stats.content_hash(stats.read_bytes(location))
        hit = cache.get(key)
    except Exception:  # pylint: disable=broad-except
        return None  # unreadable here or a locked cache: the workers try it
    return (key, hit) if hit is not None else None


def compute_statistics(locations: Sequence[Optional[str]], *, use_cache: bool = True,
                       executor: Optional[Executor] = None, workers: Optional[int] = None,
                       callback: ProgressCallback = None):
    """Pixel statistics of all images (see ``statistics.measure_batch``).

    -> (values (n, C), tiny (n, 256), phash (n,), file_hash (n,) V16,
    pixel_hash (n,) V16, ok (n,), errors {row: ImageError}, cached count, cache or None).
    The caller closes the returned cache.

    On an executor that runs elsewhere (a Dask cluster) the cache is looked up
    here first and only the other images are sent (``measure_on_worker``).
    """
    callback = checked(callback)
    n = len(locations)
    values = np.full((n, len(stats.COLUMNS)), np.nan)
    tiny = np.zeros((n, stats.TINY * stats.TINY), np.uint8)
    phash = np.zeros(n, np.uint64)
    file_hash = np.zeros(n, "V16")
    pixel_hash = np.zeros(n, "V16")
    ok = np.zeros(n, bool)
    errors: Dict[int, ImageError] = {}
    cache = stats.open_cache() if use_cache else None
    counts = {"done": 0, "cached": 0}
    workers = workers or max(1, min(cores(), 8))
    own = executor is None
    pool = get_executor("threads", max_workers=workers, name="imagelab-issues") \
        if own else executor
    remote = runs_elsewhere(pool)
    window = 2 * (pool.capacity() if remote else workers)
    entries = list(enumerate(locations))
    batches = [entries[i:i + BATCH_SIZE] for i in range(0, n, BATCH_SIZE)]
    lookup = get_executor("threads", max_workers=workers, name="imagelab-lookup") \
        if remote and cache is not None else None

    def to_send():
        """The batches for ``pool``; cache hits filled in here when it is remote."""
        if lookup is None:
            yield from batches
            return
        for batch in batches:
            misses = []
            for (row, location), hit in zip(batch, lookup.map(
                    lambda entry: _cached_here(entry[1], cache), batch)):
                if hit is None:
                    misses.append((row, location))
                    continue
                key, (vals, small, ph, pixels) = hit
                values[row], tiny[row], phash[row] = vals, small, ph
                file_hash[row] = np.void(key)
                if pixels:
                    pixel_hash[row] = np.void(pixels)
                ok[row] = True
                counts["done"] += 1
                counts["cached"] += 1
            if misses:
                yield misses
            callback(counts["done"] / max(n, 1))

    work = measure_on_worker if remote else partial(stats.measure_batch, cache=cache)
    callback(0.0)
    try:
        for batch in bounded_map(pool, work, to_send(), window=window,
                                 poll=lambda: callback(counts["done"] / max(n, 1))):
            rows = batch.rows
            values[rows], tiny[rows], phash[rows] = batch.values, batch.tiny, batch.phash
            file_hash[rows], pixel_hash[rows], ok[rows] = \
                batch.file_hash, batch.pixel_hash, batch.ok
            for row, path, why in batch.errors:
                errors[row] = ImageError(path, why)
            new = batch.ok & ~batch.cached
            counts["cached"] += int(batch.cached.sum())
            if cache is not None and new.any():
                try:
                    cache.put_many((batch.file_hash[i].tobytes(), batch.values[i],
                                    batch.tiny[i], batch.phash[i],
                                    _bytes_or_empty(batch.pixel_hash[i]))
                                   for i in np.flatnonzero(new))
                except Exception:  # pylint: disable=broad-except
                    pass  # a full disk or locked cache costs speed next time, not this run
            counts["done"] += len(rows)
            callback(counts["done"] / max(n, 1))
    finally:
        if own:
            shutdown_quietly(pool)
        if lookup is not None:
            shutdown_quietly(lookup)
    return values, tiny, phash, file_hash, pixel_hash, ok, errors, counts["cached"], cache


def _bytes_or_empty(key) -> bytes:
    raw = key.tobytes()
    return b"" if raw == bytes(16) else raw


def _pixel_candidates(values, phash, file_hash, pixel_hash, ok) -> List[int]:
    """Rows whose pixel hash is unknown (a shrunk JPEG) but that may equal another
    image's pixels: same stored size and a pHash within 8 bits of another
    image with different file bytes."""
    missing = ok & (pixel_hash == np.zeros(1, "V16")[0])
    if not missing.any():
        return []
    candidates = set()
    w, h = values[:, 0], values[:, 1]
    by_size: Dict[Tuple[float, float], List[int]] = {}
    for i in np.flatnonzero(ok):
        by_size.setdefault((w[i], h[i]), []).append(int(i))
    for rows in by_size.values():
        if len(rows) < 2 or not missing[rows].any():
            continue
        rows = np.array(rows)
        for i, j, _ in hamming_pairs(phash[rows], 8):
            a, b = rows[i], rows[j]
            if file_hash[a] != file_hash[b]:
                candidates.update(r for r in (a, b) if missing[r])
    return sorted(candidates)


def find_issues_arrays(locations: Sequence[Optional[str]], *,
                       checks: Sequence[str] = ALL,
                       embeddings: Optional[np.ndarray] = None,
                       labels: Optional[np.ndarray] = None, n_classes: int = 0,
                       probabilities: Optional[np.ndarray] = None,
                       thresholds: Optional[Dict[str, float]] = None,
                       use_cache: bool = True, executor: Optional[Executor] = None,
                       workers: Optional[int] = None,
                       callback: ProgressCallback = None) -> IssueArrays:
    """Run the checks on n images.

    Parameters
    ----------
    locations : n paths or URLs (None: a missing image, reported as unreadable)
    checks : names from ``CHECKS``
    embeddings : (n, d) vectors or None; rows with NaN count as missing.
        Near duplicates then use cosine distance; outliers and label errors
        need them (label errors unless ``probabilities`` are given)
    labels : (n,) class index per row (-1 or NaN = no label), with
        ``n_classes``; None: no label check
    probabilities : (n, n_classes) class probabilities to use instead of the
        out-of-fold logistic regression (e.g. from Orange's Predictions)
    thresholds : overrides of ``DEFAULT_THRESHOLDS``
    use_cache : read and write the pixel-statistics cache
    executor : run the pixel work on this executor (not shut down here);
        default: a thread pool of ``workers`` (one per core)
    callback : progress ``callback(fraction)``; may raise ``Cancelled``
    """
    checks, limits = check_options(checks, thresholds)
    callback = checked(callback)
    n = len(locations)
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=float)
        if embeddings.shape[0] != n:
            raise ValueError(f"embeddings has {embeddings.shape[0]} rows for {n} images")
    if labels is not None:
        labels = np.asarray(labels, dtype=float)
        if labels.shape != (n,):
            raise ValueError(f"labels has shape {labels.shape}; expected ({n},)")
        labels = np.where(np.isfinite(labels), labels, -1).astype(np.int64)
        n_classes = max(n_classes, int(labels.max()) + 1 if n else 0)
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=float)
        if probabilities.shape != (n, n_classes):
            raise ValueError(f"probabilities has shape {probabilities.shape}; "
                             f"expected ({n}, {n_classes}), one column per class")

    notes: Dict[str, str] = {}
    scores: Dict[str, np.ndarray] = {}
    flags: Dict[str, np.ndarray] = {}
    need_pixels = any(c in PIXEL_CHECKS for c in checks) or (
        "near_duplicates" in checks and embeddings is None)
    pixel_end = 0.8 if "label_errors" in checks else 0.95
    values = np.full((n, len(stats.COLUMNS)), np.nan)
    tiny = np.zeros((n, stats.TINY * stats.TINY), np.uint8)
    phash = np.zeros(n, np.uint64)
    file_hash = np.zeros(n, "V16")
    pixel_hash = np.zeros(n, "V16")
    ok = np.array([loc is not None for loc in locations], dtype=bool)
    errors: Dict[int, ImageError] = {i: ImageError("", "no image")
                                     for i in np.flatnonzero(~ok)}
    cached = 0
    if need_pixels:
        values, tiny, phash, file_hash, pixel_hash, ok, errors, cached, cache = \
            compute_statistics(locations, use_cache=use_cache, executor=executor,
                               workers=workers, callback=sub_range(callback, 0, pixel_end))
        if cache is not None:
            cache.close()
    callback(pixel_end)

    for check, score in quality_scores(values).items():
        if check in checks:
            scores[check] = score
            flags[check] = ok & (score < limits[check])

    vectors_ok = None
    if embeddings is not None:
        vectors_ok = np.isfinite(embeddings).all(axis=1) & (embeddings.shape[1] > 0)

    exact: List[Tuple[int, int]] = []
    near: List[Tuple[int, int]] = []
    if need_pixels and ("exact_duplicates" in checks or "near_duplicates" in checks):
        zero = np.zeros(1, "V16")[0]
        exact = equal_pairs([h.tobytes() for h in file_hash], ok)
        candidates = _pixel_candidates(values, phash, file_hash, pixel_hash, ok)
        if candidates:
            own = executor is None
            pool = executor or get_executor("threads", max_workers=workers or cores())
            try:
                batches = [[(i, locations[i]) for i in candidates[s:s + BATCH_SIZE]]
                           for s in range(0, len(candidates), BATCH_SIZE)]
                capacity = pool.capacity() if runs_elsewhere(pool) else workers or cores()
                for batch in bounded_map(pool, stats.pixel_hash_batch, batches,
                                         window=2 * capacity):
                    for row, digest in batch:
                        if digest:
                            pixel_hash[row] = np.void(digest)
                    callback(pixel_end)  # lets Cancel in
            finally:
                if own:
                    shutdown_quietly(pool)
        has_pixels = ok & (pixel_hash != zero)
        exact += equal_pairs([h.tobytes() for h in pixel_hash], has_pixels)
    exact_partner = np.zeros(n, dtype=bool)
    for i, j in exact:
        exact_partner[[i, j]] = True
    if "exact_duplicates" in checks:
        scores["exact_duplicates"] = np.where(ok, np.where(exact_partner, 0.0, 1.0), np.nan)
        flags["exact_duplicates"] = exact_partner.copy()

    if "near_duplicates" in checks:
        same = {(min(i, j), max(i, j)) for i, j in _closure_pairs(exact, n)}
        near_score = np.full(n, np.nan)
        if embeddings is not None:
            _, dist = cosine_neighbours(embeddings, 1, vectors_ok)
            # the distance itself: low = a near duplicate, like every score here
            near_score = np.clip(dist[:, 0], 0.0, 1.0)
            limit = limits["near_duplicate_distance"]
            near_pairs = _pairs_within(embeddings, vectors_ok, limit)
            notes["near_duplicates"] = f"cosine distance of the embedding ≤ {limit:g}"
        else:
            bits = limits["near_duplicate_bits"]
            near_pairs = [(i, j) for i, j, _ in hamming_pairs(phash, bits, ok)
                          if thumbnails_match(tiny[i], tiny[j])]
            nearest = _nearest_bits(phash, ok)
            near_score = np.where(ok, nearest / 64.0, np.nan)
            notes["near_duplicates"] = f"perceptual hash (pHash) within {bits} of 64 " \
                                       "bits, confirmed on 16×16 grey thumbnails"
        near = [(i, j) for i, j in near_pairs if (i, j) not in same]
        near_partner = np.zeros(n, dtype=bool)
        for i, j in near:
            near_partner[[i, j]] = True
        scores["near_duplicates"] = near_score
        flags["near_duplicates"] = near_partner
    groups, keep, kinds = np.full(n, -1, np.int64), np.zeros(n, bool), []
    if exact or near:
        in_group = sorted({i for pair in exact + near for i in pair})
        size = values[:, 0] * values[:, 1]
        groups, keep, kinds = duplicate_groups(n, exact, near, size,
                                               modification_times(locations, in_group))

    if "outliers" in checks:
        if embeddings is None:
            notes["outliers"] = "skipped: needs an embedding (connect Image Embedding)"
        else:
            k = limits["outlier_neighbours"]
            _, dist = cosine_neighbours(embeddings, k, vectors_ok)
            scores["outliers"], flags["outliers"] = outlier_scores(
                dist, limits["outlier_quantile"])
            notes["outliers"] = f"mean cosine distance to {k} nearest neighbours, " \
                                f"top {100 * (1 - limits['outlier_quantile']):.3g} %"

    label_quality = np.full(n, np.nan)
    suggested = np.full(n, -1, np.int64)
    used_probabilities = None
    if "label_errors" in checks:
        if labels is None or n_classes < 2 or not (labels >= 0).any():
            notes["label_errors"] = "skipped: the data has no class (categorical target)"
        elif probabilities is None and embeddings is None:
            notes["label_errors"] = "skipped: needs an embedding or predicted probabilities"
        else:
            if probabilities is None:
                good = vectors_ok
                y = np.where(good, labels, -1)
                X = np.where(good[:, None], embeddings, 0.0)
                used_probabilities, note = out_of_fold_probabilities(
                    X, y, n_classes, folds=limits["label_folds"],
                    callback=sub_range(callback, pixel_end, 0.98))
                used_probabilities[~good] = np.nan
            else:
                used_probabilities = probabilities
                note = "probabilities given (e.g. Predictions)"
            suspect, label_quality, suggested = confident_learning(used_probabilities, labels)
            scores["label_errors"] = label_quality
            flags["label_errors"] = suspect
            notes["label_errors"] = note

    flags[UNREADABLE] = ~ok
    error_rows = sorted(errors)
    callback(1.0)
    return IssueArrays(scores, flags, values, groups, keep, kinds, label_quality, suggested,
                       used_probabilities, limits, [errors[i] for i in error_rows],
                       error_rows, notes, cached)


def _closure_pairs(pairs: List[Tuple[int, int]], n: int) -> List[Tuple[int, int]]:
    """All pairs within the components of ``pairs`` (exact duplicates are transitive)."""
    uf = _UnionFind(n)
    for i, j in pairs:
        uf.union(i, j)
    members: Dict[int, List[int]] = {}
    for i in sorted({i for pair in pairs for i in pair}):
        members.setdefault(uf.find(i), []).append(i)
    return [(a, b) for rows in members.values() for x, a in enumerate(rows)
            for b in rows[x + 1:]]


def _nearest_bits(hashes: np.ndarray, valid: np.ndarray, block: int = 2048) -> np.ndarray:
    """(n,) Hamming bits to the closest other valid hash (64 if none)."""
    n = len(hashes)
    out = np.full(n, 64.0)
    rows = np.flatnonzero(valid)
    h = hashes[rows]
    for start in range(0, len(rows), block):
        bits = np.bitwise_count(h[start:start + block, None] ^ h[None, :]).astype(np.int16)
        np.fill_diagonal(bits[:, start:start + block], 64)
        out[rows[start:start + block]] = bits.min(axis=1) if len(rows) > 1 else 64
    return out


def _pairs_within(vectors: np.ndarray, valid: np.ndarray, max_distance: float,
                  block: int = 1024) -> List[Tuple[int, int]]:
    """(i, j), i < j, with cosine distance at most ``max_distance``."""
    rows = np.flatnonzero(valid)
    unit = _unit_rows(vectors[rows])
    pairs = []
    for start in range(0, len(rows), block):
        sims = unit[start:start + block] @ unit.T
        ii, jj = np.nonzero(sims >= 1.0 - max_distance)
        ii = ii + start
        keep = ii < jj
        pairs.extend(zip(rows[ii[keep]].tolist(), rows[jj[keep]].tolist()))
    return sorted(pairs)
