"""Image Issues widget: runs off the GUI thread, summary ticks select rows, outputs."""
import os
import shutil
import time

import numpy as np
from AnyQt.QtCore import Qt
from Orange.data import Domain
from Orange.widgets.tests import base

import orangecontrib.imagelab as imagelab
from orangecontrib.imagelab import embed_images, import_images
from orangecontrib.imagelab.widgets.owimageissues import OWImageIssues

SAMPLE = os.path.join(os.path.dirname(imagelab.__file__), "sample", "fashion", "labelled")


def row_of(widget, check):
    return widget.summary.checks().index(check)


class TestOWImageIssues(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import tempfile
        cls.root = tempfile.mkdtemp(prefix="issues-widget-")
        for name in ("Bag", "Trouser", "Sneaker"):
            os.makedirs(os.path.join(cls.root, name))
            for i in range(12):
                shutil.copyfile(os.path.join(SAMPLE, name, f"{name}-{i:03d}.png"),
                                os.path.join(cls.root, name, f"{name}-{i:03d}.png"))
        shutil.copyfile(os.path.join(SAMPLE, "Bag", "Bag-000.png"),
                        os.path.join(cls.root, "Bag", "Bag-000-copy.png"))
        cls.images = import_images(cls.root).data
        cls.embedded = embed_images(cls.images).data

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.widget = self.create_widget(OWImageIssues)

    def wait(self):
        self.wait_until_finished(self.widget, timeout=120000)

    def test_outputs_counts_and_ticks(self):
        widget = self.widget
        self.send_signal(widget.Inputs.data, self.embedded)
        self.wait()
        every = self.get_output(widget.Outputs.all)
        assert len(every) == len(self.embedded)
        report = widget.report_result
        count_item = widget.summary.item(row_of(widget, "grayscale"), 1)
        assert count_item.text() == f"{len(self.embedded):,}"   # Fashion-MNIST is grey
        flagged = self.get_output(widget.Outputs.flagged)
        assert len(flagged) == len(self.embedded)
        assert self.get_output(widget.Outputs.clean) is None
        groups = self.get_output(widget.Outputs.groups)
        assert set(groups.get_column("image")) == {"Bag/Bag-000.png", "Bag/Bag-000-copy.png"}

        # unticking "grayscale": only the other issues flag, the rest is clean
        widget.summary.item(row_of(widget, "grayscale"), 0).setCheckState(Qt.Unchecked)
        assert widget.ignored_issues == ["grayscale"]
        flagged = self.get_output(widget.Outputs.flagged)
        clean = self.get_output(widget.Outputs.clean)
        others = np.zeros(len(every), bool)
        for check, flag in report.arrays.flags.items():
            if check != "grayscale":
                others |= flag
        assert len(flagged) == others.sum()
        assert "Bag/Bag-000-copy.png" in flagged.get_column("image") or \
            "Bag/Bag-000.png" in flagged.get_column("image")
        kept = len(clean)
        widget.controls.keep_one_per_group.click()            # off: both copies out
        assert len(self.get_output(widget.Outputs.clean)) == kept - 1
        assert "flagged" in widget.status_label.text()

    def test_threshold_edit_reruns_and_is_kept(self):
        widget = self.widget
        self.send_signal(widget.Inputs.data, self.images)
        self.wait()
        before = widget.report_result.counts["dark"]
        widget.summary.item(row_of(widget, "dark"), 2).setText("0.999")
        self.wait()
        assert widget.thresholds == {"dark": 0.999}
        assert widget.report_result.counts["dark"] > before
        widget.summary.item(row_of(widget, "dark"), 2).setText("7")   # refused
        assert widget.summary.item(row_of(widget, "dark"), 2).text() == "0.999"
        settings = widget.settingsHandler.pack_data(widget)
        again = self.create_widget(OWImageIssues, stored_settings=settings)
        assert again.thresholds == {"dark": 0.999}

    def test_no_class_and_no_embedding_say_what_was_skipped(self):
        widget = self.widget
        images = self.images
        no_class = images.transform(Domain(images.domain.attributes, None,
                                           images.domain.metas))
        self.send_signal(widget.Inputs.data, no_class)
        self.wait()
        text = str(widget.Information.skipped_checks)
        assert widget.Information.skipped_checks.is_shown()
        assert "Label error" in text and "Outlier" in text
        assert widget.summary.item(row_of(widget, "label_errors"), 1).text() == "skipped"

    def test_unreadable_image_is_named(self):
        widget = self.widget
        data = self.images.copy()
        with data.unlocked(data.metas):
            data.metas[0, data.domain.metas.index(data.domain["image"])] = "Bag/missing.png"
        self.send_signal(widget.Inputs.data, data)
        self.wait()
        assert widget.Warning.unreadable.is_shown()
        assert "Bag/missing.png" in str(widget.Warning.unreadable) or \
            "missing.png" in str(widget.Warning.unreadable)
        assert len(self.get_output(widget.Outputs.all)) == len(data)

    def test_no_data_and_new_input_cancels(self):
        widget = self.widget
        self.send_signal(widget.Inputs.data, self.embedded)
        self.send_signal(widget.Inputs.data, None)        # cancels at once
        assert self.get_output(widget.Outputs.all) is None
        assert widget.status_label.text() == "No data."
        start = time.perf_counter()
        widget.onDeleteWidget()
        assert time.perf_counter() - start < 5

    def test_report_lists_counts_and_thresholds(self):
        widget = self.widget
        self.send_signal(widget.Inputs.data, self.images)
        self.wait()
        widget.send_report()
        html = widget.report_html
        assert "score &lt; 0.32" in html or "score < 0.32" in html
        assert "Ticked issues" in html
