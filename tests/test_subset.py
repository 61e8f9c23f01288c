"""Dataset subsets from Open Images-format metadata (core.io.openimages,
api.subset): the bundled sample, hierarchy, caps, labels, splits, bad rows,
tables from File widgets, and streaming in bounded memory."""
import csv
import os
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from Orange.data import Table

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.subset import UnknownClassError, class_list, select_subset
from orangecontrib.imagelab.core.errors import AnnotationError
from orangecontrib.imagelab.core.io import openimages as oi
from orangecontrib.imagelab.core.paths import url_to_path

SAMPLE = Path(oi.__file__).resolve().parents[2] / "sample" / "openimages"
BOX_HEADER = ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin",
              "YMax", "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"]
IMAGE_HEADER = ["ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License",
                "AuthorProfileURL", "Author", "Title", "OriginalSize", "OriginalMD5",
                "Thumbnail300KURL", "Rotation"]


def rows_of(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def sample_boxes():
    """All boxes of the sample: [(ImageID, MID, XMin, XMax, YMin, YMax, split)]."""
    found = []
    for split in ("train", "validation"):
        for row in rows_of(SAMPLE / f"{split}-annotations-bbox.csv")[1:]:
            found.append((row[0], row[2], *map(float, row[4:8]), split))
    return found


def test_three_classes_from_the_bundled_sample():
    subset = select_subset(SAMPLE, ["dress", "FOOTWEAR", "Handbag"])
    mids = {"/m/sample-dress": "Dress", "/m/sample-footwear": "Footwear",
            "/m/sample-handbag": "Handbag"}
    expected = [b for b in sample_boxes() if b[1] in mids]
    boxes, images = subset.boxes, subset.images
    assert subset.classes == ["Dress", "Footwear", "Handbag"] and not subset.missing_classes
    assert len(boxes) == len(expected)
    assert set(images.get_column("image id")) == {b[0] for b in expected}
    # boxes: the convention of tables.py, fractions marked normalized, X/Y reordered
    assert tables.is_boxes_table(boxes)
    coords, normalized = tables.box_coordinates(boxes)
    assert normalized
    by_id = {}
    for image_id, mid, x0, x1, y0, y1, split in expected:
        by_id.setdefault(image_id, []).append((mids[mid], (x0, y0, x1, y1), split))
    for row, coord in zip(boxes, coords):
        image_id = str(row["image id"])
        assert (row["label"].value, tuple(coord)) in [(n, pytest.approx(c))
                                                      for n, c, _ in by_id[image_id]]
        assert str(row["split"]) == by_id[image_id][0][2]
    # images: absolute file URLs inside the metadata folder; splits kept
    for url in images.get_column("url"):
        path = url_to_path(url)
        assert os.path.isfile(path) and Path(path).parent == SAMPLE / "images"
    assert set(images.get_column("split")) == {"train", "validation"}
    assert tables.find_image_column(images.domain).name == "url"
    assert images.domain.class_var.values == ("Dress", "Footwear", "Handbag")
    assert "license" in images.domain and "landing url" not in images.domain
    counts = images.get_column("boxes")
    assert counts.sum() == len(boxes)


def test_unknown_names_suggest_and_options_are_checked():
    with pytest.raises(UnknownClassError, match="did you mean 'Dress'") as info:
        select_subset(SAMPLE, ["Dres"])
    assert isinstance(info.value, ValueError) and "Dress" in info.value.suggestions
    with pytest.raises(ValueError, match="classes"):
        select_subset(SAMPLE, [" "])
    for kwargs, option in [({"max_per_class": 0}, "max_per_class"),
                           ({"max_per_class": 2.5}, "max_per_class"),
                           ({"kinds": ("boxes", "masks")}, "kinds"), ({"kinds": ()}, "kinds"),
                           ({"url_field": "URL"}, "url_field")]:
        with pytest.raises(ValueError, match=option):
            select_subset(SAMPLE, ["Dress"], **kwargs)
    with pytest.raises(AnnotationError, match="metadata folder not found"):
        select_subset(SAMPLE / "nowhere", ["Dress"])


def test_a_parent_class_selects_its_subclasses():
    subset = select_subset(SAMPLE, ["Clothing", "Bus"])
    assert subset.missing_classes == ["Bus"]
    assert set(subset.boxes.get_column("box class")) == {"Dress", "Shirt", "Trousers",
                                                         "Footwear"}
    labels = {subset.boxes.domain.class_var.values[int(c)]
              for c in subset.boxes.Y}
    assert labels == {"Clothing"}
    # a subclass asked for by name keeps its own label
    both = select_subset(SAMPLE, ["Clothing", "Dress"])
    label_of = {box_class: both.boxes.domain.class_var.values[int(code)]
                for box_class, code in zip(both.boxes.get_column("box class"), both.boxes.Y)}
    assert label_of["Dress"] == "Dress" and label_of["Shirt"] == "Clothing"
    flat = select_subset(SAMPLE, ["Clothing", "Dress"], hierarchy=False)
    assert flat.missing_classes == ["Clothing"]


def test_cap_per_class_is_a_fixed_random_sample():
    first = select_subset(SAMPLE, ["Dress", "Footwear"], max_per_class=4)
    again = select_subset(SAMPLE, ["Dress", "Footwear"], max_per_class=4)
    other = select_subset(SAMPLE, ["Dress", "Footwear"], max_per_class=4, random_state=7)
    ids = list(first.images.get_column("image id"))
    assert ids == list(again.images.get_column("image id"))
    assert set(ids) != set(other.images.get_column("image id"))
    assert 4 <= len(ids) <= 8
    for name in ("Dress", "Footwear"):  # every box of the picked images comes along
        picked = {i for i, c in zip(first.images.get_column("image id"),
                                    first.images.get_column("classes")) if name in c}
        assert len(picked) >= 4
    everything = {b[0] for b in sample_boxes()
                  if b[1] in ("/m/sample-dress", "/m/sample-footwear") and b[0] in ids}
    assert set(first.boxes.get_column("image id")) == everything


def test_image_level_labels_only_positives(tmp_path):
    subset = select_subset(SAMPLE, ["Shirt"], kinds=("labels",))
    assert subset.boxes is None
    positives = {r[0] for r in rows_of(
        SAMPLE / "train-annotations-human-imagelabels-boxable.csv")[1:]
        if r[2] == "/m/sample-shirt" and r[3] == "1"}
    negatives = {r[0] for r in rows_of(
        SAMPLE / "train-annotations-human-imagelabels-boxable.csv")[1:]
        if r[2] == "/m/sample-shirt" and r[3] == "0"}
    assert set(subset.images.get_column("image id")) == positives
    assert not positives & negatives and negatives


def make_metadata(folder: Path, image_rows, box_rows, classes=(("/m/a", "Apple"),)):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "class-descriptions-boxable.csv", "w", newline="") as f:
        csv.writer(f).writerows(classes)
    with open(folder / "train-images-boxable-with-rotation.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(IMAGE_HEADER)
        writer.writerows(image_rows)
    with open(folder / "train-annotations-bbox.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(BOX_HEADER)
        writer.writerows(box_rows)
    return folder


def image_row(image_id, url, title="t"):
    return [image_id, "train", url, "", "CC BY 2.0", "", "someone", title, "10", "x", "", "0"]


def box_row(image_id, mid="/m/a", coords=("0.1", "0.5", "0.2", "0.6")):
    return [image_id, "xclick", mid, "1", *coords, "0", "-1", "0", "0", "0"]


def test_bad_rows_are_named_and_quoted_fields_parse(tmp_path):
    folder = make_metadata(
        tmp_path / "meta",
        [image_row("i1", "file:images/i1.jpg", 'a "quoted", multi\nline title'),
         image_row("i2", "file:../../etc/passwd"),
         image_row("i4", "https://example.org/i4.jpg")],
        [box_row("i1"), box_row("i2"), box_row("i3"), box_row("i4", coords=("x", "", "", "")),
         box_row("i4")])
    subset = select_subset(folder, ["apple"])
    assert list(subset.images.get_column("image id")) == ["i1", "i4"]
    assert list(subset.images.get_column("title")) == ['a "quoted", multi\nline title', "t"]
    reasons = {e.path: e.reason for e in subset.skipped}
    assert "may not leave its metadata folder" in reasons["i2"]
    assert reasons["i3"] == "not in the image list"
    assert len(subset.boxes) == 2        # i4's damaged box row is left out
    assert np.isnan(subset.boxes.get_column("IsTruncated")).all()  # -1: unknown
    assert subset.images.get_column("url")[0] == (folder / "images" / "i1.jpg").as_uri()
    assert subset.notes  # no hierarchy file: said so


def test_missing_files_are_explained(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(SAMPLE / "class-descriptions-boxable.csv", folder)
    with pytest.raises(AnnotationError, match="no image list"):
        select_subset(folder, ["Dress"])
    shutil.copy(SAMPLE / "train-images-boxable-with-rotation.csv", folder)
    with pytest.raises(AnnotationError, match="no boxes or image labels"):
        select_subset(folder, ["Dress"])


def test_tables_from_file_widgets_work_like_the_folder():
    names = ["class-descriptions-boxable.csv", "train-images-boxable-with-rotation.csv",
             "train-annotations-bbox.csv"]
    loaded = [Table.from_file(str(SAMPLE / name)) for name in names]
    from_tables = select_subset(loaded, ["Dress", "Handbag"])
    from_folder = select_subset(SAMPLE, ["Dress", "Handbag"], kinds=("boxes",))
    train = [i for i, s in zip(from_folder.images.get_column("image id"),
                               from_folder.images.get_column("split")) if s == "train"]
    assert sorted(from_tables.images.get_column("image id")) == sorted(train)
    coords, _ = tables.box_coordinates(from_tables.boxes)
    assert coords.min() >= 0 and coords.max() <= 1


def test_class_list_counts():
    entries = {e.name: e for e in class_list(SAMPLE)}
    dress = sum(1 for b in sample_boxes() if b[1] == "/m/sample-dress")
    assert entries["Dress"].count.boxes == dress
    assert entries["Clothing"].subclasses == ["Dress", "Footwear", "Shirt", "Trousers"]
    assert entries["Bus"].count.boxes == 0


def test_big_box_files_stream_in_bounded_memory(tmp_path):
    """40,000 box rows: memory holds the selection, not the file."""
    n = 40_000
    classes = [(f"/m/c{i}", f"Class {i}") for i in range(50)]
    folder = make_metadata(tmp_path / "big", [image_row(f"img{i}", f"http://x/{i}.jpg")
                                              for i in range(0, n, 5)],
                           [box_row(f"img{i // 5 * 5}", f"/m/c{i % 50}") for i in range(n)],
                           classes)
    size = os.path.getsize(folder / "train-annotations-bbox.csv")
    tracemalloc.start()
    subset = select_subset(folder, ["Class 0"], max_per_class=50)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(subset.images) <= 50 and len(subset.boxes) > 0
    assert peak < size / 3, (peak, size)
