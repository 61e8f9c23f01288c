"""core.io.boxes and boxformats: detection, the five formats, matching, and every bad box."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orangecontrib.imagelab.core.errors import AnnotationError
from orangecontrib.imagelab.core.io import boxformats
from orangecontrib.imagelab.core.io.boxes import (
    ImageMatcher, check_boxes, detect_format, is_box_file, read_boxes, typed_column)

DATA = Path(__file__).parent / "data" / "boxes"

# The boxes written by hand in tests/data/boxes/ (every format holds these):
# file, label, x min, y min, x max, y max in pixels of the photos from skimage.
SIZES = {"chelsea.png": (451, 300), "astronaut.png": (512, 512), "coffee.png": (600, 400),
         "motorcycle_left.png": (741, 500)}
BOXES = [
    ("chelsea.png", "cat", 20, 0, 430, 300),
    ("chelsea.png", "eye", 135, 85, 210, 150),
    ("chelsea.png", "eye", 292, 105, 350, 165),
    ("astronaut.png", "person", 20, 10, 380, 512),
    ("astronaut.png", "face", 150, 25, 300, 165),
    ("astronaut.png", "helmet", 275, 340, 505, 512),
    ("astronaut.png", "flag", 0, 0, 95, 512),
    ("astronaut.png", "rocket", 355, 0, 470, 280),
    ("coffee.png", "cup", 170, 15, 415, 310),
    ("coffee.png", "saucer", 75, 60, 480, 390),
    ("coffee.png", "spoon", 325, 65, 425, 325),
    ("motorcycle_left.png", "motorcycle", 90, 95, 690, 455),
    ("motorcycle_left.png", "wheel", 505, 265, 690, 455),
    ("motorcycle_left.png", "wheel", 120, 230, 300, 400),
]

HAND_FILES = {
    "coco": DATA / "coco" / "annotations" / "instances.json",
    "voc": DATA / "voc" / "Annotations",
    "yolo": DATA / "yolo" / "data.yaml",
    "open images": DATA / "openimages" / "boxes.csv",
    "bigml": DATA / "bigml" / "regions.csv",
}


def as_pixels(found):
    """(file name, label, rounded pixel box) of every box, sorted."""
    out = []
    for ref, label, box in zip(found.image_refs, found.labels, found.coordinates):
        name = ref.rsplit("/", 1)[-1]
        name = next(f for f in SIZES if f == name or f.rsplit(".", 1)[0] == name)
        if found.normalized:
            w, h = SIZES[name]
            box = box * [w, h, w, h]
        out.append((name, label, tuple(np.round(box, 1))))
    return sorted(out)


EXPECTED = sorted((f, label, (float(a), float(b), float(c), float(d)))
                  for f, label, a, b, c, d in BOXES)


# ----------------------------------------------------------------- formats

@pytest.mark.parametrize("fmt", sorted(HAND_FILES))
def test_each_hand_written_file_is_detected_and_gives_the_same_boxes(fmt):
    path = HAND_FILES[fmt]
    assert detect_format(path) == fmt
    found = read_boxes(path)
    assert found.format == fmt and not found.skipped and not found.unknown_classes
    assert as_pixels(found) == EXPECTED
    assert found.normalized == (fmt in ("yolo", "open images"))


def test_detection_is_by_content_not_extension(tmp_path):
    coco = tmp_path / "boxes.txt"
    coco.write_text((HAND_FILES["coco"]).read_text())
    assert detect_format(coco) == "coco"
    voc = tmp_path / "chelsea.annotation"
    voc.write_text((DATA / "voc" / "Annotations" / "chelsea.xml").read_text())
    assert detect_format(voc) == "voc"
    oi = tmp_path / "boxes.data"
    oi.write_text(HAND_FILES["open images"].read_text())
    assert detect_format(oi) == "open images"
    labels = tmp_path / "yolo" / "a.txt"
    labels.parent.mkdir()
    labels.write_text("0 0.5 0.5 0.2 0.2\n")
    assert detect_format(labels.parent) == "yolo"
    assert detect_format(DATA / "yolo") == "yolo"
    assert detect_format(DATA / "voc" / "Annotations" / "chelsea.xml") == "voc"


def test_not_a_box_file_says_what_was_expected(tmp_path):
    plain = tmp_path / "labels.csv"
    plain.write_text("file,label\na.jpg,cat\n")
    with pytest.raises(AnnotationError, match="not a box file; expected an Open Images"):
        detect_format(plain)
    assert not is_box_file(plain)
    descriptions = DATA / "openimages" / "class-descriptions-boxable.csv"
    with pytest.raises(AnnotationError, match="class-descriptions file"):
        detect_format(descriptions)
    other_xml = tmp_path / "a.xml"
    other_xml.write_text("<svg></svg>")
    with pytest.raises(AnnotationError, match="not Pascal VOC"):
        detect_format(other_xml)
    empty = tmp_path / "empty.json"
    empty.write_text("")
    with pytest.raises(AnnotationError, match="empty"):
        detect_format(empty)
    with pytest.raises(AnnotationError, match="no box files"):
        detect_format(tmp_path)


def test_open_images_names_mids_and_keeps_the_mid():
    found = read_boxes(HAND_FILES["open images"])
    assert found.labels[0] == "cat"
    assert found.extra["LabelName"][0] == "/m/01yrx"
    assert found.extra_numeric["IsTruncated"] and found.extra["IsTruncated"][0] == 1.0
    assert found.extra["Source"][0] == "xclick" and not found.extra_numeric["Source"]
    assert found.image_ids[0] == "chelsea" and found.box_ids[:3] == ["1", "2", "3"]


def test_open_images_unknown_mid_keeps_the_mid_and_is_counted(tmp_path):
    csv_path = tmp_path / "boxes.csv"
    text = HAND_FILES["open images"].read_text().replace("/m/01yrx", "/m/0unknown")
    csv_path.write_text(text)
    (tmp_path / "class-descriptions-boxable.csv").write_text(
        (DATA / "openimages" / "class-descriptions-boxable.csv").read_text())
    found = read_boxes(csv_path)
    assert found.unknown_classes == {"/m/0unknown": 1}
    assert "/m/0unknown" in found.labels and "cat" not in found.labels


def test_open_images_without_descriptions_keeps_mids_with_a_note(tmp_path):
    csv_path = tmp_path / "boxes.csv"
    csv_path.write_text(HAND_FILES["open images"].read_text())
    found = read_boxes(csv_path)
    assert found.labels[0] == "/m/01yrx" and "LabelName" not in found.extra
    assert any("class-descriptions" in note for note in found.notes)
    named = read_boxes(csv_path, class_names=DATA / "openimages" /
                       "class-descriptions-boxable.csv")
    assert named.labels[0] == "cat"


def test_coco_fields_and_sizes():
    found = read_boxes(HAND_FILES["coco"])
    assert found.classes[:3] == ["cat", "eye", "person"]
    assert found.box_ids[0] == "100" and found.image_ids[0] == "10"
    assert found.sizes["chelsea.png"] == (451, 300)
    assert found.extra["iscrowd"][0] == 0 and found.extra["area"][0] == 410 * 300
    assert found.images_root == str(DATA / "coco")  # the folder above annotations/


def test_voc_is_one_based_and_keeps_its_fields():
    found = read_boxes(DATA / "voc" / "Annotations" / "chelsea.xml")
    assert found.coordinates[0].tolist() == [20, 0, 430, 300]   # <xmin>21</xmin>
    assert found.extra["pose"][0] == "Unspecified"
    assert found.extra["difficult"][0] == 0.0
    assert found.sizes == {"chelsea.png": (451, 300)}


def test_yolo_names_from_classes_txt_and_obj_names(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text("1 0.5 0.5 0.5 0.25\n0 0.25 0.25 0.1 0.1 0.93\n")
    (tmp_path / "classes.txt").write_text("dog\ncat\n")
    found = read_boxes(labels)
    assert found.labels == ["cat", "dog"]
    assert np.allclose(found.coordinates[0], [0.25, 0.375, 0.75, 0.625])
    assert found.extra["confidence"][1] == pytest.approx(0.93)
    assert found.image_refs == ["a", "a"] or found.image_refs[0].endswith("a")
    (tmp_path / "classes.txt").unlink()
    (tmp_path / "obj.names").write_text("bird\nfish\n")
    assert read_boxes(labels).labels == ["fish", "bird"]


def test_yolo_polygon_line_becomes_its_bounding_box(tmp_path):
    (tmp_path / "classes.txt").write_text("leaf\n")
    (tmp_path / "a.txt").write_text("0 0.1 0.2 0.5 0.1 0.4 0.6\n")
    found = read_boxes(tmp_path)
    assert np.allclose(found.coordinates[0], [0.1, 0.1, 0.5, 0.6])


def test_yolo_without_names_uses_class_numbers_with_a_note(tmp_path):
    (tmp_path / "a.txt").write_text("3 0.5 0.5 0.2 0.2\n")
    found = read_boxes(tmp_path / "a.txt")
    assert found.labels == ["3"] and any("no class names" in n for n in found.notes)


def test_yolo_data_yaml_names_as_a_list(tmp_path):
    (tmp_path / "data.yaml").write_text("path: .\nnames: [cat, 'dog']\n")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "x.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    found = read_boxes(tmp_path / "data.yaml")
    assert found.labels == ["dog"] and found.image_refs == ["images/x"]


def test_bigml_regions_lists_maps_and_annotated_set(tmp_path):
    regions = boxformats.parse_regions('[["cat" 10 20 30 40], ["dog", 1, 2, 3, 4]]')
    assert regions == [("cat", 10, 20, 30, 40), ("dog", 1, 2, 3, 4)]
    maps = boxformats.parse_regions([
        {"label": "a", "xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4},
        {"label": "b", "xmin": 1, "ymin": 2, "width": 10, "height": 20},
        {"label": "c", "xmax": 11, "ymax": 22, "width": 10, "height": 20},
        {"label": "d", "x": 6, "y": 12, "width": 10, "height": 20}])
    assert [r[1:] for r in maps] == [(1, 2, 3, 4), (1, 2, 11, 22), (1, 2, 11, 22),
                                     (1, 2, 11, 22)]
    aset = tmp_path / "set.json"
    (tmp_path / "images").mkdir()
    aset.write_text(json.dumps({
        "description": "boxes", "images_file": "images",
        "new_fields": [{"name": "boxes", "optype": "regions"}],
        "annotations": [{"file": "a.jpg", "boxes": [["cat", 1, 2, 30, 40]]},
                        {"file": "b.jpg", "boxes": []}]}))
    assert detect_format(aset) == "bigml"
    found = read_boxes(aset)
    assert found.labels == ["cat"] and found.images_root == str(tmp_path / "images")


# ---------------------------------------------------------------- matching

def test_matcher_finds_paths_names_and_ids():
    matcher = ImageMatcher(["train/000002b6.jpg", "val/a.png", "val/b.png", "train/a.png",
                            "JPEGImages/2007_000027.jpg"])
    assert matcher.find("train/000002b6.jpg") == 0
    assert matcher.find("000002b6") == 0                 # an Open Images ImageID
    assert matcher.find("000002b6.jpg") == 0             # a bare file name
    assert matcher.find("images/val/a") == 1             # a YOLO label path
    assert matcher.find("/home/me/data/val/a.png") == 1  # a longer path
    assert matcher.find("a.png") is None                 # two images are named a.png
    assert matcher.find("2007_000027.jpg") == 4 and matcher.find("2007_000027") == 4
    assert matcher.find("TRAIN/000002B6.JPG") == 0       # case
    assert matcher.find("b.jpg") is None and matcher.find("") is None


# ------------------------------------------------------------- bad boxes

def test_boxes_outside_the_image_are_clipped_and_counted():
    check = check_boxes([[-10, 5, 50, 40], [10, 10, 120, 50], [1, 1, 20, 20]],
                        [100, 100, 100], [60, 60, 60])
    assert check.keep.all()
    assert check.coordinates.tolist() == [[0, 5, 50, 40], [10, 10, 100, 50], [1, 1, 20, 20]]
    assert check.counts == {"clipped": 2} and set(check.fixed) == {0, 1}


def test_box_entirely_outside_is_skipped_with_a_reason():
    check = check_boxes([[150, 10, 180, 40]], [100], [60])
    assert not check.keep[0] and "outside the image (100×60)" in check.reasons[0]


def test_zero_area_boxes_are_skipped_with_a_reason():
    check = check_boxes([[10, 10, 10, 30], [5, 8, 20, 8]], [100, 100], [60, 60])
    assert not check.keep.any()
    assert all(why.startswith("zero area") for why in check.reasons.values())


def test_negative_size_in_coco_and_yolo_is_skipped_with_a_reason(tmp_path):
    coco = json.loads(HAND_FILES["coco"].read_text())
    coco["annotations"][0]["bbox"] = [20, 0, -410, 300]
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    found = read_boxes(path)
    assert len(found) == 13
    assert [(s.path, s.reason) for s in found.skipped] == [
        ("coco.json annotation 100", "negative width or height in bbox [20, 0, -410, 300]")]
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "a.txt").write_text("0 0.5 0.5 -0.2 0.2\n0 0.5 0.5 0.2 0.2\n")
    found = read_boxes(tmp_path / "y")
    assert len(found) == 1 and found.skipped[0].path == "a.txt line 1"
    assert "negative width" in found.skipped[0].reason


def test_swapped_min_and_max_are_fixed():
    check = check_boxes([[50, 40, 10, 5]], [100], [60])
    assert check.keep[0] and check.coordinates[0].tolist() == [10, 5, 50, 40]
    assert check.counts == {"swapped": 1}
    assert check.fixed[0] == "swapped: x min > x max; swapped: y min > y max"


def test_x_and_y_exchanged_are_fixed_when_only_that_fits():
    # 400 wide, 800 high: x 500..600 cannot be, y 500..600 can
    check = check_boxes([[500, 10, 600, 50]], [400], [800])
    assert check.keep[0] and check.coordinates[0].tolist() == [10, 500, 50, 600]
    assert check.counts == {"exchanged": 1}
    # fits neither way: clipped, not exchanged
    check = check_boxes([[350, 10, 450, 50]], [400], [300])
    assert check.counts == {"clipped": 1}
    assert check.coordinates[0].tolist() == [350, 10, 400, 50]
    # ambiguous: outside either way, so skipped
    check = check_boxes([[900, 900, 950, 950]], [400], [800])
    assert not check.keep[0] and "outside the image" in check.reasons[0]


def test_normalised_coordinates_above_one():
    check = check_boxes([[0.1, 0.1, 1.7, 0.5], [0.1, 0.1, 1.004, 0.5], [0.1, 0.2, 0.3, 0.4]],
                        [200, 200, 200], [100, 100, 100], normalized=True)
    assert check.keep.tolist() == [False, True, True]
    assert "normalised coordinates outside 0–1" in check.reasons[0]
    assert "are they pixels?" in check.reasons[0]
    assert check.coordinates[1].tolist() == [20, 10, 200, 50]        # clipped to 1
    assert check.coordinates[2].tolist() == pytest.approx([20, 20, 60, 40])


def test_missing_coordinates_are_skipped():
    check = check_boxes([[np.nan, 1, 2, 3]], [10], [10])
    assert check.reasons == {0: "coordinates missing or not numbers"}


def test_unknown_classes_in_coco_and_yolo_keep_an_id(tmp_path):
    coco = json.loads(HAND_FILES["coco"].read_text())
    coco["annotations"][0]["category_id"] = 99
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    found = read_boxes(path)
    assert found.labels[0] == "category 99" and found.unknown_classes == {"99": 1}
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "classes.txt").write_text("cat\n")
    (tmp_path / "y" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n")
    found = read_boxes(tmp_path / "y")
    assert found.labels == ["cat", "class 7"] and found.unknown_classes == {"7": 1}


def test_malformed_rows_are_skipped_by_name(tmp_path):
    lines = HAND_FILES["open images"].read_text().splitlines()
    lines[2] = lines[2].replace("0.299335", "abc")
    lines[3] = "chelsea,xclick,/m/01yrx"
    path = tmp_path / "boxes.csv"
    path.write_text("\n".join(lines) + "\n")
    found = read_boxes(path)
    assert len(found) == 12
    assert [(s.path, s.reason) for s in found.skipped] == [
        ("boxes.csv row 3", "XMin is not a number ('abc')"),
        ("boxes.csv row 4", "3 fields, expected 13")]
    per_box = tmp_path / "per_box.csv"
    per_box.write_text("file,label,xmin,ymin,xmax,ymax\na.jpg,cat,1,2,3,4\n,cat,1,2,3,4\n"
                       "b.jpg,dog,1,two,3,4\n")
    found = read_boxes(per_box)
    assert found.format == "csv" and len(found) == 1
    assert [s.reason for s in found.skipped] == ["no file named in column 'file'",
                                                 "ymin is not a number ('two')"]
    coco = json.loads(HAND_FILES["coco"].read_text())
    coco["annotations"][1]["bbox"] = "wide"
    coco["annotations"][2]["image_id"] = 12345
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    found = read_boxes(path)
    assert len(found) == 12
    assert [s.reason for s in found.skipped] == [
        "bbox is not four numbers [x, y, width, height]: 'wide'",
        "image_id 12345 is not in 'images'"]
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n0 0.5 zero 0.2 0.2\n")
    found = read_boxes(tmp_path / "y")
    assert len(found) == 1 and found.skipped[0].path == "a.txt line 2"


def test_broken_regions_value_is_skipped(tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text('file,regions\na.jpg,"[[""cat"" 1 2 3 4]]"\nb.jpg,"[[""dog"" 1 2]]"\n')
    found = read_boxes(path)
    assert len(found) == 1
    assert found.skipped[0].path == "b.jpg (regions)"
    assert "is not [label xmin ymin xmax ymax]" in found.skipped[0].reason


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>bomb.jpg</filename><object><name>&lol9;</name>
<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>
"""


def test_xml_bomb_is_refused_and_the_other_files_are_read(tmp_path):
    folder = tmp_path / "Annotations"
    folder.mkdir()
    (folder / "bomb.xml").write_text(BILLION_LAUGHS)
    (folder / "chelsea.xml").write_text((DATA / "voc" / "Annotations" / "chelsea.xml")
                                        .read_text())
    (folder / "broken.xml").write_text("<annotation><object>")
    found = read_boxes(folder)
    assert len(found) == 3 and set(found.labels) == {"cat", "eye"}
    reasons = {s.path: s.reason for s in found.skipped}
    assert reasons["bomb.xml"].startswith("refused: the XML declares entities")
    assert reasons["broken.xml"].startswith("not well-formed XML")
    external = folder / "external.xml"
    external.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM '
                        '"file:///etc/passwd">]><annotation><filename>&x;</filename>'
                        '</annotation>')
    assert "refused" in {s.path: s.reason for s in read_boxes(folder).skipped}[
        "external.xml"]


def test_unreadable_box_files_raise_a_clear_error(tmp_path):
    bad_json = tmp_path / "coco.json"
    bad_json.write_text('{"images": [], "annotations": [')
    with pytest.raises(AnnotationError, match="invalid JSON at line 1"):
        read_boxes(bad_json, format="coco")
    latin = tmp_path / "boxes.csv"
    latin.write_bytes(HAND_FILES["open images"].read_bytes() + "é,x\n".encode("latin-1"))
    with pytest.raises(AnnotationError, match="not UTF-8"):
        read_boxes(latin)
    with pytest.raises(ValueError, match="format must be one of"):
        read_boxes(latin, format="pascal")


def test_keep_leaves_out_boxes_of_other_images_and_counts_them():
    found = read_boxes(HAND_FILES["coco"], keep=lambda ref: ref == "coffee.png")
    assert set(found.image_refs) == {"coffee.png"} and len(found) == 3
    assert found.left_out == {"chelsea.png": 3, "astronaut.png": 5, "motorcycle_left.png": 3}
    assert found.n_left_out == 11


_STREAM_CHECK = """
import resource, sys
from orangecontrib.imagelab.core.io.boxes import read_boxes
wanted = {f"{k:016x}" for k in range(10)}
read_boxes(sys.argv[2], keep=wanted.__contains__)   # warm up: imports, caches
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
found = read_boxes(sys.argv[1], keep=wanted.__contains__)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(found), found.n_left_out, len(found.left_out), (after - before) // 1024)
"""


def test_a_million_row_csv_is_streamed_not_loaded(tmp_path):
    path = tmp_path / "big.csv"
    block = "".join(f"{k:016x},xclick,/m/01yrx,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"
                    for k in range(5000))
    with open(path, "w") as f:
        f.write(",".join(boxformats.OPEN_IMAGES_HEADER) + "\n")
        for _ in range(200):
            f.write(block)
    assert path.stat().st_size > 60_000_000
    small = tmp_path / "small.csv"
    small.write_text(",".join(boxformats.OPEN_IMAGES_HEADER) + "\n" + block[:500])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", _STREAM_CHECK, str(path), str(small)],
                         env=env,
                         check=True, capture_output=True, text=True).stdout.split()
    kept, left_out, named, grown_mb = map(int, out)
    assert kept == 2000 and left_out == 998_000 and named == 1000
    assert grown_mb < 20, f"reading grew the process by {grown_mb} MB"


def test_extra_columns_are_numbers_when_all_values_are():
    numbers, numeric = typed_column(["1", "", "2.5", None])
    assert numeric and numbers[0] == 1 and math.isnan(numbers[1]) and numbers[2] == 2.5
    texts, numeric = typed_column(["1", "", "x"])
    assert not numeric and texts == ["1", "", "x"]


def test_a_parsed_json_is_not_kept_after_reading():
    from orangecontrib.imagelab.core.io import boxformats as formats
    assert detect_format(HAND_FILES["coco"]) == "coco"
    assert formats._JSON_CACHE            # detection keeps it for the reader ...
    read_boxes(HAND_FILES["coco"])
    assert not formats._JSON_CACHE        # ... which takes it
