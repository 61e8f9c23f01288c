"""Label Images: keys, undo/redo, classes, filters, outputs and settings through a saved .ows."""
import io

import numpy as np
from AnyQt.QtCore import Qt
from AnyQt.QtTest import QTest
from Orange.widgets.tests import base

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.importing import import_images
from orangecontrib.imagelab.widgets.owlabelimages import OWLabelImages
from orangecontrib.imagelab.widgets.utils.labelbook import LabelBook
from tests.images import make_class_folders


def test_label_book_undo_redo_rename_merge():
    book = LabelBook(["k1", "k2", "k3"], ["a", None, "b"], ["a", "b"])
    assert book.labels() == ["a", None, "b"] and book.classes == ["a", "b"]
    assert book.assign([1], "a") and book.labels() == ["a", "a", "b"]
    assert not book.assign([1], "a")  # no change, no undo step
    book.add_class("c")
    book.assign([0, 2], "c")
    book.rename_class("c", "cat")
    assert book.labels() == ["cat", "a", "cat"] and book.classes == ["a", "b", "cat"]
    book.merge_class("a", "b")  # renaming onto an existing class merges
    assert book.labels() == ["cat", "b", "cat"] and book.classes == ["b", "cat"]
    for expected in (["cat", "a", "cat"], ["c", "a", "c"], ["a", "a", "b"],
                     ["a", "a", "b"], ["a", None, "b"]):
        book.undo()
        assert book.labels() == expected
    assert not book.undo()
    book.redo()
    book.redo()
    assert book.labels() == ["a", "a", "b"] and book.classes == ["a", "b", "c"]
    book.assign([0], None)  # a new step drops the redo steps
    assert book.labels() == [None, "a", "b"] and book.by_hand(0) and not book.can_redo()


def test_label_book_assign_each_is_one_step():
    book = LabelBook(["k1", "k2", "k1"], ["a", "b", "a"], ["a", "b"])
    assert book.assign_each([0, 1, 2], ["b", "a", "a"])  # row 2 is row 0's image
    assert book.labels() == ["b", "a", "b"] and book.by_hand(1)
    assert not book.assign_each([0, 1], ["b", "a"])
    try:
        book.assign_each([0], ["c"])
    except ValueError as err:
        assert "'c'" in str(err)
    else:
        raise AssertionError("an unknown class was accepted")
    book.undo()
    assert book.labels() == ["a", "b", "a"] and not book.can_undo()


class TestOWLabelImages(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tempfile
        from pathlib import Path
        cls.tmp = Path(tempfile.mkdtemp())
        make_class_folders(cls.tmp / "photos", classes=("cats", "dogs"), per_class=4)
        cls.data = import_images(cls.tmp / "photos").data

    def setUp(self):
        self.widget = self.create_widget(OWLabelImages)

    def send(self, data, widget=None):
        widget = widget or self.widget
        self.send_signal(widget.Inputs.images, data, widget=widget)
        self.wait_until_finished(widget)

    def key(self, key, modifiers=Qt.NoModifier):
        QTest.keyClick(self.widget.view, key, modifiers)

    def labels(self, widget=None):
        widget = widget or self.widget
        names = list(widget.data.get_column("image name"))
        return {name: widget.book.label(names.index(name)) for name in names}

    def test_keys_label_move_extend_clear_undo_redo(self):
        self.send(self.data)
        w = self.widget
        assert w.progress_label.text() == "8 of 8 labelled"
        w.view.setFocus()
        w.view.set_current(0)
        first = w.data[int(w.rows[0])]["image name"].value
        self.key(Qt.Key_2)  # the second class: dogs; the cursor moves on
        assert self.labels()[first] == "dogs" and w.view.current() == 1
        self.key(Qt.Key_Right, Qt.ShiftModifier)
        self.key(Qt.Key_Right, Qt.ShiftModifier)
        assert list(w.view.selected()) == [1, 2, 3]
        self.key(Qt.Key_0)
        assert [w.book.label(int(r)) for r in w.rows[1:4]] == [None] * 3
        assert w.progress_label.text() == "5 of 8 labelled"
        unlabelled = self.get_output(w.Outputs.unlabelled)
        assert len(unlabelled) == 3
        labelled = self.get_output(w.Outputs.labelled)
        assert len(labelled) == 5
        by = labelled.domain["labelled by"]
        assert sorted(by.str_val(v) for v in labelled.get_column(by)) == \
            ["hand"] + ["input"] * 4
        self.key(Qt.Key_Z, Qt.ControlModifier)
        assert w.progress_label.text() == "8 of 8 labelled"
        self.key(Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
        assert w.progress_label.text() == "5 of 8 labelled"
        self.key(Qt.Key_Delete)  # clears the selection again: nothing changes
        self.key(Qt.Key_9)
        assert w.Warning.no_class.is_shown()
        self.key(Qt.Key_Down)
        assert w.view.current() in (3, 3 + w.view._shape[1])

    def test_classes_add_rename_merge_and_filters(self):
        self.send(self.data)
        w = self.widget
        w.add_class("birds")
        w.view.set_current(0)
        w.label_key(3)
        assert self.get_output(w.Outputs.labelled).domain.class_var.values == \
            ("cats", "dogs", "birds")
        w.rename_class("cats", "kittens")
        w.merge_class("birds", "dogs")
        out = self.get_output(w.Outputs.labelled)
        assert out.domain.class_var.values == ("kittens", "dogs")
        counts = np.bincount(out.Y.astype(int))
        assert counts.tolist() == [3, 5]
        assert "1  kittens  (3)" == w.class_list.item(0).text()
        w.set_filter("class")
        w.filter_class = "kittens"
        w._filter_changed()
        assert len(w.rows) == 3
        w.set_filter("unlabelled")
        assert len(w.rows) == 0
        w.set_filter("disagree")
        w.compare_column = self.data.domain.class_var  # the original folders
        w._filter_changed()
        assert len(w.rows) == 4  # the cats: renamed (3) or moved to dogs (1)
        w.set_filter("all")
        assert len(w.rows) == 8

    def test_edits_survive_a_saved_workflow_and_a_new_order(self):
        from orangecanvas.scheme import Scheme, SchemeNode
        from orangecanvas.scheme.readwrite import scheme_load, scheme_to_ows_stream
        from orangecontrib.imagelab.tutorials.headless import widget_registry

        self.send(self.data)
        w = self.widget
        w.view.set_current(0)
        w.label_key(2)
        w.view.set_current(5)
        w.label_key(0)
        expected = self.labels()
        assert all(len(key) == 64 for key in w.edits)  # content hashes

        registry = widget_registry()
        desc = registry.widget("orangecontrib.imagelab.widgets.owlabelimages.OWLabelImages")
        scheme = Scheme()
        scheme.add_node(SchemeNode(desc, properties=w.settingsHandler.pack_data(w)))
        stream = io.BytesIO()
        # as the canvas saves: Orange's column contexts need the pickle fallback
        scheme_to_ows_stream(scheme, stream, pretty=True, pickle_fallback=True)
        stream.seek(0)
        loaded = Scheme()
        scheme_load(loaded, stream, registry=registry)
        properties = loaded.nodes[0].properties

        again = self.create_widget(OWLabelImages, stored_settings=properties)
        self.send(self.data[::-1], widget=again)  # another order
        assert self.labels(again) == expected
        # images no longer in the input: their edits are kept and reported
        self.send(self.data[2:6], widget=again)
        assert again.Warning.orphans.is_shown()
        self.send(self.data, widget=again)
        assert not again.Warning.orphans.is_shown() and self.labels(again) == expected

    def test_snapshot_mark_becomes_parent_and_boxes_are_accepted(self):
        marked = tables.mark_snapshot(self.data, {"name": "pets", "version": "abc"})
        self.send(marked)
        out = self.get_output(self.widget.Outputs.labelled)
        assert tables.snapshot_info(out) is None
        assert tables.parent_info(out)["version"] == "abc"
        image_var = tables.find_image_column(self.data.domain)
        boxes = tables.boxes_table(image_var, [self.data[0][image_var].value], ["eye"],
                                   np.array([[1, 1, 10, 10]]), image_ids=["a"],
                                   box_ids=["1"])
        self.send_signal(self.widget.Inputs.boxes, boxes)
        self.widget.view.set_current(0)
        assert self.widget.preview.boxes or self.widget.rows[0] != 0

    def test_suggested_labels_are_compared_by_default_and_accepted_in_one_click(self):
        from Orange.data import DiscreteVariable
        from orangecontrib.imagelab.api.issues import ISSUE_ATTRIBUTE
        # as Image Issues suggests: the first two photos look like the other class
        codes = self.data.Y.copy()
        codes[:2] = 1 - codes[:2]
        suggested = DiscreteVariable("suggested label", values=("cats", "dogs"))
        suggested.attributes[ISSUE_ATTRIBUTE] = "issues"
        data = tables.append_columns(self.data, metas=[(suggested, codes)])
        self.send(data)
        w = self.widget
        assert w.compare_column.name == "suggested label"
        w.set_filter("disagree")
        assert list(w.rows) == [0, 1]
        QTest.keyClick(w.view, Qt.Key_A, Qt.ControlModifier)
        w.accept_compared()
        assert len(w.rows) == 0
        out = self.get_output(w.Outputs.labelled)
        assert list(out.Y) == list(codes)
        w.undo()
        assert list(w.rows) == [0, 1]
        # a renamed class: the suggestion is taken under its new name
        w.rename_class("cats", "kittens")
        w.set_filter("all")
        w.view.select([0, 1])
        w.accept_compared()
        out = self.get_output(w.Outputs.labelled)
        assert [out.domain.class_var.values[int(v)] for v in out.Y] == \
            [("kittens", "dogs")[int(c)] for c in codes]

    def test_no_image_column_and_no_input(self):
        from Orange.data import Table
        self.send(Table("iris"))
        assert self.widget.Error.no_image_column.is_shown()
        self.send(None)
        assert self.get_output(self.widget.Outputs.labelled) is None
