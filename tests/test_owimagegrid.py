"""Image Grid widget: layout off the GUI thread, selection groups, subset, broken files."""
import tempfile
from pathlib import Path

import numpy as np
from AnyQt.QtCore import Qt

from Orange.data import ContinuousVariable, Domain, StringVariable, Table
from Orange.widgets.tests import base as widget_tests

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid
from tests.images import make_image, make_truncated_jpeg, make_zero_byte

PALETTE = [(220, 40, 40), (40, 200, 60), (40, 60, 220)]


def image_table(root, n=12, *, broken=0, seed=0, dims=6):
    """n images in 3 colour clusters with matching 'embedding' vectors and a class.

    The last ``broken`` rows point to a truncated JPEG, an empty file, a missing file.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    names = []
    for i in range(n):
        name = f"img_{i:03d}.jpg"
        kind = i - (n - broken)
        if kind == 0:
            make_truncated_jpeg(root / name)
        elif kind == 1:
            make_zero_byte(root / name)
        elif kind == 2:
            name = "missing.jpg"
        else:
            make_image(root / name, size=(40, 30), color=PALETTE[labels[i]],
                       noise=10, seed=i)
        names.append(name)
    centres = rng.normal(size=(3, dims)) * 6
    vectors = centres[labels] + rng.normal(size=(n, dims))
    cls, codes = tables.discrete_column("category", [f"c{k}" for k in labels])
    return tables.table_from_columns(
        [(tables.image_variable("image", str(root)), names), (cls, codes)]
        + tables.continuous_columns([f"f{j}" for j in range(dims)], vectors),
        class_var=cls, name="images")


def wait_thumbnails(test, widget):
    loader = widget.view.loader
    widget.resize(1200, 900)
    widget.show()
    widget.view.viewport().repaint()
    test.process_events(until=lambda: loader.pending() == 0, timeout=10000)
    test.process_events()


class TestOWImageGrid(widget_tests.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWImageGrid)
        self.widget.view.resize(800, 600)

    def send(self, data, signal=None):
        self.send_signal(signal or self.widget.Inputs.data, data)
        self.wait_until_finished(timeout=30000)

    def test_layout_distinct_cells_and_outputs(self):
        data = image_table(self.tmp_path, n=30)
        self.send(data)
        w = self.widget
        assert w.layout is not None and len(w.layout.cells) == 30
        assert len({tuple(c) for c in w.view._cells}) == 30
        # Same-colour images sit closer together than others.
        cells, labels = w.layout.cells, np.arange(30) % 3
        d = np.abs(cells[:, None] - cells[None]).sum(2)
        same = (labels[:, None] == labels[None]) & ~np.eye(30, dtype=bool)
        assert d[same].mean() < 0.7 * d[labels[:, None] != labels[None]].mean()
        self.assertIsNone(self.get_output(w.Outputs.selected_data))
        images = self.get_output(w.Outputs.annotated_data)
        self.assertEqual(len(images), 30)
        names = [v.name for v in images.domain.metas]
        assert "Group" in names and "Selected" in names
        assert w.color_var is data.domain.class_var  # frame colour by class
        wait_thumbnails(self, w)
        assert not w.Warning.broken.is_shown()
        assert w.view.loader.image(w.locations[0], w.view.decode_size()) is not None

    def test_selection_groups_like_scatter_plot(self):
        self.send(image_table(self.tmp_path, n=12))
        view = self.widget.view
        view.select([0, 1])
        view.select([2, 3, 4], Qt.ShiftModifier)      # new group
        view.select([5], Qt.ControlModifier)          # add to the last group
        view.select([4], Qt.AltModifier)              # remove
        np.testing.assert_array_equal(view.groups()[:7], [1, 1, 2, 2, 0, 2, 0])
        selected = self.get_output(self.widget.Outputs.selected_data)
        self.assertEqual(len(selected), 5)
        group = selected.domain["Group"]
        self.assertEqual([group.str_val(v) for v in selected.get_column(group)],
                         ["G1", "G1", "G2", "G2", "G2"])
        images = self.get_output(self.widget.Outputs.annotated_data)
        sel = images.domain["Selected"]
        self.assertEqual(int(np.sum(images.get_column(sel) == sel.values.index("Yes"))), 5)
        view.select([7])  # plain click: a new selection
        np.testing.assert_array_equal(np.flatnonzero(view.groups()), [7])
        self.widget._clear_selection()
        self.assertIsNone(self.get_output(self.widget.Outputs.selected_data))

    def test_rubber_band_selects_cells(self):
        self.send(image_table(self.tmp_path, n=12))
        view = self.widget.view
        indices = view.indices_in(view.viewport().rect())
        self.assertEqual(sorted(indices), list(range(12)))
        r, c = self.widget.layout.cells[5]
        self.assertEqual(view.index_at(view.cell_rect(r, c).center()), 5)

    def test_subset_fades_other_rows(self):
        data = image_table(self.tmp_path, n=12)
        self.send(data)
        self.send(data[:4], self.widget.Inputs.data_subset)
        np.testing.assert_array_equal(self.widget.view._faded, np.arange(12) >= 4)
        self.send(None, self.widget.Inputs.data_subset)
        self.assertIsNone(self.widget.view._faded)

    def test_broken_images_warned_and_kept(self):
        data = image_table(self.tmp_path, n=12, broken=3)
        self.send(data)
        wait_thumbnails(self, self.widget)
        self.process_events(until=lambda: "3 of" in str(self.widget.Warning.broken))
        text = str(self.widget.Warning.broken)
        assert "3 of 12 images cannot be shown" in text, text
        assert "truncated JPEG" in text and "empty file" in text
        assert "file not found" in str(self.widget.failed)
        # Broken rows stay in the output; nothing is lost.
        self.assertEqual(len(self.get_output(self.widget.Outputs.annotated_data)), 12)
        location = self.widget.locations[9]
        assert "truncated JPEG" in self.widget.view.tooltip(9), location

    def test_empty_one_row_and_bad_tables(self):
        data = image_table(self.tmp_path, n=3)
        self.send(data[:0])
        self.assertEqual(len(self.get_output(self.widget.Outputs.annotated_data)), 0)
        self.send(data[:1])
        self.assertEqual(self.widget.layout.shape, (1, 1))
        self.assertEqual(len(self.get_output(self.widget.Outputs.annotated_data)), 1)
        no_images = data.transform(Domain(data.domain.attributes, data.domain.class_vars))
        self.send(no_images)
        assert self.widget.Error.no_image_column.is_shown()
        self.assertIsNone(self.get_output(self.widget.Outputs.annotated_data))
        no_features = data.transform(Domain([], data.domain.class_vars, data.domain.metas))
        self.send(no_features)
        assert self.widget.Error.no_features.is_shown()
        self.send(None)
        assert not self.widget.Error.active

    def test_selection_survives_saved_workflow(self):
        data = image_table(self.tmp_path, n=12)
        self.send(data)
        self.widget.view.select([1, 2])
        self.widget.view.select([6], Qt.ShiftModifier)
        self.widget.cell_size = 150
        self.widget.fit_to_window = False
        settings = self.widget.settingsHandler.pack_data(self.widget)
        restored = self.create_widget(OWImageGrid, stored_settings=settings)
        self.send_signal(restored.Inputs.data, data, widget=restored)
        self.wait_until_finished(restored, timeout=30000)
        np.testing.assert_array_equal(restored.view.groups(), self.widget.view.groups())
        self.assertEqual(restored.view.cell_size, 150)
        selected = self.get_output(restored.Outputs.selected_data, widget=restored)
        self.assertEqual(len(selected), 3)
        # Other data: the old selection does not apply.
        self.send_signal(restored.Inputs.data, image_table(self.tmp_path / "b", n=5),
                         widget=restored)
        self.wait_until_finished(restored, timeout=30000)
        assert not restored.view.groups().any()

    def test_peer_style_table(self):
        # orange3-imageanalytics: meta "image" (type=image, origin), "image name",
        # "size", "width", "height", embedding features n0, n1, ...
        ours = image_table(self.tmp_path, n=9)
        image = StringVariable("image")
        image.attributes.update({"type": "image", "origin": str(self.tmp_path)})
        metas = [StringVariable("image name"), image, ContinuousVariable("size"),
                 ContinuousVariable("width"), ContinuousVariable("height")]
        names = list(ours.get_column("image"))
        meta_values = np.array([[n[:-4], n, 1000, 40, 30] for n in names], dtype=object)
        features = [ContinuousVariable(f"n{i}") for i in range(6)]
        peer = Table.from_numpy(Domain(features, None, metas), ours.X, None, meta_values)
        self.send(peer)
        assert not self.widget.Error.active
        self.assertIs(self.widget.image_var, peer.domain["image"])
        wait_thumbnails(self, self.widget)
        assert not self.widget.Warning.broken.is_shown()

    def test_labels_colours_size_and_report(self):
        data = image_table(self.tmp_path, n=6)
        self.send(data)
        w = self.widget
        w.label_var = data.domain["image"]
        w._update_labels()
        self.assertEqual(w.view._labels[0], "img_000.jpg")
        w.color_var = None
        w._update_colors()
        self.assertIsNone(w.view._colors)
        w.fit_to_window = False            # the size slider applies when not fitting
        w._on_grid_options()
        w.cell_size = 200
        w._on_cell_size()
        self.assertEqual(w.view.cell_size, 200)
        w.view.select([0])
        w.send_report()

    @property
    def tmp_path(self):
        if not hasattr(self, "_tmp"):
            self._tmpdir = tempfile.TemporaryDirectory()
            self._tmp = Path(self._tmpdir.name)
        return self._tmp

    def tearDown(self):
        super().tearDown()
        if hasattr(self, "_tmpdir"):
            self._tmpdir.cleanup()

    def test_a_large_input_is_shown_as_a_representative_sample(self):
        small = image_table(self.tmp_path, n=12)
        rows = np.arange(300) % 12          # 300 rows over the 12 images
        data = Table.from_numpy(small.domain, small.X[rows], small.Y[rows], small.metas[rows])
        w = self.widget
        w.sample_size = 100
        self.send(data)
        self.assertEqual((w.view.count(), len(w.layout.cells)), (100, 100))
        self.assertIn("sample of 100 of the 300 images", str(w.Information.sampled))
        shown = w.sample.rows
        classes = data.Y[shown]
        self.assertEqual(sorted(np.bincount(classes.astype(int))), [33, 33, 34])
        # a selection of shown cells maps to those input rows
        w.view.select([0, 5, 99])
        selected = self.get_output(w.Outputs.selected_data)
        np.testing.assert_array_equal(selected.ids, data.ids[shown[[0, 5, 99]]])
        images = self.get_output(w.Outputs.annotated_data)
        self.assertEqual(len(images), 300)
        chosen = images.get_column("Selected") == 1
        np.testing.assert_array_equal(np.flatnonzero(chosen), shown[[0, 5, 99]])
        w.send_report()
        # the same input again: the same sample, the selection restored
        self.send(data)
        np.testing.assert_array_equal(w.sample.rows, shown)
        self.assertEqual(len(self.get_output(w.Outputs.selected_data)), 3)
        # a larger size shows every row
        w.controls.sample_size.setValue(1000)
        self.wait_until_finished(timeout=30000)
        self.assertEqual(w.view.count(), 300)
        self.assertFalse(w.Information.sampled.is_shown())
        self.assertEqual(len(self.get_output(w.Outputs.annotated_data)), 300)


class TestHelpers(widget_tests.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWImageGrid)

    def test_group_tables_match_orange_conventions(self):
        from Orange.widgets.utils.annotated_data import create_groups_table
        from orangecontrib.imagelab.widgets.utils.imagetable import group_tables
        with tempfile.TemporaryDirectory() as tmp:
            data = image_table(Path(tmp), n=6)
        groups = np.array([0, 1, 2, 2, 0, 1])
        selected, annotated = group_tables(data, groups)
        orange = create_groups_table(data, groups, False, "Group")
        self.assertEqual(selected.domain["Group"].values, orange.domain["Group"].values)
        np.testing.assert_array_equal(selected.get_column("Group"), orange.get_column("Group"))
        np.testing.assert_array_equal(selected.ids, orange.ids)
        orange_all = create_groups_table(data, groups, True, "Group")
        np.testing.assert_array_equal(annotated.get_column("Group"),
                                      orange_all.get_column("Group"))
        self.assertEqual(list(annotated.get_column("Selected")), [0, 1, 1, 1, 0, 1])
        np.testing.assert_array_equal(annotated.X, data.X)
        none, everything = group_tables(data, np.zeros(6, dtype=int))
        self.assertIsNone(none)
        self.assertEqual(everything.domain["Group"].values, ("Unselected",))

    def test_lazy_locations(self):
        from orangecontrib.imagelab.widgets.utils.imagetable import LazyLocations
        with tempfile.TemporaryDirectory() as tmp:
            data = image_table(Path(tmp), n=4)
            with data.unlocked(data.metas):
                data.metas[2, 0] = ""
            locations = LazyLocations(data, data.domain["image"])
            self.assertEqual(len(locations), 4)
            self.assertEqual(locations[0], str(Path(tmp) / "img_000.jpg"))
            self.assertIsNone(locations[2])
            self.assertEqual(list(locations.missing()), [2])
            assert locations.was_resolved(locations[0])
            assert not locations.was_resolved(str(Path(tmp) / "img_001.jpg"))
            assert locations[-1] in locations and "elsewhere.jpg" not in locations

    def test_non_numeric_features_are_ignored_with_a_note(self):
        from Orange.data import DiscreteVariable
        with tempfile.TemporaryDirectory() as tmp:
            data = image_table(Path(tmp), n=6)
            extra = DiscreteVariable("colour", values=("a", "b"))
            data = tables.append_columns(data, attributes=[(extra, np.arange(6) % 2)])
            widget = self.widget
            self.send_signal(widget.Inputs.data, data, widget=widget)
            self.wait_until_finished(widget, timeout=30000)
            assert widget.Information.ignored.is_shown()
            self.assertEqual(len(widget.layout.cells), 6)

    def test_image_issues_tables_are_framed_by_issue(self):
        from Orange.data import DiscreteVariable
        from orangecontrib.imagelab.api.issues import ISSUE_ATTRIBUTE
        data = image_table(Path(tempfile.mkdtemp()), n=6)
        self.send_signal(self.widget.Inputs.data, data)  # a context for the plain table
        assert self.widget.color_var.name == "category"
        issue = DiscreteVariable("issue", values=("none", "dark"))
        issue.attributes[ISSUE_ATTRIBUTE] = "issues"
        checked = tables.append_columns(data, metas=[(issue, np.arange(6) % 2)])
        self.send_signal(self.widget.Inputs.data, checked)
        assert self.widget.color_var.name == "issue"
