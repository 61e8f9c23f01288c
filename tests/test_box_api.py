"""Boxes through the API: import in every format, the boxes table, writers and round trips."""
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from orangecontrib.imagelab import import_images, read_boxes, write_boxes
from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.importing import source_kind
from tests.images import make_image, make_truncated_jpeg, skimage_sample
from tests.test_boxes import BOXES, DATA, SIZES

PHOTOS = list(SIZES)


def photo_set(root: Path, fmt: str) -> Path:
    """A copy of the hand-written box file of ``fmt`` with the photos where it expects them."""
    folder = {"coco": "coco", "voc": "voc", "yolo": "yolo", "open images": "openimages",
              "bigml": "bigml"}[fmt]
    target = root / folder
    shutil.copytree(DATA / folder, target)
    images = target / "images" if fmt == "yolo" else target
    images.mkdir(exist_ok=True)
    for name in PHOTOS:
        shutil.copy(skimage_sample(name), images / name)
    return target


SOURCES = {  # the file (or folder) a user picks, relative to photo_set's folder
    "coco": "annotations/instances.json", "voc": "Annotations/chelsea.xml",
    "yolo": "data.yaml", "open images": "boxes.csv", "bigml": "regions.csv"}


def rows(boxes):
    """(image file name, label, pixel box) of each row, sorted."""
    names = [v.rsplit("/", 1)[-1] for v in boxes.get_column("image")]
    labels = [boxes.domain.class_var.str_val(v) for v in boxes.Y]
    coords, normalized = tables.box_coordinates(boxes)
    assert not normalized
    return sorted((n, label, tuple(np.round(c, 1))) for n, label, c in
                  zip(names, labels, coords))


EXPECTED = sorted((f, label, (float(a), float(b), float(c), float(d)))
                  for f, label, a, b, c, d in BOXES)


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_import_from_each_format_gives_the_same_boxes_table(tmp_path, fmt):
    folder = photo_set(tmp_path, fmt)
    source = folder / SOURCES[fmt]
    result = import_images(source)
    assert result.n_images == 4 and not result.skipped
    boxes = result.boxes
    info = result.box_info
    assert not info.skipped and not info.fixed and not info.unknown_classes
    expected = [b for b in EXPECTED if fmt != "voc" or b[0] == "chelsea.png"]
    assert rows(boxes) == expected
    # the same image column as the images table: same name, type and origin
    assert boxes.domain["image"].attributes == result.data.domain["image"].attributes
    assert set(boxes.get_column("image")) <= set(result.data.get_column("image"))
    counts = dict(zip(result.data.get_column("image"), result.data.get_column("boxes")))
    assert sum(counts.values()) == len(expected)
    assert counts[next(p for p in counts if p.endswith("chelsea.png"))] == 3


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_a_folder_finds_its_box_file(tmp_path, fmt):
    folder = photo_set(tmp_path, fmt)
    result = import_images(folder)
    assert rows(result.boxes) == EXPECTED
    assert result.data.domain["boxes"].is_continuous


def test_boxes_table_convention_and_orange_filters(tmp_path):
    folder = photo_set(tmp_path, "open images")
    boxes = import_images(folder / "boxes.csv").boxes
    domain = boxes.domain
    assert [v.name for v in domain.attributes][:6] == [
        "x min", "y min", "x max", "y max", "box width", "box height"]
    assert "IsTruncated" in domain and domain["IsTruncated"] in domain.attributes
    assert domain.class_var.name == "label" and domain.class_var.is_discrete
    assert [v.name for v in domain.metas][:3] == ["image", "image id", "box id"]
    assert "LabelName" in domain and domain["LabelName"].is_string
    assert tables.is_boxes_table(boxes)
    # Select Rows' filters: "keep boxes of class X", "drop boxes smaller than 32 px"
    from Orange.data.filter import FilterContinuous, FilterDiscrete, Values
    wheels = Values([FilterDiscrete(domain.class_var, [domain.class_var.to_val("wheel")])])(boxes)
    assert len(wheels) == 2
    big = Values([FilterContinuous(domain["box width"], FilterContinuous.GreaterEqual,
                                   ref=32)])(boxes)
    assert len(big) == len(boxes) - 0 and min(big.get_column("box width")) >= 32
    small = Values([FilterContinuous(domain["box height"], FilterContinuous.Less, ref=100)])(
        boxes)
    assert sorted(np.round(small.get_column("box height"))) == [60, 65]


def test_extra_annotations_file_beside_a_folder_or_zip(tmp_path):
    images = tmp_path / "photos"
    images.mkdir()
    for name in PHOTOS:
        shutil.copy(skimage_sample(name), images / name)
    coco = DATA / "coco" / "annotations" / "instances.json"
    result = import_images(images, annotations=coco)
    assert rows(result.boxes) == EXPECTED
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in PHOTOS:
            zf.write(images / name, f"set/{name}")
    result = import_images(archive, annotations=DATA / "yolo" / "data.yaml")
    assert rows(result.boxes) == EXPECTED
    assert "archives" in result.boxes.domain["image"].attributes["origin"]
    # a plain annotation file still works as annotations
    labels = tmp_path / "labels.csv"
    labels.write_text("file,mood\nchelsea.png,calm\ncoffee.png,warm\n")
    result = import_images(images, annotations=labels)
    assert result.boxes is None and "mood" in result.data.domain
    with pytest.raises(ValueError, match="annotations: an extra annotation file goes with"):
        import_images(coco, annotations=labels)


def test_source_kind_knows_box_files(tmp_path):
    assert source_kind(DATA / "coco" / "annotations" / "instances.json") == "boxes"
    assert source_kind(DATA / "openimages" / "boxes.csv") == "boxes"
    assert source_kind(DATA / "yolo" / "data.yaml") == "boxes"
    assert source_kind(DATA / "voc" / "Annotations" / "chelsea.xml") == "boxes"
    assert source_kind(DATA / "bigml" / "regions.csv") == "annotations"


def test_bigml_regions_with_image_level_labels(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(skimage_sample(name), folder / name)
    (folder / "rows.csv").write_text(
        'file,scene,regions\nchelsea.png,indoor,"[[""cat"" 20 0 430 300]]"\n'
        'coffee.png,table,"[[""cup"" 170 15 415 310]]"\n')
    result = import_images(folder)
    assert "scene" in result.data.domain and "regions" not in result.data.domain
    assert len(result.boxes) == 2
    aset = tmp_path / "set.json"
    aset.write_text(json.dumps({
        "description": "photos with boxes", "images_file": "set",
        "new_fields": [{"name": "objects", "optype": "regions"},
                       {"name": "quality", "optype": "numeric"}],
        "annotations": [{"file": "chelsea.png", "quality": 3,
                         "objects": [{"label": "cat", "xmin": 20, "ymin": 0,
                                      "width": 410, "height": 300}]},
                        {"file": "astronaut.png", "quality": 5, "objects": []}]}))
    result = import_images(aset)
    assert result.description == "photos with boxes"
    assert "objects" not in result.data.domain and "quality" in result.data.domain
    assert rows(result.boxes) == [("chelsea.png", "cat", (20.0, 0.0, 430.0, 300.0))]


# ---------------------------------------------------------------- bad input

def test_boxes_of_missing_and_unreadable_images_are_named(tmp_path):
    folder = photo_set(tmp_path, "coco")
    (folder / "coffee.png").unlink()
    make_truncated_jpeg(folder / "broken.jpg", size=(300, 200))
    coco = json.loads((folder / "annotations" / "instances.json").read_text())
    coco["images"].append({"id": 99, "file_name": "broken.jpg", "width": 300, "height": 200})
    coco["annotations"].append({"id": 999, "image_id": 99, "category_id": 1,
                                "bbox": [1, 1, 50, 50]})
    (folder / "annotations" / "instances.json").write_text(json.dumps(coco))
    result = import_images(folder)
    assert len(result.boxes) == 11
    reasons = {s.path: s.reason for s in result.box_info.skipped}
    assert reasons["coffee.png"] == "3 boxes; no such image among the imported ones"
    assert reasons["broken.jpg"] == "1 box; image unreadable: truncated JPEG"
    assert ("broken.jpg", "truncated JPEG") in [(s.path, s.reason) for s in result.skipped]


def test_boxes_outside_clipped_swapped_and_zero_are_reported_by_box(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    make_image(folder / "a.jpg", size=(100, 60))
    (folder / "boxes.csv").write_text(
        "file,label,x min,y min,x max,y max\n"
        "a.jpg,cat,-10,5,50,40\n"     # partly outside: clipped
        "a.jpg,cat,50,40,10,5\n"      # min > max: swapped
        "a.jpg,cat,10,10,10,30\n"     # zero area: skipped
        "a.jpg,cat,150,10,180,40\n")  # outside: skipped
    result = import_images(folder)
    info = result.box_info
    assert len(result.boxes) == 2 and result.data.get_column("boxes")[0] == 2
    assert [(s.path, s.reason.split(" (")[0]) for s in info.skipped] == [
        ("a.jpg box 3", "zero area"), ("a.jpg box 4", "outside the image")]
    assert [(s.path, s.reason.split(":")[0]) for s in info.fixed] == [
        ("a.jpg box 1", "clipped"), ("a.jpg box 2", "swapped")]
    assert info.fixed_counts == {"clipped": 1, "swapped": 1}


def test_normalised_boxes_above_one_are_skipped_at_import(tmp_path):
    folder = photo_set(tmp_path, "open images")
    path = folder / "boxes.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("0.953437", "1.7")
    path.write_text("\n".join(lines) + "\n")
    info = import_images(path).box_info
    assert len(info.data) == 13
    assert info.skipped[0].path == "chelsea.png box 1"
    assert "normalised coordinates outside 0–1" in info.skipped[0].reason


def test_file_sizes_that_differ_from_the_image_scale_the_boxes(tmp_path):
    folder = photo_set(tmp_path, "coco")
    from PIL import Image
    with Image.open(folder / "chelsea.png") as image:
        image.resize((225, 150)).save(folder / "chelsea.png")
    result = import_images(folder / "annotations" / "instances.json")
    cat = [r for r in rows(result.boxes) if r[1] == "cat"][0]
    assert cat[2] == pytest.approx((20 * 225 / 451, 0, 430 * 225 / 451, 150), abs=0.05)
    assert any(s.reason.startswith("scaled: the file says 451×300, the image is 225×150")
               for s in result.box_info.fixed)


def test_unknown_classes_are_kept_and_noted(tmp_path):
    folder = photo_set(tmp_path, "open images")
    path = folder / "boxes.csv"
    path.write_text(path.read_text().replace("/m/01yrx", "/m/0zzz"))
    info = import_images(path).box_info
    assert info.unknown_classes == {"/m/0zzz": 1}
    assert "/m/0zzz" in info.data.domain.class_var.values
    assert any("kept as labels: /m/0zzz (1)" in note for note in info.notes)


# ---------------------------------------------------------- writers, trips

@pytest.mark.parametrize("fmt", ["coco", "yolo", "open images"])
def test_round_trip_through_each_writer(tmp_path, fmt):
    folder = photo_set(tmp_path, "coco")
    first = import_images(folder / "annotations" / "instances.json")
    target = folder / {"coco": "again.json", "yolo": "yolo-out",
                       "open images": "again.csv"}[fmt]
    assert write_boxes(first.boxes, target, format=fmt) == []
    again = read_boxes(target, first.data)
    assert not again.skipped and not again.fixed
    assert rows(again.data) == rows(first.boxes)
    if fmt == "coco":  # the annotation ids survive
        assert sorted(again.data.get_column("box id")) == sorted(
            first.boxes.get_column("box id"))
    with pytest.raises(FileExistsError) if fmt != "yolo" else _no_error():
        skipped = write_boxes(first.boxes, target, format=fmt)  # never overwrites
        assert skipped == []  # yolo: the same content is already there


class _no_error:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_yolo_writer_never_overwrites_other_content(tmp_path):
    folder = photo_set(tmp_path, "coco")
    boxes = import_images(folder / "annotations" / "instances.json").boxes
    target = tmp_path / "out"
    (target / "labels").mkdir(parents=True)
    (target / "labels" / "chelsea.txt").write_text("mine\n")
    skipped = write_boxes(boxes, target, format="yolo")
    assert [(s.path, s.reason) for s in skipped] == [
        ("labels/chelsea.txt", "exists with other content; not overwritten")]
    assert (target / "labels" / "chelsea.txt").read_text() == "mine\n"
    assert (target / "classes.txt").read_text().split() == list(
        boxes.domain.class_var.values)


def test_open_images_round_trip_keeps_mids(tmp_path):
    folder = photo_set(tmp_path, "open images")
    first = import_images(folder / "boxes.csv")
    target = tmp_path / "out" / "boxes.csv"
    target.parent.mkdir()
    write_boxes(first.boxes, target, format="open images")
    text = target.read_text()
    assert text.startswith("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax")
    assert "chelsea,xclick,/m/01yrx,1," in text
    shutil.copy(folder / "class-descriptions-boxable.csv", target.parent)
    again = read_boxes(target, first.data)
    assert rows(again.data) == rows(first.boxes)


def test_write_boxes_refuses_nonsense(tmp_path):
    folder = photo_set(tmp_path, "coco")
    result = import_images(folder / "annotations" / "instances.json")
    with pytest.raises(ValueError, match="format must be one of"):
        write_boxes(result.boxes, tmp_path / "x", format="voc")
    with pytest.raises(ValueError, match="expected a boxes table"):
        write_boxes(result.data, tmp_path / "x.json", format="coco")


def test_read_boxes_without_images_finds_them_next_to_the_file(tmp_path):
    folder = photo_set(tmp_path, "voc")
    result = read_boxes(folder / "Annotations")
    assert rows(result.data) == EXPECTED and result.format == "voc"


def test_boxes_count_stored_pixels_of_an_exif_rotated_photo(tmp_path):
    from PIL import Image
    folder = tmp_path / "rotated"
    (folder / "labels").mkdir(parents=True)
    stored = Image.new("RGB", (60, 40), (90, 120, 200))
    exif = stored.getexif()
    exif[0x0112] = 6                                  # shown as 40 wide, 60 high
    stored.save(folder / "r.jpg", exif=exif)
    (folder / "classes.txt").write_text("thing\n")
    (folder / "labels" / "r.txt").write_text("0 0.5 0.25 0.5 0.5\n")
    result = import_images(folder)
    assert (result.data.get_column("width")[0], result.data.get_column("height")[0]) == (40, 60)
    assert rows(result.boxes) == [("r.jpg", "thing", (15.0, 0.0, 45.0, 20.0))]
    assert not result.box_info.fixed and not result.box_info.skipped
    # read_boxes for an images table uses the stored size too
    again = read_boxes(folder / "labels", result.data)
    assert rows(again.data) == rows(result.boxes)
