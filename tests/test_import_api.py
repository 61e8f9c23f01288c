"""api.importing.import_images: sources to Orange tables."""
import json
import math
import zipfile

import numpy as np
import pytest

from orangecontrib.imagelab import import_images
from orangecontrib.imagelab.api.importing import source_kind
from orangecontrib.imagelab.core.errors import AnnotationError, Cancelled
from orangecontrib.imagelab.tables import image_locations
from tests.images import (make_class_folders, make_image, make_text_file,
                          make_truncated_jpeg)


def column(table, name):
    return list(table.get_column(name))


def test_table_convention(tmp_path):
    make_class_folders(tmp_path, ("cats", "dogs"), per_class=3, size=(40, 30))
    result = import_images(tmp_path)
    data = result.data
    assert len(data) == 6 and result.skipped == []
    domain = data.domain
    assert [v.name for v in domain.metas] == ["image", "image name", "size",
                                              "width", "height"]
    image = domain["image"]
    assert image.is_string
    assert image.attributes == {"type": "image", "origin": str(tmp_path)}
    assert column(data, "image")[0] == "cats/cats_0.jpg"
    assert column(data, "image name")[0] == "cats_0"
    assert column(data, "width") == [40] * 6 and column(data, "height") == [30] * 6
    assert column(data, "size")[0] == (tmp_path / "cats" / "cats_0.jpg").stat().st_size
    assert domain.class_var.name == "category"
    assert domain.class_var.values == ("cats", "dogs")
    assert list(data.Y) == [0, 0, 0, 1, 1, 1]
    assert image_locations(data)[0] == str(tmp_path / "cats" / "cats_0.jpg")
    assert result.categories == ["cats", "dogs"]


def test_root_images_get_missing_category(tmp_path):
    make_class_folders(tmp_path, ("cats", "dogs"), per_class=1)
    make_image(tmp_path / "loose.jpg")
    data = import_images(tmp_path).data
    names = column(data, "image")
    assert math.isnan(data.Y[names.index("loose.jpg")])
    assert data.domain.class_var.values == ("cats", "dogs")


def test_one_folder_has_no_category(tmp_path):
    make_class_folders(tmp_path, ("only",), per_class=3)
    assert import_images(tmp_path).data.domain.class_var is None
    flat = tmp_path / "only"
    assert import_images(flat).data.domain.class_var is None


def test_skipped_entries(tmp_path):
    make_class_folders(tmp_path, per_class=1)
    make_truncated_jpeg(tmp_path / "cats" / "cut.jpg", size=(200, 200))
    make_text_file(tmp_path / "dogs" / "fake.png")
    result = import_images(tmp_path)
    assert len(result.data) == 2
    assert {(s.path, s.reason) for s in result.skipped} == {
        ("cats/cut.jpg", "truncated JPEG"), ("dogs/fake.png", "not an image file")}
    table = result.skipped_table()
    assert [v.name for v in table.domain.metas] == ["path", "reason"]


def test_zip_origin_is_extraction_folder(tmp_path):
    src = make_class_folders(tmp_path / "src", per_class=2)
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as zf:
        for p in src.rglob("*.jpg"):
            zf.write(p, p.relative_to(src).as_posix())
    result = import_images(tmp_path / "set.zip")
    origin = result.data.domain["image"].attributes["origin"]
    assert origin == result.origin and "archives" in origin
    assert all(loc and __import__("os").path.exists(loc)
               for loc in image_locations(result.data))
    assert result.data.domain.class_var.values == ("cats", "dogs")


def test_cancel(tmp_path):
    make_class_folders(tmp_path, per_class=3)

    def stop(fraction):
        if fraction > 0.3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        import_images(tmp_path, callback=stop)


def test_empty_folder_gives_empty_table(tmp_path):
    result = import_images(tmp_path)
    assert len(result.data) == 0 and result.data.domain["image"] is not None


def test_source_kinds(tmp_path):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,x\n")
    (tmp_path / "set.json").write_text(json.dumps({"images_file": ".", "annotations": []}))
    (tmp_path / "list.json").write_text(json.dumps([{"file": "a.jpg"}]))
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("a.txt", "x")
    assert source_kind(tmp_path) == "folder"
    assert source_kind(tmp_path / "labels.csv") == "annotations"
    assert source_kind(tmp_path / "list.json") == "annotations"
    assert source_kind(tmp_path / "set.json") == "annotated set"
    assert source_kind(tmp_path / "z.zip") == "zip"
    with pytest.raises(ValueError, match="expected a folder"):
        import_images(tmp_path / "a.jpg")
    with pytest.raises(FileNotFoundError):
        import_images(tmp_path / "nope")


def test_annotation_csv_given_directly(tmp_path):
    make_class_folders(tmp_path, ("cats", "dogs"), per_class=2)
    (tmp_path / "meta.csv").write_text(
        "name,weight,colour,label\n"
        "cats_0.jpg,3.5,black,tabby\n"
        "dogs/dogs_1.jpg,20,brown,terrier\n"
        "gone.jpg,1,white,ghost\n")
    result = import_images(tmp_path / "meta.csv")
    data = result.data
    assert len(data) == 4
    assert data.domain.class_var.name == "label"
    assert "category" in [v.name for v in data.domain.metas]
    names = column(data, "image")
    weights = dict(zip(names, column(data, "weight")))
    assert weights["cats/cats_0.jpg"] == 3.5 and weights["dogs/dogs_1.jpg"] == 20
    assert math.isnan(weights["cats/cats_1.jpg"])  # no row: kept, missing
    assert data.domain["weight"].is_continuous
    assert [(s.path, "no such image" in s.reason) for s in result.skipped] == \
        [("gone.jpg", True)]
    assert result.annotations == str(tmp_path / "meta.csv")


def test_annotation_file_in_folder_is_found(tmp_path):
    make_class_folders(tmp_path, ("cats", "dogs"), per_class=2)
    (tmp_path / "labels.json").write_text(json.dumps(
        [{"path": "cats/cats_0.jpg", "score": 1}, {"path": "dogs/dogs_0.jpg", "score": 2}]))
    result = import_images(tmp_path)
    assert result.data.domain["score"].is_continuous
    assert np.nansum(column(result.data, "score")) == 3
    assert result.data.domain.class_var.name == "category"


def test_annotated_set_with_zip(tmp_path):
    src = make_class_folders(tmp_path / "src", per_class=2)
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as zf:
        for p in src.rglob("*.jpg"):
            zf.write(p, p.relative_to(src).as_posix())
    (tmp_path / "rows.json").write_text(json.dumps([
        {"file": "cats/cats_0.jpg", "quality": "3", "note": "blurry", "grade": 1},
        {"file": "dogs/dogs_1.jpg", "quality": "5", "note": "sharp", "grade": 2},
        {"file": "dogs/missing.jpg", "quality": "1"}]))
    (tmp_path / "set.json").write_text(json.dumps({
        "description": "pets", "images_file": "images.zip",
        "new_fields": [{"name": "quality", "optype": "categorical"},
                       {"name": "note", "optype": "text"},
                       {"name": "grade", "optype": "numeric"}],
        "annotations": "rows.json"}))
    result = import_images(tmp_path / "set.json")
    domain = result.data.domain
    assert domain["quality"].is_discrete and domain["quality"].values == ("3", "5")
    assert domain["note"].is_string and domain["note"] in domain.metas
    assert domain["grade"].is_continuous
    assert result.description == "pets"
    assert [s.path for s in result.skipped] == ["dogs/missing.jpg"]
    assert len(result.data) == 4


def test_unknown_optype_is_a_clear_error(tmp_path):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "set.json").write_text(json.dumps({
        "images_file": ".", "new_fields": [{"name": "x", "optype": "colour"}],
        "annotations": []}))
    with pytest.raises(AnnotationError, match="unknown optype 'colour'.*categorical"):
        import_images(tmp_path / "set.json")


def test_annotations_inside_zip(tmp_path):
    src = make_class_folders(tmp_path / "src", per_class=2)
    (src / "labels.csv").write_text("file,label\ncats_0.jpg,tabby\ndogs_1.jpg,pug\n")
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as zf:
        for p in src.rglob("*"):
            zf.write(p, p.relative_to(src).as_posix())
    result = import_images(tmp_path / "set.zip")
    assert result.data.domain.class_var.name == "label"
    assert result.annotations.endswith("labels.csv")
    labels = dict(zip(column(result.data, "image"),
                      result.data.get_column("label")))
    assert labels["cats/cats_0.jpg"] == 1  # "pug" < "tabby"
    assert math.isnan(labels["cats/cats_1.jpg"])


@pytest.mark.parametrize("images_file", ["../outside", "/", "link"])
def test_annotated_set_pointing_outside_its_folder_is_refused(tmp_path, images_file):
    outside = make_class_folders(tmp_path / "outside", per_class=1)
    inner = tmp_path / "set"
    inner.mkdir()
    (inner / "link").symlink_to(outside)
    (inner / "set.json").write_text(json.dumps({"images_file": images_file,
                                                "annotations": []}))
    with pytest.raises(AnnotationError, match="outside the annotation file's folder"):
        import_images(inner / "set.json")
    if images_file != "/":  # the explicit permission (not walking all of / in a test)
        assert len(import_images(inner / "set.json", allow_outside=True).data) == 2


def test_annotated_set_rows_file_outside_is_refused(tmp_path):
    make_class_folders(tmp_path / "set" / "images", per_class=1)
    (tmp_path / "rows.json").write_text("[]")
    (tmp_path / "set" / "set.json").write_text(json.dumps(
        {"images_file": "images", "annotations": "../rows.json"}))
    with pytest.raises(AnnotationError, match="'annotations' points outside"):
        import_images(tmp_path / "set" / "set.json")
