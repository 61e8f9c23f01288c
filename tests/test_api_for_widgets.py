"""The thin ``api`` functions the widgets call instead of core internals."""
import numpy as np
import pytest

from orangecontrib.imagelab.api import ImageError, UnknownLabelError
from orangecontrib.imagelab.api.embedding import FEATURE_SETS, feature_set_descriptions
from orangecontrib.imagelab.api.images import load_thumbnail
from orangecontrib.imagelab.api.labels import label_vocabulary
from orangecontrib.imagelab.api.layout import grid_shape, quick_grid
from orangecontrib.imagelab.widgets.utils.preview import sample_path


def test_load_thumbnail_scales_down_and_names_bad_files(tmp_path):
    image = load_thumbnail(f"{sample_path('photos')}/cat.jpg", max_side=64)
    assert image.mode == "RGB" and max(image.size) == 64
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError) as err:
        load_thumbnail(str(bad), max_side=64)
    assert err.value.reason


def test_quick_grid_gives_distinct_cells():
    vectors = np.random.default_rng(0).normal(size=(30, 5))
    layout = quick_grid(vectors, grid_shape(30))
    assert layout.cells.shape == (30, 2)
    assert len({tuple(c) for c in layout.cells}) == 30
    with pytest.raises(ValueError, match="shape"):
        quick_grid(vectors, (2, 2))


def test_feature_set_descriptions_and_vocabulary():
    assert list(feature_set_descriptions()) == list(FEATURE_SETS)
    vocabulary = label_vocabulary()
    assert len(vocabulary.classes_for("bird")) > 10
    with pytest.raises(UnknownLabelError):
        vocabulary.classes_for("no such thing xyz")
