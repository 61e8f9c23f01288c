"""Options outside their range, NaN or of the wrong type are refused by name, the
same way in every function (issue 17, item 8)."""
import math

import numpy as np
import pytest
from Orange.data import Domain, Table

from orangecontrib.imagelab import detect_labels, filter_by_label, sort_predictions, tables
from orangecontrib.imagelab.core import options
from orangecontrib.imagelab.core.vectors.labels import scan_labels, top_labels

BAD_FRACTIONS = [math.nan, -0.1, 1.5, "0.5", True, None]


def images():
    var = tables.image_variable("image", "/nowhere")
    return Table.from_list(Domain([], metas=[var]), [["a.jpg"]])


@pytest.mark.parametrize("value", BAD_FRACTIONS)
def test_fractions_are_checked_everywhere(value):
    data = images()
    with pytest.raises(ValueError, match="min_confidence"):
        detect_labels(data, min_confidence=value)
    with pytest.raises(ValueError, match="min_confidence"):
        filter_by_label(data, "bird", min_confidence=value)
    with pytest.raises(ValueError, match="min_confidence"):
        top_labels(np.zeros((1, 3)), min_confidence=value)
    if value is not None:
        with pytest.raises(ValueError, match="review_min"):
            filter_by_label(data, "bird", review_min=value)


@pytest.mark.parametrize("value", [0, -1, 2.5, "3", True, None, math.nan])
def test_top_k_has_one_rule(value):
    data = images()
    for call in (lambda: detect_labels(data, top_k=value),
                 lambda: filter_by_label(data, "bird", top_k=value),
                 lambda: top_labels(np.zeros((1, 3)), k=value)):
        with pytest.raises(ValueError, match="top_k"):
            call()


def test_top_k_above_the_class_count_means_all():
    indices, _ = top_labels(np.array([[0.2, 0.5, 0.3]]), k=10)
    assert indices.tolist() == [[1, 2, 0]]


def test_counts_and_caps():
    def predict(start, stop, callback):
        raise AssertionError("options are checked before any work")
    with pytest.raises(ValueError, match="max_scanned"):
        scan_labels(predict, 3, np.array([0]), max_scanned=-1)
    with pytest.raises(ValueError, match="stop_after_misses"):
        scan_labels(predict, 3, np.array([0]), stop_after_misses=0.5)
    assert options.count("max_scanned", None, optional=True) is None
    assert options.count("n", np.int64(3)) == 3
    with pytest.raises(ValueError, match="mode"):
        options.choice("mode", "move", ["copy", "link"])
    with pytest.raises(ValueError, match="timeout"):
        options.positive("timeout", math.inf)


@pytest.mark.parametrize("value", [math.nan, 1.2, -0.5])
def test_sort_predictions_thresholds(tmp_path, value):
    with pytest.raises(ValueError, match="min_confidence"):
        sort_predictions(images(), tmp_path, min_confidence=value)
    with pytest.raises(ValueError, match="review_below"):
        sort_predictions(images(), tmp_path, min_confidence=0.9, review_below=value)
