"""A boxes table works in Orange's own widgets: Data Table, Distributions, Select Rows."""
import shutil
import tempfile
from pathlib import Path

from Orange.widgets.data.owselectrows import OWSelectRows
from Orange.widgets.data.owtable import OWTable
from Orange.widgets.tests import base
from Orange.widgets.visualize.owdistributions import OWDistributions

from orangecontrib.imagelab import import_images
from tests.test_box_api import photo_set


class TestBoxesInOrangeWidgets(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="imagelab-boxes-orange-"))
        cls.boxes = import_images(photo_set(cls.tmp, "coco") / "annotations" /
                                  "instances.json").boxes

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.widget = self.create_widget(OWSelectRows)

    def test_select_rows_keeps_a_class_and_drops_small_boxes(self):
        w = self.widget
        domain = self.boxes.domain
        self.send_signal(w.Inputs.data, self.boxes)
        w.remove_all()
        # "is wheel"; the values of a discrete condition count from 1 (0: none chosen)
        w.add_row(domain.class_var, 0, [int(domain.class_var.to_val("wheel")) + 1])
        w.conditions_changed()
        w.commit.now()
        wheels = self.get_output(w.Outputs.matching_data)
        self.assertEqual(len(wheels), 2)
        self.assertEqual({domain.class_var.str_val(v) for v in wheels.Y}, {"wheel"})
        w.remove_all()
        w.add_row(domain["box width"], 5, ["100"])   # is at least
        w.conditions_changed()
        w.commit.now()
        big = self.get_output(w.Outputs.matching_data)
        self.assertTrue(len(big) and (big.get_column("box width") >= 100).all())
        self.assertLess(len(big), len(self.boxes))

    def test_data_table_and_distributions_show_it(self):
        table = self.create_widget(OWTable)
        self.send_signal(table.Inputs.data, self.boxes, widget=table)
        self.assertFalse(table.Error.active)
        distributions = self.create_widget(OWDistributions)
        self.send_signal(distributions.Inputs.data, self.boxes, widget=distributions)
        distributions.var = self.boxes.domain.class_var
        distributions.replot()
        self.assertFalse(distributions.Error.active)
