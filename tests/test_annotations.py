"""core.io.annotations: reading and matching annotation files (no Qt)."""
import json
import math

import pytest

from orangecontrib.imagelab.core.io.annotations import (
    find_file_column, infer_optype, match_rows, read_annotated_set, read_rows)
from orangecontrib.imagelab.core.errors import AnnotationError
from orangecontrib.imagelab.core.io.sources import ImageRecord


def records(*paths):
    return [ImageRecord(p, 100, 10, 10, "JPEG", p.rpartition("/")[0] or None)
            for p in paths]


def test_csv_dialects(tmp_path):
    (tmp_path / "a.csv").write_text("file;score\nx.jpg;1\ny.jpg;2\n")
    (tmp_path / "b.csv").write_text("\ufefffile\tscore\nx.jpg\t1\n")
    assert read_rows(tmp_path / "a.csv") == [{"file": "x.jpg", "score": "1"},
                                             {"file": "y.jpg", "score": "2"}]
    assert read_rows(tmp_path / "b.csv") == [{"file": "x.jpg", "score": "1"}]


def test_file_column_by_path_or_unique_name():
    recs = records("a/x.jpg", "b/x.jpg", "a/y.jpg")
    rows = [{"id": "1", "img": "a/x.jpg"}, {"id": "2", "img": "y.jpg"}]
    assert find_file_column(rows, recs) == "img"
    found = match_rows(rows, recs)
    assert found.file_column == "img" and found.n_matched == 2
    # "x.jpg" is ambiguous (two folders): reported, not guessed
    found = match_rows([{"img": "x.jpg"}, {"img": "a/y.jpg"}], recs)
    assert [s.path for s in found.skipped] == ["x.jpg"]


def test_windows_separators_and_dot_prefix():
    found = match_rows([{"f": "a\\x.jpg"}, {"f": "./a/y.jpg"}],
                       records("a/x.jpg", "a/y.jpg"))
    assert found.n_matched == 2 and found.skipped == []


def test_types_are_inferred():
    assert infer_optype(["1", "2.5", "", "NA"]) == "numeric"
    assert infer_optype([1, 2, None]) == "numeric"
    assert infer_optype(["cat", "dog", "cat", "dog", "cat"]) == "categorical"
    assert infer_optype([f"a long free text number {i}" for i in range(50)]) == "text"
    assert infer_optype(["1", "2"], is_class=True) == "categorical"


def test_rows_matched_and_missing_kept():
    recs = records("c/1.jpg", "c/2.jpg", "d/3.jpg")
    rows = [{"file": "c/1.jpg", "label": "a", "w": "2"},
            {"file": "d/3.jpg", "label": "b", "w": "x"},
            {"file": "c/1.jpg", "label": "z"},
            {"file": "nope.jpg", "label": "a"},
            {"file": "", "label": "a"}]
    found = match_rows(rows, recs, source="/x/ann.csv")
    assert found.class_field == "label"
    label = next(f for f in found.fields if f.name == "label")
    assert label.optype == "categorical" and label.values == ["a", None, "b"]
    w = next(f for f in found.fields if f.name == "w")
    assert w.optype != "numeric"  # "x" is not a number
    why = {s.path: s.reason for s in found.skipped}
    assert "second annotation" in why["c/1.jpg"]
    assert "no such image" in why["nope.jpg"] and "ann.csv" in why["nope.jpg"]
    assert "no file named" in why["ann.csv row 5"]


def test_rows_for_already_skipped_images_are_not_reported_twice():
    found = match_rows([{"file": "a.jpg"}, {"file": "broken.jpg"}],
                       records("a.jpg"), skipped_images=["broken.jpg"])
    assert found.skipped == []


def test_no_file_column_is_an_error():
    with pytest.raises(AnnotationError, match="no column names the images"):
        match_rows([{"a": "1", "b": "2"}], records("x.jpg"))


def test_declared_numeric_with_text_value_is_an_error():
    with pytest.raises(AnnotationError, match="declared numeric.*'high'"):
        match_rows([{"file": "x.jpg", "q": "high"}], records("x.jpg"),
                   declared={"q": "numeric"})


def test_bad_json_is_a_clear_error(tmp_path):
    (tmp_path / "a.json").write_text("[{\"file\": ")
    with pytest.raises(AnnotationError, match="invalid JSON at line 1"):
        read_rows(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"file": "x"}))
    with pytest.raises(AnnotationError, match="expected a JSON list"):
        read_rows(tmp_path / "b.json")


def test_annotated_set(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "set.json").write_text(json.dumps({
        "description": "d", "images_file": "imgs",
        "new_fields": [{"name": "n", "optype": "numeric"}],
        "annotations": [{"file": "a.jpg", "n": 2}]}))
    aset = read_annotated_set(tmp_path / "set.json")
    assert aset.images == str(tmp_path / "imgs")
    assert aset.declared == {"n": "numeric"} and aset.rows == [{"file": "a.jpg", "n": 2}]
    found = match_rows(aset.rows, records("a.jpg", "b.jpg"), file_column="file",
                       declared=aset.declared)
    n = found.fields[0]
    assert n.values[0] == 2 and math.isnan(n.values[1])


def test_annotated_set_errors(tmp_path):
    def write(obj):
        (tmp_path / "s.json").write_text(json.dumps(obj))
        return tmp_path / "s.json"

    with pytest.raises(AnnotationError, match="not found"):
        read_annotated_set(write({"images_file": "missing.zip", "annotations": []}))
    with pytest.raises(AnnotationError, match="unknown optype 'number'"):
        read_annotated_set(write({"images_file": ".", "annotations": [],
                                  "new_fields": [{"name": "a", "optype": "number"}]}))
    with pytest.raises(AnnotationError, match="'name' and 'optype'"):
        read_annotated_set(write({"images_file": ".", "new_fields": ["a"]}))
