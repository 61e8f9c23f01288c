"""Snapshot widget: freeze on Save, history, verify, outputs, clone, and Test and Score's report."""
import tempfile
from pathlib import Path

from Orange.widgets.tests import base

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.importing import import_images
from orangecontrib.imagelab.widgets.owsnapshot import OWSnapshot
from tests.images import make_class_folders


class TestOWSnapshot(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp())
        make_class_folders(cls.tmp / "photos", classes=("cats", "dogs"), per_class=3)
        cls.data = import_images(cls.tmp / "photos").data

    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(dir=self.tmp))
        self.widget = self.create_widget(OWSnapshot)
        self.widget.set_folder(str(self.folder))
        self.wait_until_finished()

    def test_freeze_history_verify_clone_refreeze(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.data)
        assert self.get_output(w.Outputs.snapshot) is None  # nothing frozen before Save
        w.snapshot_name = "pets"
        w.freeze()
        self.wait_until_finished()
        first = self.get_output(w.Outputs.snapshot)
        info = tables.snapshot_info(first)
        assert info["name"] == "pets" and len(first) == 6
        assert w.tree.topLevelItemCount() == 1
        assert w.tree.topLevelItem(0).text(1) == info["version"]
        assert "cats 3, dogs 3" == w.tree.topLevelItem(0).text(5)

        w.verify()
        self.wait_until_finished()
        assert w.Information.verified.is_shown()

        # clone, fix one label, freeze again: the new version names its parent
        editable = self.get_output(w.Outputs.clone)
        assert tables.parent_info(editable)["version"] == info["version"]
        editable = editable.copy()
        with editable.unlocked(editable.Y):
            editable.Y[0] = 1 - editable.Y[0]
        self.send_signal(w.Inputs.data, editable)
        w.freeze()
        self.wait_until_finished()
        second = tables.snapshot_info(self.get_output(w.Outputs.snapshot))
        assert second["version"] != info["version"]
        top = w.tree.topLevelItem(0)  # newest first
        assert (top.text(1), top.text(2)) == (second["version"], info["version"])

        # the same content again: no new version
        w.freeze()
        self.wait_until_finished()
        assert w.Information.reused.is_shown() and w.tree.topLevelItemCount() == 2

        # choosing the first version outputs it; tampering is caught by Verify
        w.choose_version(info["version"])
        self.wait_until_finished()
        assert tables.snapshot_info(self.get_output(w.Outputs.snapshot))["version"] == \
            info["version"]
        victim = next((Path(info["path"]) / "images").iterdir())
        victim.chmod(0o644)
        victim.write_bytes(victim.read_bytes() + b"x")
        w.verify()
        self.wait_until_finished()
        assert w.Warning.tampered.is_shown() and victim.name in str(w.Warning.tampered)

    def test_errors_are_named(self):
        from Orange.data import Table
        w = self.create_widget(OWSnapshot)
        self.send_signal(w.Inputs.data, self.data, widget=w)
        w.freeze()
        assert w.Error.no_folder.is_shown()
        self.send_signal(w.Inputs.data, Table("iris"), widget=w)
        assert w.Error.no_image_column.is_shown()

    def test_test_and_score_report_names_the_version(self):
        from Orange.classification import LogisticRegressionLearner
        from Orange.widgets.evaluate.owtestandscore import OWTestAndScore
        from orangecontrib.imagelab.api.embedding import extract_features

        w = self.widget
        self.send_signal(w.Inputs.data, self.data)
        w.snapshot_name = "pets"
        w.freeze()
        self.wait_until_finished()
        frozen = self.get_output(w.Outputs.snapshot)
        version = tables.snapshot_info(frozen)["version"]
        features = extract_features(frozen, ["average_pixels"]).data
        assert tables.snapshot_info(features)["version"] == version  # survives embedding
        test = self.create_widget(OWTestAndScore)
        self.send_signal(test.Inputs.train_data, features, widget=test)
        self.send_signal(test.Inputs.learner, LogisticRegressionLearner(), 0, widget=test)
        self.wait_until_finished(test)
        test.create_report_html()
        assert f"pets @ {version}" in test.report_html
        assert test.get_widget_name_extension() == f"pets @ {version}"
