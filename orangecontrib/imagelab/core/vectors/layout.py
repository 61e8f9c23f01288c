"""Arrange images on a regular grid so that similar images are neighbours.

Two steps, both deterministic for a given ``random_state``:

1. a 2-D map of the feature vectors with openTSNE (PCA initialisation,
   perplexity adapted to small ``n``); vectors are first reduced to at most
   50 principal components, which keeps the neighbour search fast for wide
   embeddings (e.g. 1,000-dimensional) without changing the map visibly;
2. snapping the map to grid cells, one distinct cell per row:

   * up to ``EXACT_LIMIT`` cells: the exact linear assignment (Hungarian /
     Jonker-Volgenant, ``scipy.optimize.linear_sum_assignment``) minimising
     the summed squared distance between map points and cell centres;
   * above it: **recursive balanced bisection with exact assignment in the
     leaves**. The grid rectangle is cut in two along its longer side, and
     the points are split by their coordinate along that axis so that each
     half receives a share proportional to its number of cells (a k-d-tree
     built to the grid's shape). A cut only separates points that are on
     different sides of a line in the map, so neighbourhoods survive except
     across the cut lines, and each half keeps the relative arrangement of
     its points. When a rectangle has at most ``LEAF_CELLS`` cells, its
     points are assigned exactly within it. Cost: O(n log n) for the
     splits plus O(n * LEAF_CELLS^2) for the leaves, about a second for
     10,000 images where the exact assignment would be cubic (minutes).

No GUI code here: this module uses numpy, scipy and openTSNE only.
"""
import warnings
from dataclasses import dataclass
from math import ceil, sqrt
from typing import Optional, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import options
from ..errors import Cancelled  # noqa: F401  (documented: callbacks may raise it)
from ..progress import ProgressCallback, checked, sub_range

__all__ = ["GridLayout", "grid_layout", "grid_shape", "snap_to_grid",
           "pca_map", "representative_sample", "EXACT_LIMIT", "LEAF_CELLS"]

#: Grids with at most this many cells are snapped by exact assignment.
EXACT_LIMIT = 1600
#: Bisection stops at rectangles with at most this many cells.
LEAF_CELLS = 256
#: Default width / height of the grid (landscape, like most screens).
DEFAULT_ASPECT = 4 / 3
#: Features are reduced to at most this many principal components first.
MAX_COMPONENTS = 50


@dataclass
class GridLayout:
    """Where each row goes on the grid.

    ``shape``: ``(rows, cols)``; ``cells``: ``(n, 2)`` int array of distinct
    ``(row, col)`` pairs, one per input vector; ``embedding``: ``(n, 2)``
    float array, the 2-D map the cells were snapped from (x, y).
    """
    shape: Tuple[int, int]
    cells: np.ndarray
    embedding: np.ndarray

    def __len__(self):
        return len(self.cells)

    def index_grid(self) -> np.ndarray:
        """A ``shape`` int array holding the row index in each cell, -1 where empty."""
        grid = np.full(self.shape, -1, dtype=np.int64)
        if len(self.cells):
            grid[self.cells[:, 0], self.cells[:, 1]] = np.arange(len(self.cells))
        return grid


def grid_shape(n: int, *, aspect: float = DEFAULT_ASPECT) -> Tuple[int, int]:
    """The smallest ``(rows, cols)`` with ``cols / rows`` near ``aspect`` that fits n.

    >>> grid_shape(1000)
    (28, 37)
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if n == 0:
        return 0, 0
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    cols = max(1, min(n, round(sqrt(n * aspect))))
    rows = ceil(n / cols)
    return rows, cols


def _as_matrix(vectors) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected an (n, d) array of vectors, got shape {x.shape}")
    if x.size and not np.isfinite(x).all():
        # Missing values: take the column mean (0 if the whole column is missing).
        x = x.copy()
        x[~np.isfinite(x)] = np.nan
        with warnings.catch_warnings():  # "mean of empty slice" for all-NaN columns
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(x, axis=0) if len(x) else np.zeros(x.shape[1])
        means = np.nan_to_num(means)
        rows, cols = np.nonzero(np.isnan(x))
        x[rows, cols] = means[cols]
    return x


def _orthonormal(basis: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning ``basis`` (n × k, k small), via the k×k Gram.

    Cheaper and steadier in time than ``np.linalg.qr`` on a busy machine.
    """
    values, vectors = np.linalg.eigh(basis.T @ basis)
    keep = values > values.max(initial=0.0) * 1e-12
    return basis @ (vectors[:, keep] / np.sqrt(values[keep]))


def pca_map(vectors, *, n_components: int = 2) -> np.ndarray:
    """Project ``(n, d)`` vectors on their first principal components.

    Returns an ``(n, n_components)`` array; components beyond the data's rank
    are zeros. Signs are fixed (largest loading positive) for determinism.
    """
    x = _as_matrix(vectors)
    n = len(x)
    out = np.zeros((n, n_components))
    if n == 0 or x.shape[1] == 0:
        return out
    centred = x - x.mean(axis=0)
    if min(n, x.shape[1]) > 4 * n_components + 40:
        # Many more dimensions than wanted (e.g. 1,000-feature embeddings to
        # 50): randomized PCA (Halko et al. 2011), a fixed seed, two power
        # iterations; several times faster than a full decomposition.
        rng = np.random.default_rng(0)
        basis = centred @ rng.standard_normal((x.shape[1], n_components + 20))
        for _ in range(2):
            basis = _orthonormal(basis)
            basis = centred @ (centred.T @ basis)
        basis = _orthonormal(basis)
        _, s, axes = np.linalg.svd(basis.T @ centred, full_matrices=False)
        values = s ** 2
    # Otherwise eigenvectors of the smaller Gram matrix (d×d or n×n), several
    # times faster than an SVD of (n, d) when one side is large.
    elif n >= x.shape[1]:
        values, axes = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(values)[::-1]
        values, axes = values[order], axes[:, order].T           # rows: principal axes
    else:
        values, u = np.linalg.eigh(centred @ centred.T)
        order = np.argsort(values)[::-1]
        values, u = values[order], u[:, order]
        keep = values > 0
        axes = np.zeros((len(values), x.shape[1]))
        axes[keep] = (centred.T @ (u[:, keep] / np.sqrt(values[keep]))).T
    top = values.max(initial=0.0)
    rank = int(np.sum(values > top * 1e-10)) if top > 0 else 0
    k = min(n_components, rank)
    if k == 0:
        return out
    axes = axes[:k]
    signs = np.sign(axes[np.arange(k), np.argmax(np.abs(axes), axis=1)])
    signs[signs == 0] = 1
    out[:, :k] = centred @ (axes * signs[:, None]).T
    return out


def _normalised(points: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Points (x, y) scaled to cell coordinates (row, col) of a rows×cols grid."""
    out = np.zeros((len(points), 2))
    for axis, size in ((1, rows), (0, cols)):  # y -> row, x -> col
        p = points[:, axis]
        low, high = p.min(), p.max()
        target = 1 - axis  # row is column 0, col is column 1
        if high > low:
            out[:, target] = (p - low) / (high - low) * (size - 1)
        else:
            out[:, target] = (size - 1) / 2
    return out


def _assign_exact(points: np.ndarray, row0: int, col0: int,
                  rows: int, cols: int) -> np.ndarray:
    """Exact assignment of points to the cells of a rectangle (row0, col0, rows, cols)."""
    scaled = _normalised(points, rows, cols)
    rr, cc = np.mgrid[0:rows, 0:cols]
    centres = np.column_stack([rr.ravel(), cc.ravel()]).astype(float)
    cost = ((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    point_idx, cell_idx = linear_sum_assignment(cost)
    cells = np.empty((len(points), 2), dtype=np.int64)
    cells[point_idx] = centres[cell_idx].astype(np.int64) + (row0, col0)
    return cells


def _bisect(points, indices, row0, col0, rows, cols, out, leaf_cells):
    n = len(indices)
    if n == 0:
        return
    if rows * cols <= leaf_cells or n == 1:
        out[indices] = _assign_exact(points[indices], row0, col0, rows, cols)
        return
    # Cut along the longer side (in cells); points split by the matching axis.
    if cols >= rows:
        first, axis = cols // 2, 0              # left | right, by x
        cap_a, cap_b = rows * first, rows * (cols - first)
    else:
        first, axis = rows // 2, 1              # top / bottom, by y
        cap_a, cap_b = first * cols, (rows - first) * cols
    n_a = int(round(n * cap_a / (cap_a + cap_b)))
    n_a = min(max(n_a, n - cap_b), cap_a)
    order = np.argsort(points[indices, axis], kind="stable")
    part_a, part_b = indices[order[:n_a]], indices[order[n_a:]]
    if axis == 0:
        _bisect(points, part_a, row0, col0, rows, first, out, leaf_cells)
        _bisect(points, part_b, row0, col0 + first, rows, cols - first, out, leaf_cells)
    else:
        _bisect(points, part_a, row0, col0, first, cols, out, leaf_cells)
        _bisect(points, part_b, row0 + first, col0, rows - first, cols, out, leaf_cells)


def snap_to_grid(points, shape: Tuple[int, int], *,
                 exact_limit: int = EXACT_LIMIT,
                 leaf_cells: int = LEAF_CELLS) -> np.ndarray:
    """Give each 2-D point ``(x, y)`` a distinct grid cell ``(row, col)``.

    ``points``: ``(n, 2)``; ``shape``: ``(rows, cols)`` with rows * cols >= n.
    Returns an ``(n, 2)`` int array. Exact linear assignment up to
    ``exact_limit`` cells, recursive balanced bisection above (see the module
    docstring).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    rows, cols = shape
    n = len(points)
    if rows * cols < n:
        raise ValueError(f"a {rows}×{cols} grid has {rows * cols} cells, fewer than "
                         f"{n} points: pass a larger `shape` or shape=None")
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    # x to columns, y to rows; orient the map's longer extent along the grid's longer side.
    extent = np.ptp(points, axis=0)
    if (extent[0] > extent[1]) != (cols >= rows) and extent.min() > 0:
        points = points[:, ::-1]
    if rows * cols <= exact_limit:
        return _assign_exact(points, 0, 0, rows, cols)
    out = np.empty((n, 2), dtype=np.int64)
    _bisect(points, np.arange(n), 0, 0, rows, cols, out, leaf_cells)
    return out


def _tsne_map(x: np.ndarray, random_state: int, callback, n_jobs: int) -> np.ndarray:
    import openTSNE  # imported here: it is slow to import and not always needed

    n = len(x)
    # A grid needs the map's neighbourhoods, not its fine detail. Above 500
    # points, 125 early-exaggeration and 250 further iterations (instead of
    # openTSNE's 250 + 500) give the same grid quality (benchmark table, 1,000
    # synthetic 1,000-d vectors in 8 clusters: same- / other-cluster grid
    # distance 0.341 vs 0.338) in 60% of the time; small maps keep the defaults.
    early_iter, n_iter = (250, 500) if n <= 500 else (125, 250)
    every = 25
    total_calls = max(1, early_iter // every + n_iter // every)
    calls = [0]

    def on_iteration(_iteration, _error, _embedding):
        calls[0] += 1
        callback(min(1.0, calls[0] / total_calls))  # may raise Cancelled
        return False

    tsne = openTSNE.TSNE(
        perplexity=max(1.0, min(30.0, (n - 1) / 3)),
        initialization="pca", random_state=random_state, n_jobs=n_jobs,
        n_iter=n_iter, early_exaggeration_iter=early_iter,
        callbacks=on_iteration, callbacks_every_iters=every,
        neighbors="exact" if n < 1000 else "auto",
        negative_gradient_method="bh" if n < 5000 else "fft",
        verbose=False)
    return np.asarray(tsne.fit(x), dtype=np.float64)


def grid_layout(vectors, *, shape: Optional[Tuple[int, int]] = None,
                random_state: int = 0, aspect: float = DEFAULT_ASPECT,
                n_jobs: int = 1, callback: ProgressCallback = None) -> GridLayout:
    """Lay out ``(n, d)`` feature vectors on a grid, similar vectors adjacent.

    ``shape=(rows, cols)`` fixes the grid (it must have at least n cells); by
    default the smallest grid with ``cols / rows`` near ``aspect`` is used,
    with no upper limit. ``callback(fraction)`` reports progress during the
    t-SNE iterations and may raise ``Cancelled`` to stop. Returns a
    ``GridLayout`` with ``cells`` of shape ``(n, 2)``, distinct ``(row, col)``.

    >>> layout = grid_layout(np.random.default_rng(0).normal(size=(100, 8)))
    >>> layout.shape, layout.cells.shape
    ((9, 12), (100, 2))
    """
    report = checked(callback)
    x = _as_matrix(vectors)
    n = len(x)
    if shape is None:
        shape = grid_shape(n, aspect=aspect)
    else:
        shape = (int(shape[0]), int(shape[1]))
        if shape[0] * shape[1] < n:
            raise ValueError(f"shape {shape} has {shape[0] * shape[1]} cells, fewer "
                             f"than the {n} vectors: pass a larger shape or None")
    report(0.0)
    if n == 0:
        return GridLayout(shape, np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2)))
    reduced = pca_map(x, n_components=min(MAX_COMPONENTS, x.shape[1] or 1))
    report(0.05)
    spread = np.ptp(reduced, axis=0).max() if reduced.size else 0.0
    if n <= 3 or spread <= 1e-12:
        # Too few (or identical) points for t-SNE: their principal components are the map.
        embedding = reduced[:, :2] if reduced.shape[1] >= 2 else \
            np.column_stack([reduced[:, 0], np.zeros(n)])
        if spread <= 1e-12:
            embedding = np.column_stack([np.arange(n, dtype=float), np.zeros(n)])
    else:
        embedding = _tsne_map(reduced, random_state, sub_range(report, 0.05, 0.95), n_jobs)
    cells = snap_to_grid(embedding, shape)
    report(1.0)
    return GridLayout(shape, cells, embedding)


def representative_sample(n: int, size: int, *, strata=None,
                          random_state: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` of ``n`` rows to show when all cannot be.

    All rows (``arange(n)``) when ``n <= size``. Else a random sample,
    reproducible for a ``random_state`` (so a selection stored by sample
    position finds the same rows again); with ``strata`` ((n,) labels, e.g.
    class codes; NaN is a stratum of its own) each stratum gets its share
    of ``size`` in proportion to its rows (largest remainders), and at least
    one row while there are fewer strata than ``size``: a class too small
    for its share of 10,000 still shows.
    """
    n = options.count("n", n, minimum=0)
    size = options.count("size", size)
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(random_state)
    if strata is None:
        return np.sort(rng.choice(n, size, replace=False))
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise ValueError(f"strata must have one label per row ({n}), got shape {strata.shape}")
    if strata.dtype.kind == "f":
        strata = np.where(np.isnan(strata), np.inf, strata)  # NaN: one stratum
    _, codes = np.unique(strata, return_inverse=True)
    counts = np.bincount(codes)
    quota = counts * (size / n)
    take = np.floor(quota).astype(np.int64)
    if len(counts) <= size:
        take = np.maximum(take, 1)
    left = size - take.sum()
    if left > 0:  # the largest remainders get one more, where rows remain
        order = np.argsort(-(quota - take), kind="stable")
        room = order[take[order] < counts[order]]
        take[room[:left]] += 1
    elif left < 0:  # the minimum of one overshot: trim the largest shares
        for k in np.argsort(-take, kind="stable")[:-left]:
            take[k] -= 1
    chosen = [rng.choice(np.flatnonzero(codes == k), take[k], replace=False)
              for k in range(len(counts)) if take[k]]
    return np.sort(np.concatenate(chosen))

