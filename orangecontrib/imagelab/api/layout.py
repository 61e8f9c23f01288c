"""Grid layouts of feature tables' rows: similar rows in neighbouring cells.

    >>> from orangecontrib.imagelab.api.layout import grid_layout, quick_grid
    >>> quick_grid(vectors, (9, 12)).cells.shape               # doctest: +SKIP
    (100, 2)

``grid_layout`` (openTSNE, then assignment to cells) is the final layout;
``quick_grid`` (the first two principal components snapped to cells) is what
Image Grid shows within a fraction of a second while the final one runs.
"""
from typing import Tuple

import numpy as np

from orangecontrib.imagelab.core.vectors.layout import (
    GridLayout, grid_layout, grid_shape, pca_map, representative_sample, snap_to_grid)

__all__ = ["GridLayout", "grid_layout", "grid_shape", "pca_map", "quick_grid", "regrid",
           "representative_sample"]


def quick_grid(vectors, shape: Tuple[int, int]) -> GridLayout:
    """``(n, d)`` vectors on a ``(rows, cols)`` grid by their first two principal components.

    ``shape`` must have at least n cells (``grid_shape(n)`` is the default one).
    """
    vectors = np.asarray(vectors, dtype=float)
    rows, cols = int(shape[0]), int(shape[1])
    if rows * cols < len(vectors):
        raise ValueError(f"shape {shape} has {rows * cols} cells, fewer than the "
                         f"{len(vectors)} vectors: pass a larger shape")
    points = pca_map(vectors, n_components=2)
    return GridLayout((rows, cols), snap_to_grid(points, (rows, cols)), points)


def regrid(layout: GridLayout, shape: Tuple[int, int]) -> GridLayout:
    """``layout``'s 2-D map snapped to another ``(rows, cols)`` grid (no new t-SNE).

    ``shape`` must have at least as many cells as the layout has rows.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if rows * cols < len(layout):
        raise ValueError(f"shape {shape} has {rows * cols} cells, fewer than the "
                         f"{len(layout)} images: pass a larger shape")
    return GridLayout((rows, cols), snap_to_grid(layout.embedding, (rows, cols)),
                      layout.embedding)
