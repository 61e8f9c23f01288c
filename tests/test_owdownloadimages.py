"""The Download Images widget: outputs, failures named, boxes in pixels,
progress, Cancel without half-written files, settings, never freezing."""
import io
import os
import shutil
import tempfile
import time

import numpy as np
from Orange.data import Domain, StringVariable, Table
from Orange.widgets.tests import base  # not `import WidgetTest`: pytest would collect it
from PIL import Image

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.subset import select_subset
from orangecontrib.imagelab.widgets.owdownloadimages import OWDownloadImages
from orangecontrib.imagelab.widgets.utils.preview import sample_path
from tests.httpserver import LocalServer


def jpeg(i: int) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(i)
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def url_table(urls):
    var = tables.image_variable("url")
    return Table.from_list(Domain([], metas=[var, StringVariable("note")]),
                           [[u, f"row {i}"] for i, u in enumerate(urls)])


class TestOWDownloadImages(base.WidgetTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = LocalServer(half_pause=0.4).start()
        cls.server.files.update({f"{i}.jpg": jpeg(i) for i in range(40)})

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        super().tearDownClass()

    def setUp(self):
        self.folder = tempfile.mkdtemp(prefix="imagelab-download-")
        self.addCleanup(shutil.rmtree, self.folder, ignore_errors=True)
        self.widget = self.create_widget(OWDownloadImages,
                                         stored_settings={"folder": self.folder})

    def test_subset_images_and_boxes_from_the_bundled_sample(self):
        subset = select_subset(sample_path("openimages"), ["Dress", "Handbag"])
        self.send_signal(self.widget.Inputs.boxes, subset.boxes)
        self.send_signal(self.widget.Inputs.data, subset.images)
        self.wait_until_finished()
        images = self.get_output(self.widget.Outputs.images)
        boxes = self.get_output(self.widget.Outputs.boxes)
        self.assertEqual(len(images), len(subset.images))
        self.assertIsNone(self.get_output(self.widget.Outputs.failed))
        self.assertEqual(self.widget.id_column.name, "image id")  # files named by ID
        names = set(os.listdir(self.folder))
        self.assertEqual(names, {f"{i}.jpg" for i in images.get_column("image id")})
        coords, normalized = tables.box_coordinates(boxes)
        self.assertFalse(normalized)
        self.assertEqual(len(boxes), len(subset.boxes))
        self.assertLessEqual(coords[:, 2].max(), 240)  # pixels of the 240 x 160 scenes
        self.assertIn("downloaded", self.widget.info_label.text())
        self.widget.send_report()
        # a rerun finds everything present and fetches nothing
        self.widget.commit.now()
        self.wait_until_finished()
        self.assertEqual(self.widget.result.n_present, len(subset.images))

    def test_failures_are_named_and_output(self):
        urls = [self.server.url("img/1.jpg"), self.server.url("status/404"),
                self.server.url("html/1.jpg"), "ftp://127.0.0.1/x.jpg"]
        self.send_signal(self.widget.Inputs.data, url_table(urls))
        self.wait_until_finished()
        self.assertEqual(len(self.get_output(self.widget.Outputs.images)), 1)
        failed = self.get_output(self.widget.Outputs.failed)
        self.assertEqual(list(failed.get_column("note")), ["row 1", "row 2", "row 3"])
        reasons = list(failed.get_column("reason"))
        self.assertEqual(reasons[:2], ["HTTP 404 (Not Found)", "not an image (an HTML page)"])
        text = str(self.widget.Warning.failed)
        self.assertIn("3 of 4 URLs failed", text)
        self.assertIn("status/404 (HTTP 404 (Not Found))", text)
        self.send_signal(self.widget.Inputs.data, url_table([self.server.url("status/500")]))
        self.widget.retries = 0
        self.widget.commit.now()
        self.wait_until_finished()
        self.assertTrue(self.widget.Error.all_failed.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.images))

    def test_progress_line_and_cancel_leave_no_half_written_file(self):
        urls = [self.server.url(f"halves/{i}.jpg") for i in range(40)]
        self.widget.threads = 4
        self.send_signal(self.widget.Inputs.data, url_table(urls))
        state = self.widget.task
        deadline = time.monotonic() + 30
        while not self.server.hits and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        self.widget.cancel_button.click()
        self.assertIsNone(self.widget.task)
        self.assertTrue(self.widget.Information.cancelled.is_shown())
        state.future.exception(timeout=30)  # the abandoned job ends ...
        names = os.listdir(self.folder)
        self.assertFalse([n for n in names if n.endswith(".part")])  # ... and cleans up
        for name in names:
            self.assertIn(open(os.path.join(self.folder, name), "rb").read(),
                          self.server.files.values())
        self.widget.on_partial_result((3, 40, 2.5, 0.125))
        self.assertEqual(self.widget.info_label.text(),
                         "3 of 40 images, 2.5 images/s, 0.12 MB/s")

    def test_delete_while_the_server_is_silent_returns_at_once(self):
        self.send_signal(self.widget.Inputs.data, url_table([self.server.url("silent/a.jpg")]))
        state = self.widget.task
        deadline = time.monotonic() + 30
        while not self.server.hits["silent/a.jpg"] and time.monotonic() < deadline:
            time.sleep(0.02)
        start = time.perf_counter()
        self.widget.onDeleteWidget()
        self.assertLess(time.perf_counter() - start, 1.0)
        state.future.exception(timeout=self.widget.timeout + 10)

    def test_no_url_column_and_no_folder(self):
        table = Table.from_list(Domain([], metas=[StringVariable("t")]), [["hello"]])
        self.send_signal(self.widget.Inputs.data, table)
        self.assertTrue(self.widget.Error.no_url_column.is_shown())
        self.assertIsNone(self.get_output(self.widget.Outputs.images))
        self.send_signal(self.widget.Inputs.data, url_table([self.server.url("img/1.jpg")]))
        self.assertFalse(self.widget.Error.no_url_column.is_shown())
        self.wait_until_finished()
        self.widget.set_folder("")
        self.widget.commit.now()
        self.assertTrue(self.widget.Error.no_folder.is_shown())
        self.send_signal(self.widget.Inputs.data, None)
        self.assertFalse(self.widget.Error.no_folder.is_shown())

    def test_settings_are_literals_and_home_folders_expand(self):
        self.widget.folder = "~/Image Lab/x"
        self.assertEqual(self.widget.target_folder(),
                         os.path.join(os.path.expanduser("~"), "Image Lab", "x"))
        settings = self.widget.settingsHandler.pack_data(self.widget)
        for key in ("folder", "skip_existing", "threads", "timeout", "retries",
                    "max_megabytes"):
            self.assertIsInstance(settings[key], (str, int, bool))
