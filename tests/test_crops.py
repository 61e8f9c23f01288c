"""crop_boxes and core.pixels.crops on real photos: sizes, pixels, labels, cache, folders."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from orangecontrib.imagelab import crop_boxes, detect_labels, extract_features, import_images
from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.pixels import crops as core
from tests.images import make_image, make_text_file, skimage_sample
from tests.test_box_api import photo_set


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    folder = photo_set(tmp_path_factory.mktemp("crops"), "coco")
    return import_images(folder / "annotations" / "instances.json")


def only(boxes, label):
    codes = boxes.domain.class_var.values.index(label)
    return boxes[boxes.Y == codes]


def row_of(crops, label):
    labels = [crops.domain.class_var.str_val(v) for v in crops.Y]
    return labels.index(label)


def test_crop_of_the_cat_has_its_size_and_pixels(coco):
    result = crop_boxes(only(coco.boxes, "cat"))
    assert not result.skipped and len(result.data) == 1
    data = result.data
    location = tables.image_locations(data)[0]
    assert location.startswith(core.cache_folder()) and location.endswith(".png")
    with Image.open(location) as crop:
        pixels = np.asarray(crop.convert("RGB"))
    with Image.open(skimage_sample("chelsea.png")) as photo:
        original = np.asarray(photo.convert("RGB"))
    assert pixels.shape == (300, 410, 3)
    assert np.array_equal(pixels, original[0:300, 20:430])
    assert data.get_column("width")[0] == 410 and data.get_column("height")[0] == 300
    assert data.get_column("source image")[0].endswith("chelsea.png")
    assert data.get_column("box id")[0] == "100" and data.get_column("image id")[0] == "10"
    assert data.get_column("x max")[0] == 430
    assert data.domain.class_var.name == "label"
    assert tables.is_image_variable(data.domain["image"])


def test_a_crop_of_the_cats_box_is_labelled_a_cat(coco):
    cat = crop_boxes(only(coco.boxes, "cat"), padding=0.05).data
    labelled = detect_labels(cat, top_k=1)
    label = labelled.domain["label 1"].str_val(labelled.get_column("label 1")[0])
    assert label in {"tabby cat", "tiger cat", "Egyptian Mau", "Persian cat", "Siamese cat"}


def test_crops_are_an_images_table_for_the_next_widgets(coco):
    result = crop_boxes(coco.boxes, min_size=0)
    assert len(result.data) == 14 and not result.skipped
    features = extract_features(result.data, ["dimensions"]).data
    assert len(features) == 14
    assert "area" in result.data.domain and "iscrowd" in result.data.domain
    # every crop is labelled with its box's class
    assert sorted(result.data.domain.class_var.str_val(v) for v in result.data.Y) == sorted(
        coco.boxes.domain.class_var.str_val(v) for v in coco.boxes.Y)


def test_many_boxes_of_one_image_decode_it_once(coco, monkeypatch):
    calls = []
    original = core.decoding.decode_fully

    def counting(image, location):
        calls.append(location)
        return original(image, location)

    monkeypatch.setattr(core.decoding, "decode_fully", counting)
    result = crop_boxes(coco.boxes, padding=0.013)   # options never used before: no cache
    assert len(result.data) == 14
    assert sorted(os.path.basename(c) for c in calls) == sorted(
        ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png"])


def test_second_run_reuses_the_cache_and_a_damaged_crop_is_cut_again(coco):
    first = crop_boxes(coco.boxes, padding=0.02)
    assert first.cached < 14   # (a crop of the same pixels made by an earlier test is reused)
    again = crop_boxes(coco.boxes, padding=0.02)
    assert again.cached == 14
    assert list(again.data.get_column("image")) == list(first.data.get_column("image"))
    damaged = tables.image_locations(first.data)[0]
    with open(damaged, "r+b") as f:
        f.truncate(100)
    third = crop_boxes(coco.boxes, padding=0.02)
    assert third.cached == 13
    with Image.open(damaged) as image:
        image.load()


def test_padding_square_and_geometry():
    assert core.crop_rect((20, 0, 430, 300), 451, 300) == (20, 0, 430, 300)
    assert core.crop_rect((100, 100, 200, 150), 451, 300, padding=0.1) == (90, 95, 210, 155)
    # square: grown around the centre...
    assert core.crop_rect((100, 100, 200, 150), 451, 300, square=True) == (100, 75, 200, 175)
    # ... and shifted inside the image where it fits
    assert core.crop_rect((0, 0, 100, 20), 451, 300, square=True) == (0, 0, 100, 100)
    # larger than the image: clipped
    assert core.crop_rect((0, 0, 400, 20), 451, 300, square=True) == (0, 0, 400, 300)
    assert core.crop_rect((500, 10, 600, 40), 451, 300) is None
    assert core.output_size((0, 0, 400, 100), 6, None) == (100, 400)
    assert core.output_size((0, 0, 400, 100), 1, 200) == (200, 50)
    assert core.draft_reduction([(0, 0, 800, 600), (0, 0, 420, 300)], 100) == 4
    assert core.draft_reduction([(0, 0, 800, 600), (0, 0, 90, 30)], 100) == 1
    assert core.draft_reduction([(0, 0, 800, 600)], None) == 1


def test_square_and_padded_crops_through_the_api(coco):
    result = crop_boxes(only(coco.boxes, "eye"), square=True, padding=0.1)
    sizes = sorted(zip(result.data.get_column("width"), result.data.get_column("height")))
    assert sizes == [(72, 72), (90, 90)]   # 58×60 and 75×65, padded 10%, squared


def test_jpeg_with_max_side_decodes_in_draft_mode(tmp_path, monkeypatch):
    folder = tmp_path / "big"
    make_image(folder / "a.jpg", size=(1024, 768), noise=30, quality=90)
    (folder / "boxes.csv").write_text("file,label,x min,y min,x max,y max\n"
                                      "a.jpg,big,0,0,1000,700\na.jpg,half,0,0,512,384\n")
    boxes = import_images(folder).boxes
    sizes = []
    original = core.decoding.decode_fully

    def recording(image, location):
        original(image, location)
        sizes.append(image.size)

    monkeypatch.setattr(core.decoding, "decode_fully", recording)
    result = crop_boxes(boxes, max_side=100, format="jpeg")
    assert sizes == [(256, 192)]                        # decoded at 1/4
    got = dict(zip([result.data.domain.class_var.str_val(v) for v in result.data.Y],
                   zip(result.data.get_column("width"), result.data.get_column("height"))))
    assert got == {"big": (100, 70), "half": (100, 75)}
    for location in tables.image_locations(result.data):
        with Image.open(location) as image:
            assert image.format == "JPEG" and max(image.size) == 100


def test_exif_rotated_photo_gives_an_upright_crop(tmp_path):
    stored = np.zeros((40, 60, 3), dtype=np.uint8)
    stored[5:15, 10:40] = (255, 0, 0)       # a red bar in the stored pixels
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6                        # shown turned 90° clockwise
    folder = tmp_path / "rot"
    folder.mkdir()
    image.save(folder / "r.jpg", exif=exif, quality=95)
    (folder / "boxes.csv").write_text("file,label,x min,y min,x max,y max\n"
                                      "r.jpg,bar,10,5,40,15\n")
    result = crop_boxes(import_images(folder).boxes)
    assert (result.data.get_column("width")[0], result.data.get_column("height")[0]) == (10, 30)
    with Image.open(tables.image_locations(result.data)[0]) as crop:
        assert crop.size == (10, 30)
        red = np.asarray(crop.convert("RGB"))[..., 0]
        assert red.mean() > 200


def test_crops_into_a_folder_by_class_never_overwrite(coco, tmp_path):
    target = tmp_path / "crops"
    (target / "wheel").mkdir(parents=True)
    make_text_file(target / "wheel" / "motorcycle_left-112.png", "mine")
    result = crop_boxes(coco.boxes, folder=target, classes=["wheel", "cat"], format="png")
    assert result.left_out == {"class": 11}
    values = sorted(result.data.get_column("image"))
    assert values == ["cat/chelsea-100.png", "wheel/motorcycle_left-112 (2).png",
                      "wheel/motorcycle_left-113.png"]
    assert (target / "wheel" / "motorcycle_left-112.png").read_text() == "mine"
    assert result.data.domain["image"].attributes["origin"] == str(target)
    again = crop_boxes(coco.boxes, folder=target, classes=["wheel", "cat"])
    assert sorted(again.data.get_column("image")) == values
    assert again.cached == 3
    assert sorted(p.name for p in target.rglob("*.png")) == sorted(
        ["chelsea-100.png", "motorcycle_left-112.png", "motorcycle_left-112 (2).png",
         "motorcycle_left-113.png"])


def test_max_per_image_keeps_the_largest(coco):
    result = crop_boxes(coco.boxes, max_per_image=1)
    assert result.left_out == {"max per image": 10}
    labels = sorted(result.data.domain.class_var.str_val(v) for v in result.data.Y)
    assert labels == ["cat", "motorcycle", "person", "saucer"]


def test_small_boxes_and_missing_images_are_skipped_by_name(coco, tmp_path):
    folder = photo_set(tmp_path, "coco")
    boxes = import_images(folder / "annotations" / "instances.json").boxes
    os.remove(folder / "coffee.png")
    shutil.copy(skimage_sample("chelsea.png"), folder / "astronaut.png")  # smaller now
    with open(folder / "motorcycle_left.png", "r+b") as f:
        f.truncate(1000)
    result = crop_boxes(boxes, min_size=70)
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons["chelsea.png box 102"] == "smaller than 70 px (58×60)"
    assert reasons["coffee.png box 108"] == "image unreadable: file not found"
    assert reasons["motorcycle_left.png box 111"].startswith("image unreadable")
    assert reasons["astronaut.png box 105"] == "outside the image (451×300)"
    assert len(result.data) + len(result.skipped) == 14


def test_normalised_boxes_are_cropped_with_the_image_sizes(coco):
    boxes = coco.boxes
    sizes = np.array([[451, 300] if v.endswith("chelsea.png") else [np.nan, np.nan]
                      for v in boxes.get_column("image")])
    cat = only(boxes, "cat")
    coords, _ = tables.box_coordinates(cat)
    normalized = tables.boxes_table(
        cat.domain["image"], list(cat.get_column("image")), ["cat"],
        coords / [451, 300, 451, 300], image_ids=["10"], box_ids=["100"], normalized=True)
    assert sizes is not None
    result = crop_boxes(normalized)
    assert (result.data.get_column("width")[0], result.data.get_column("height")[0]) == \
        (410, 300)


def test_options_that_make_no_sense_are_refused_by_name(coco, tmp_path):
    boxes = coco.boxes
    for kwargs, name in [({"padding": -0.1}, "padding"), ({"format": "gif"}, "format"),
                         ({"min_size": -1}, "min_size"), ({"max_per_image": 0}, "max_per_image"),
                         ({"max_side": 0}, "max_side"), ({"classes": ["dgo"]}, "classes"),
                         ({"padding": float("nan")}, "padding")]:
        with pytest.raises(ValueError, match=name):
            crop_boxes(boxes, **kwargs)
    a_file = make_text_file(tmp_path / "file.txt")
    with pytest.raises(ValueError, match="folder"):
        crop_boxes(boxes, folder=a_file)
    with pytest.raises(ValueError, match="expected a boxes table"):
        crop_boxes(coco.data)


def test_cancel_stops_the_run(coco):
    def cancel(_fraction):
        raise Cancelled()

    with pytest.raises(Cancelled):
        crop_boxes(coco.boxes, padding=0.07, callback=cancel)
