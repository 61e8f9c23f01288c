"""detect_labels and filter_by_label on real photos shipped with scikit-image."""
import numpy as np
import pytest
from Orange.data import StringVariable

from orangecontrib.imagelab import (LabelFilterResult, detect_labels,
                                    filter_by_label)
from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.errors import UnknownLabelError
from tests.images import make_image, make_truncated_jpeg, skimage_sample

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg"]


def photo_table(extra=()):
    paths = [str(skimage_sample(name)) for name in PHOTOS] + [str(p) for p in extra]
    return tables.table_from_columns(
        [(tables.image_variable("image"), paths),
         (StringVariable("name"), [p.rsplit("/", 1)[-1] for p in paths])], name="photos")


@pytest.fixture(scope="module")
def photos():
    return photo_table()


def test_detect_labels_cat_and_coffee(photos):
    labelled = detect_labels(photos, top_k=3)
    assert len(labelled) == len(photos)
    names = [var.name for var in labelled.domain.metas]
    for name in ("label 1", "label 2", "label 3", "confidence 1", "confidence 3", "labels"):
        assert name in names
    top = labelled.get_column("labels")
    first = [labelled.domain["label 1"].str_val(v) for v in labelled.get_column("label 1")]
    cat_classes = {"tabby cat", "tiger cat", "Persian cat", "Siamese cat", "Egyptian Mau"}
    assert first[0] in cat_classes
    assert first[1] in ("espresso", "tea cup", "coffee mug")
    conf = labelled.get_column("confidence 1")
    assert ((conf > 0) & (conf <= 1)).all()
    assert (conf >= labelled.get_column("confidence 2")).all()
    assert top[0].startswith(first[0] + " 0.")
    # the image column and the original metas are kept
    assert labelled.domain["image"].attributes["type"] == "image"
    assert list(labelled.get_column("name")) == list(photos.get_column("name"))


def test_detect_labels_min_confidence_and_relabel(photos):
    labelled = detect_labels(photos, top_k=5, min_confidence=0.5)
    conf = labelled.get_column("confidence 5")
    assert np.isnan(conf).all()                   # nobody has 5 labels >= 0.5
    again = detect_labels(labelled, top_k=2)      # old label columns are replaced
    names = [var.name for var in again.domain.metas]
    assert "label 1" in names and "label 5" not in names
    assert not any("(1)" in name for name in names)


def test_cat_matches_through_hierarchy_coffee_not_bird(photos):
    cat = filter_by_label(photos, "cat")
    assert isinstance(cat, LabelFilterResult)
    assert list(cat.matched.get_column("name")) == ["chelsea.png"]
    assert cat.matched.get_column("label confidence")[0] > 0.8
    general = filter_by_label(photos, "feline", min_confidence=0.8)
    assert list(general.matched.get_column("name")) == ["chelsea.png"]
    coffee = filter_by_label(photos, ["cup", "espresso"])
    assert list(coffee.matched.get_column("name")) == ["coffee.png"]
    bird = filter_by_label(photos, "bird", min_confidence=0.3)
    assert bird.matched is None
    assert "coffee.png" in bird.rejected.get_column("name")


def test_filter_partitions_input_with_unreadable(tmp_path):
    broken = make_truncated_jpeg(tmp_path / "broken.jpg")
    grey = make_image(tmp_path / "grey.png", size=(120, 90), color=(128, 128, 128))
    data = photo_table([broken, grey])
    result = filter_by_label(data, "animal", min_confidence=0.6, review_min=0.01)
    assert result.scanned == result.total == len(data) and not result.stopped_early
    parts = [t for t in (result.matched, result.review, result.rejected) if t is not None]
    names = sorted(n for t in parts for n in t.get_column("name"))
    assert names == sorted(data.get_column("name"))            # a partition
    assert [e.path for e in result.errors] == [str(broken)]
    assert "broken.jpg" in result.rejected.get_column("name")
    row = list(result.labelled.get_column("name")).index("broken.jpg")
    assert result.labelled.get_column("labels")[row].startswith("unreadable: ")
    assert result.counts["unreadable"] == 1
    assert sum(result.counts.values()) == len(data)
    # outputs share one domain, so they can be concatenated downstream
    assert result.matched.domain == result.rejected.domain == result.labelled.domain


def test_cap_and_early_stop_leave_rest_unscanned(photos):
    capped = filter_by_label(photos, "cat", max_scanned=2)
    assert capped.scanned == 2 and capped.stopped_early and "cap" in capped.stop_reason
    assert capped.counts["not scanned"] == 2 and capped.not_scanned == 2
    scanned = [n for t in (capped.matched, capped.rejected) if t is not None
               for n in t.get_column("name")]
    assert sorted(scanned) == ["chelsea.png", "coffee.png"]
    assert len(capped.labelled) == len(photos)
    assert capped.labelled.get_column("labels")[3] == ""
    # chelsea matches, then coffee and astronaut miss: stop after 2 misses
    stopped = filter_by_label(photos, "cat", stop_after_misses=2)
    assert stopped.scanned == 3 and stopped.stopped_early
    assert "2 misses in a row" in stopped.stop_reason
    assert list(stopped.matched.get_column("name")) == ["chelsea.png"]
    assert len(stopped.rejected) == 2


def test_unknown_label_message(photos):
    with pytest.raises(UnknownLabelError) as info:
        filter_by_label(photos, ["cat", "robbin"])
    assert isinstance(info.value, ValueError)
    assert "'robbin'" in str(info.value) and "robin" in info.value.suggestions


def test_model_remembered_from_labelled_table(photos):
    labelled = detect_labels(photos, top_k=1)
    assert labelled.domain["label 1"].attributes["imagelab-label-model"] == "efficientnet-lite0"
    result = filter_by_label(labelled, "cat")
    assert list(result.matched.get_column("name")) == ["chelsea.png"]
