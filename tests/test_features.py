"""Hand-made features: column counts and values computed by hand on tiny images."""
import numpy as np
import pytest

from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.pixels.features import (
    FEATURE_SETS, extract_features, feature_names, grid_slices, haar_level,
    image_features)
from tests.images import make_image, make_truncated_jpeg


def grey(values):
    values = np.asarray(values, dtype=np.uint8)
    return np.repeat(values[:, :, None], 3, axis=2)


@pytest.mark.parametrize("name, count", [
    ("dimensions", 4), ("average_pixels", 78), ("level_histogram", 48),
    ("histogram_of_gradients", 234), ("wavelet_subbands", 160)])
def test_column_counts(name, count):
    assert len(feature_names([name])) == count
    assert len(set(feature_names([name]))) == count
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    values = image_features(rgb, [name], file_size=10)
    assert values.shape == (count,) and np.isfinite(values).all()


def test_wavelet_levels_option():
    assert len(feature_names(["wavelet_subbands"], wavelet_levels=2)) == 70
    rgb = np.zeros((8, 8, 3), np.uint8)
    assert image_features(rgb, ["wavelet_subbands"], wavelet_levels=2).shape == (70,)


def test_dimensions_by_hand():
    values = image_features(np.zeros((2, 4, 3), np.uint8), ["dimensions"],
                            file_size=1234, original_size=(640, 480))
    np.testing.assert_allclose(values, [1234, 640, 480, 640 / 480])


def test_average_pixels_by_hand():
    rgb = np.zeros((3, 3, 3), np.uint8)
    rgb[..., 0] = [[0, 10, 20], [30, 40, 50], [60, 70, 80]]
    rgb[..., 1] = 100
    rgb[0, 0, 2] = 90  # blue only in the top-left pixel
    values = image_features(rgb, ["average_pixels"])
    np.testing.assert_allclose(values[:3], [40, 100, 10])          # whole image
    grid3 = values[3:30].reshape(9, 3)                               # one pixel per cell
    np.testing.assert_allclose(grid3[:, 0], [0, 10, 20, 30, 40, 50, 60, 70, 80])
    np.testing.assert_allclose(grid3[:, 2], [90] + [0] * 8)
    grid4 = values[30:].reshape(16, 3)     # cells of a 3-pixel side: rows 0, 0, 1, 2
    np.testing.assert_allclose(grid4[:4, 0], [0, 0, 10, 20])
    np.testing.assert_allclose(grid4[-1], [80, 100, 0])


def test_level_histogram_by_hand():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = [[0, 15], [16, 255]]   # bins 0, 0, 1, 15
    rgb[..., 1] = 128                    # bin 8
    values = image_features(rgb, ["level_histogram"])
    red, green, blue = values[:16], values[16:32], values[32:]
    assert red[0] == 0.5 and red[1] == 0.25 and red[15] == 0.25
    assert green[8] == 1.0 and blue[0] == 1.0
    np.testing.assert_allclose(values.reshape(3, 16).sum(axis=1), 1.0)


def test_histogram_of_gradients_by_hand():
    ramp = np.tile(np.arange(0, 240, 20, dtype=np.uint8), (12, 1))    # left-to-right
    values = image_features(grey(ramp), ["histogram_of_gradients"]).reshape(26, 9)
    # all gradients point along x (0°): each cell is (1, 0, ..., 0) after L2 norm
    np.testing.assert_allclose(values[:, 0], 1.0)
    np.testing.assert_allclose(values[:, 1:], 0.0)
    vertical = image_features(grey(ramp.T), ["histogram_of_gradients"]).reshape(26, 9)
    np.testing.assert_allclose(vertical[:, 4], 1.0)                    # 80-100°
    flat = image_features(grey(np.full((6, 6), 7)), ["histogram_of_gradients"])
    np.testing.assert_array_equal(flat, 0.0)                           # no NaN


def test_haar_by_hand():
    ll, (lh, hl, hh) = haar_level(np.array([[4.0, 2.0], [1.0, 1.0]]))
    assert ll[0, 0] == 4.0 and lh[0, 0] == 2.0 and hl[0, 0] == 1.0 and hh[0, 0] == 1.0
    # odd sizes repeat the last row/column
    ll, _ = haar_level(np.ones((3, 5)))
    assert ll.shape == (2, 3) and np.allclose(ll, 2.0)
    # one level on a 2x2 grey image: luminance 0.4, 0.2, 0.1, 0.1 (of 255)
    rgb = grey([[102, 51], [25.5, 25.5]])
    values = image_features(rgb, ["wavelet_subbands"], wavelet_levels=1)
    lum = np.array([[102, 51], [25, 25]]) / 255.0
    a, b, c, d = lum.ravel()
    # bands LH, HL, HH, LL; each: 1x1 (mean, var) then 4 cells of 2x2 (mean, var)
    first = values.reshape(4, 5, 2)[:, 0]
    np.testing.assert_allclose(first[:, 0], [(a + b - c - d) / 2, (a - b + c - d) / 2,
                                             (a - b - c + d) / 2, (a + b + c + d) / 2])
    np.testing.assert_allclose(first[:, 1], 0.0)   # one coefficient: no variance


def test_grid_slices_cover_and_never_empty():
    assert grid_slices(9, 3) == [slice(0, 3), slice(3, 6), slice(6, 9)]
    assert all(s.stop > s.start for s in grid_slices(1, 4))


def test_extract_features_from_files(tmp_path):
    good = make_image(tmp_path / "a.png", size=(40, 30), color=(255, 0, 0))
    big = make_image(tmp_path / "big.jpg", size=(1200, 600), color=(0, 0, 255))
    bad = make_truncated_jpeg(tmp_path / "t.jpg")
    result = extract_features([str(good), None, str(bad), str(big)],
                              ["dimensions", "average_pixels"])
    assert result.vectors.shape == (4, 82) and len(result.names) == 82
    assert result.ok.tolist() == [True, False, False, True]
    assert [e.reason for e in result.errors] == ["no image", "truncated JPEG"]
    assert result.error_rows == [1, 2]
    np.testing.assert_allclose(result.vectors[0, :4],
                               [good.stat().st_size, 40, 30, 40 / 30])
    np.testing.assert_allclose(result.vectors[0, 4:7], [255, 0, 0])
    # the size as stored, though pixels are computed on a 512-px copy
    np.testing.assert_allclose(result.vectors[3, 1:4], [1200, 600, 2.0])


def test_extract_features_cancel_and_bad_names(tmp_path):
    paths = [str(make_image(tmp_path / f"{i}.png")) for i in range(5)]

    def cancel(fraction):
        if fraction > 0.3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        extract_features(paths, ["level_histogram"], callback=cancel)
    with pytest.raises(ValueError, match="unknown feature"):
        extract_features(paths, ["colours"])
    with pytest.raises(ValueError, match="no feature set"):
        extract_features(paths, [])
    assert set(FEATURE_SETS) == {"dimensions", "average_pixels", "level_histogram",
                                 "histogram_of_gradients", "wavelet_subbands"}
