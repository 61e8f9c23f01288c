"""Core grid layout: distinct cells, neighbourhoods kept, determinism, edge cases."""
import numpy as np
import pytest

from orangecontrib.imagelab import Cancelled, GridLayout, grid_layout
from orangecontrib.imagelab.core.vectors.layout import grid_shape, pca_map, snap_to_grid


def clustered(n, d=16, k=5, seed=0, spread=8.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * spread
    labels = np.arange(n) % k
    return centres[labels] + rng.normal(size=(n, d)), labels


def grid_distance_ratio(cells, labels):
    """Mean grid distance to same-cluster members over that to other members."""
    d = np.abs(cells[:, None, :] - cells[None, :, :]).sum(axis=2).astype(float)
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    other = labels[:, None] != labels[None, :]
    return d[same].mean() / d[other].mean()


def assert_distinct(layout, n):
    rows, cols = layout.shape
    assert layout.cells.shape == (n, 2)
    assert layout.cells.dtype.kind == "i"
    assert len({tuple(c) for c in layout.cells}) == n
    if n:
        assert layout.cells[:, 0].min() >= 0 and layout.cells[:, 0].max() < rows
        assert layout.cells[:, 1].min() >= 0 and layout.cells[:, 1].max() < cols


def test_clusters_stay_together_on_the_grid():
    x, labels = clustered(150)
    layout = grid_layout(x)
    assert isinstance(layout, GridLayout)
    assert_distinct(layout, 150)
    assert layout.embedding.shape == (150, 2)
    # Same-cluster images are, on average, less than half as far apart as others.
    assert grid_distance_ratio(layout.cells, labels) < 0.5


def test_deterministic_for_a_random_state():
    x, _ = clustered(80, seed=3)
    a, b = grid_layout(x, random_state=1), grid_layout(x, random_state=1)
    np.testing.assert_array_equal(a.cells, b.cells)
    np.testing.assert_allclose(a.embedding, b.embedding)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7])
def test_tiny_inputs(n):
    x = np.random.default_rng(n).normal(size=(n, 5))
    layout = grid_layout(x)
    assert_distinct(layout, n)
    assert layout.shape == grid_shape(n)
    assert layout.index_grid().shape == layout.shape


def test_identical_and_missing_values():
    same = np.ones((20, 4))
    assert_distinct(grid_layout(same), 20)
    x, _ = clustered(30, d=4)
    x[3, 1] = np.nan
    x[:, 2] = np.nan  # a wholly missing column
    layout = grid_layout(x)
    assert_distinct(layout, 30)
    assert np.isfinite(layout.embedding).all()


def test_shape_argument_and_no_upper_limit():
    x, _ = clustered(30, d=4)
    layout = grid_layout(x, shape=(3, 12))
    assert layout.shape == (3, 12)
    assert_distinct(layout, 30)
    with pytest.raises(ValueError, match="larger shape"):
        grid_layout(x, shape=(5, 5))
    rows, cols = grid_shape(10_000)
    assert rows * cols >= 10_000 and rows > 40 and cols > 40
    assert abs(cols / rows - 4 / 3) < 0.1


def test_progress_and_cancel():
    x, _ = clustered(60)
    seen = []
    grid_layout(x, callback=seen.append)
    assert seen[0] == 0 and seen[-1] == 1
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    assert len(seen) > 10  # progress during the t-SNE iterations

    calls = []

    def cancel(fraction):
        calls.append(fraction)
        if fraction > 0.3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        grid_layout(x, callback=cancel)
    assert max(calls) < 0.5  # it stopped soon after


def test_bisection_keeps_neighbourhoods():
    # 2-D points in four blobs, snapped with the large-n method (forced here).
    rng = np.random.default_rng(0)
    labels = np.arange(2000) % 4
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    points = centres[labels] + rng.normal(size=(2000, 2))
    shape = grid_shape(2000)
    cells = snap_to_grid(points, shape, exact_limit=0, leaf_cells=64)
    assert len({tuple(c) for c in cells}) == 2000
    assert grid_distance_ratio(cells[::3], labels[::3]) < 0.5
    # Local neighbourhoods are kept, not just clusters: each point's nearest
    # neighbour in the map lands a few cells away (random pairs: ~30 cells).
    from scipy.spatial import cKDTree
    _, nearest = cKDTree(points).query(points, k=2)
    steps = np.abs(cells - cells[nearest[:, 1]]).sum(axis=1)
    random_steps = np.abs(cells - cells[rng.permutation(2000)]).sum(axis=1)
    assert steps.mean() < 0.2 * random_steps.mean()


def test_exact_snap_is_optimal_on_a_grid_of_points():
    # Points exactly on a shuffled 5×6 lattice go back to their own cells.
    rr, cc = np.mgrid[0:5, 0:6]
    points = np.column_stack([cc.ravel(), rr.ravel()]).astype(float)
    order = np.random.default_rng(1).permutation(30)
    cells = snap_to_grid(points[order], (5, 6))
    np.testing.assert_array_equal(cells, np.column_stack([rr.ravel(), cc.ravel()])[order])


def test_pca_map_shapes():
    x = np.random.default_rng(0).normal(size=(10, 3))
    assert pca_map(x, n_components=5).shape == (10, 5)
    assert pca_map(np.zeros((4, 3))).shape == (4, 2)
    assert pca_map(np.zeros((0, 3))).shape == (0, 2)


def test_representative_sample():
    from orangecontrib.imagelab.core.vectors.layout import representative_sample
    np.testing.assert_array_equal(representative_sample(5, 10), np.arange(5))
    plain = representative_sample(1000, 100)
    assert len(plain) == 100 and len(set(plain)) == 100 and (np.diff(plain) > 0).all()
    np.testing.assert_array_equal(plain, representative_sample(1000, 100))   # reproducible
    assert not np.array_equal(plain, representative_sample(1000, 100, random_state=1))
    # classes in proportion; a class too small for its share still shows; NaN is a class
    strata = np.r_[np.zeros(900), np.ones(95), np.full(3, 2.0), np.full(2, np.nan)]
    rows = representative_sample(len(strata), 100, strata=strata)
    assert len(rows) == 100
    picked = strata[rows]
    assert (picked == 0).sum() in (89, 90) and (picked == 1).sum() in (9, 10)
    assert (picked == 2).sum() == 1 and np.isnan(picked).sum() == 1
    with pytest.raises(ValueError, match="size"):
        representative_sample(10, 0)
    with pytest.raises(ValueError, match="strata"):
        representative_sample(10, 5, strata=[1, 2])
