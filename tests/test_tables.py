"""tables: the boxes table and snapshot conventions (no Qt)."""
import numpy as np
import pytest
from Orange.data import ContinuousVariable, StringVariable

from orangecontrib.imagelab import tables


def make_boxes(normalized=False):
    coords = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])
    if not normalized:
        coords = coords * 100
    return tables.boxes_table(
        tables.image_variable("image", "/photos"), ["a.jpg", "b.jpg"], ["cat", "dog"],
        coords, image_ids=["a", "b"], box_ids=["a-0", "b-0"],
        extra=[(ContinuousVariable("IsOccluded"), [0, 1]),
               (StringVariable("source"), ["human", None])],
        normalized=normalized)


def test_layout_of_a_boxes_table():
    boxes = make_boxes()
    domain = boxes.domain
    assert [v.name for v in domain.attributes] == list(tables.BOX_COORDINATES) + [
        "box width", "box height", "IsOccluded"]
    assert domain.class_var.name == "label" and domain.class_var.values == ("cat", "dog")
    assert [v.name for v in domain.metas] == ["image", "image id", "box id", "source"]
    assert tables.is_image_variable(domain["image"])
    assert tables.is_boxes_table(boxes)
    assert tables.image_locations(boxes) == ["/photos/a.jpg", "/photos/b.jpg"]
    assert list(boxes.get_column("source")) == ["human", ""]
    assert not tables.is_boxes_table(None)


def test_normalized_boxes_convert_to_pixels_without_changing_the_input():
    boxes = make_boxes(normalized=True)
    _, normalized = tables.box_coordinates(boxes)
    assert normalized
    pixels = tables.boxes_in_pixels(boxes, np.array([200, 100]), np.array([50, 10]))
    coords, normalized = tables.box_coordinates(pixels)
    assert not normalized
    np.testing.assert_allclose(coords, [[20, 10, 60, 20], [50, 6, 70, 8]])
    np.testing.assert_allclose(pixels.get_column("box width"), [40, 20])
    np.testing.assert_allclose(pixels.get_column("box height"), [10, 2])
    assert pixels.domain["box width"].attributes.get("normalized") is None
    np.testing.assert_allclose(boxes.get_column("box width"), [0.2, 0.2])
    np.testing.assert_allclose(tables.box_coordinates(boxes)[0][0], [0.1, 0.2, 0.3, 0.4])
    assert tables.boxes_in_pixels(pixels, np.ones(2), np.ones(2)) is pixels


def test_mismatched_columns_are_refused_by_name():
    with pytest.raises(ValueError, match="box_ids"):
        tables.boxes_table(tables.image_variable(), ["a"], ["cat"], np.zeros((1, 4)),
                           image_ids=["a"], box_ids=[])


def test_snapshot_mark_survives_row_selection():
    from Orange.data import Domain, Table
    var = tables.image_variable("image", "/snap")
    table = Table.from_list(Domain([], metas=[var]), [["a.jpg"], ["b.jpg"]])
    assert tables.snapshot_info(table) is None
    marked = tables.mark_snapshot(table, {"name": "birds", "version": "3f2a"})
    assert tables.snapshot_info(marked) == {"name": "birds", "version": "3f2a"}
    assert tables.snapshot_info(marked[1:]) == {"name": "birds", "version": "3f2a"}
    assert tables.snapshot_info(table) is None  # the input is not changed
    assert list(marked.get_column("image")) == ["a.jpg", "b.jpg"]


def test_parent_mark_replaces_the_snapshot_mark():
    image_var = tables.image_variable("image", "/photos")
    table = tables.table_from_columns([(image_var, ["a.jpg", "b.jpg"])])
    marked = tables.mark_snapshot(table, {"name": "birds", "version": "3f2a"})
    editable = tables.mark_parent(marked, tables.snapshot_info(marked))
    assert tables.snapshot_info(editable) is None
    assert tables.parent_info(editable[1:]) == {"name": "birds", "version": "3f2a"}
    assert tables.parent_info(tables.mark_snapshot(editable, {"version": "9"})) is None
    assert tables.parent_info(tables.mark_parent(editable, None)) is None


def test_rows_with_matrix_equals_append_columns_on_the_rows():
    import scipy.sparse as sp
    from Orange.data import DiscreteVariable
    image = tables.image_variable("image", "/photos")
    cls = DiscreteVariable("category", values=("a", "b"))
    data = tables.table_from_columns(
        [(image, ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]), (ContinuousVariable("x"), [1, 2, 3, 4]),
         (cls, [0, 1, 0, 1]), (StringVariable("note"), ["p", "q", "r", "s"])], class_var=cls)
    data.name = "photos"
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    variables = [ContinuousVariable(n) for n in ("x", "f2", "f3")]   # "x" clashes
    rows = np.array([0, 2, 3])
    got = tables.rows_with_matrix(data, rows, vectors, variables, chunk=2)
    want = tables.append_columns(data[rows], attributes=list(zip(variables, vectors[rows].T)))
    assert [v.name for v in got.domain.attributes] == \
        [v.name for v in want.domain.attributes]
    assert got.domain.attributes[1].name == "x (1)"
    assert got.domain.class_var is cls and got.name == "photos"
    np.testing.assert_array_equal(got.X, want.X)
    np.testing.assert_array_equal(got.Y, want.Y)
    assert list(got.metas[:, 0]) == ["1.jpg", "3.jpg", "4.jpg"]
    np.testing.assert_array_equal(got.ids, data.ids[rows])
    data = data.copy()
    with data.unlocked(data.X):
        data.X = sp.csr_matrix(data.X)
    sparse = tables.rows_with_matrix(data, rows, vectors, variables)
    np.testing.assert_array_equal(np.asarray(sparse.X.todense() if sp.issparse(sparse.X)
                                             else sparse.X), want.X)


def test_rows_of_attribute_matrix_moves_rows_up_in_place():
    image = tables.image_variable("image", "/photos")
    data = tables.table_from_columns(
        [(image, [f"{i}.jpg" for i in range(7)]),
         (ContinuousVariable("x"), np.arange(7.0))])
    X = tables.attribute_matrix(data, 2)
    assert X.shape == (7, 3) and list(X[:, 0]) == list(range(7))
    X[:, 1:] = np.arange(14).reshape(7, 2)      # what an embedding writes there
    rows = np.array([1, 2, 4, 6])
    variables = [ContinuousVariable("f1"), ContinuousVariable("f2")]
    want = tables.rows_with_matrix(data, rows, X[:, 1:].copy(), variables)
    got = tables.rows_of_attribute_matrix(data, X, rows, variables, chunk=3)
    np.testing.assert_array_equal(got.X, want.X)
    assert list(got.metas[:, 0]) == ["1.jpg", "2.jpg", "4.jpg", "6.jpg"]
    assert np.shares_memory(got.X, X)            # no copy of the big part
    with pytest.raises(ValueError, match="ascending"):
        tables.rows_of_attribute_matrix(data, X, np.array([2, 1]), variables)
