"""Save Images widget: off-thread saving, auto-save off, column choice, summary."""
import tempfile
from pathlib import Path

from Orange.widgets.tests import base
from PIL import Image

from orangecontrib.imagelab.widgets.owsaveimages import OWSaveImages
from tests.test_save_api import image_table


class TestOWSaveImages(base.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWSaveImages)
        self.tmp = Path(tempfile.mkdtemp(prefix="imagelab-owsave-"))
        names = [f"{c}/{c}.{i}.jpg" for c in ("red", "blue") for i in range(3)]
        self.data = image_table(self.tmp / "src", names, [n.split("/")[0] for n in names],
                                groups=["a", "b", None, "a", "b", "a"])

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def save(self):
        self.widget.commit.now()
        self.wait_until_finished()

    def files(self, folder):
        return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*.jpg"))

    def test_nothing_saved_until_save_is_pressed(self):
        w = self.widget
        self.assertFalse(w.auto_save)
        w.set_folder(str(self.tmp / "out"))
        self.send_signal(w.Inputs.data, self.data)
        self.wait_until_finished()
        self.assertFalse((self.tmp / "out").exists())
        self.assertIs(w.by_column, self.data.domain.class_var)
        self.save()
        self.assertEqual(len(self.files(self.tmp / "out")), 6)
        self.assertIn("6 saved", w.info_label.text())
        self.assertEqual(self.files(self.tmp / "out")[:3],
                         ["blue/blue.0.jpg", "blue/blue.1.jpg", "blue/blue.2.jpg"])
        # saving again writes nothing twice
        self.save()
        self.assertIn("6 already present", w.info_label.text())
        self.assertEqual(len(self.files(self.tmp / "out")), 6)

    def test_many_files_are_converted_in_threads_from_the_widgets_thread(self):
        import threading
        from unittest.mock import patch
        from orangecontrib.imagelab.core.store import saving
        w = self.widget
        w.set_folder(str(self.tmp / "out"))
        w.mode, w.format = "convert", "png"
        self.send_signal(w.Inputs.data, self.data)
        started = []
        original = saving._Run._stage

        def stage(run, item, directory):
            started.append(threading.current_thread().name)
            return original(run, item, directory)

        with patch.object(saving, "cores", return_value=2), \
                patch.object(saving._Run, "_stage", stage):
            self.save()
        self.assertEqual(len(started), 6)
        self.assertTrue(all(name.startswith("imagelab-save") for name in started))
        self.assertEqual(len(list((self.tmp / "out").rglob("*.png"))), 6)
        self.assertIn("6 saved", w.info_label.text())

    def test_by_meta_column_and_flat(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.data)
        w.set_folder(str(self.tmp / "groups"))
        group = self.data.domain["group"]
        self.assertIn(group, w.by_model)
        w.by_column = group
        self.save()
        self.assertEqual({Path(f).parent.name for f in self.files(self.tmp / "groups")},
                         {"a", "b", "_unlabeled"})
        w.set_folder(str(self.tmp / "flat"))
        w.by_column = None
        self.save()
        self.assertEqual(len(list((self.tmp / "flat").glob("*.jpg"))), 6)

    def test_convert_with_scaling(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.data)
        w.set_folder(str(self.tmp / "png"))
        w.mode, w.format, w.scale, w.max_size = "convert", "png", True, 32
        self.save()
        pngs = list((self.tmp / "png").rglob("*.png"))
        self.assertEqual(len(pngs), 6)
        with Image.open(pngs[0]) as im:
            self.assertEqual(im.size, (32, 24))

    def test_skipped_files_are_named_and_report(self):
        w = self.widget
        (self.tmp / "src" / "red" / "red.1.jpg").unlink()
        self.send_signal(w.Inputs.data, self.data)
        w.set_folder(str(self.tmp / "out"))
        self.save()
        self.assertTrue(w.Warning.skipped.is_shown())
        self.assertIn("1 of 6 files skipped: red/red.1.jpg (file not found)",
                      str(w.Warning.skipped))
        w.send_report()

    def test_errors(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.data)
        self.save()
        self.assertTrue(w.Error.no_folder.is_shown())
        (self.tmp / "a_file").write_text("x")
        w.set_folder(str(self.tmp / "a_file"))
        self.save()
        self.assertTrue(w.Error.failed.is_shown())
        self.assertIn("not a folder", str(w.Error.failed))
        no_images = self.data.transform(self.data.domain.__class__(
            self.data.domain.attributes, self.data.domain.class_vars))
        self.send_signal(w.Inputs.data, no_images)
        self.assertTrue(w.Error.no_image_column.is_shown())
        self.send_signal(w.Inputs.data, None)
        self.assertFalse(w.Error.no_image_column.is_shown())

    def test_cancel_keeps_what_was_saved(self):
        w = self.widget
        self.send_signal(w.Inputs.data, self.data)
        w.set_folder(str(self.tmp / "out"))
        w.commit.now()
        w.cancel_saving()
        self.assertTrue(w.Information.cancelled.is_shown())
        self.save()
        self.assertEqual(len(self.files(self.tmp / "out")), 6)
        self.assertFalse(list((self.tmp / "out").rglob("*.part")))

    def test_auto_save_and_settings(self):
        w = self.widget
        w.auto_save = True
        w.set_folder(str(self.tmp / "auto"))
        self.send_signal(w.Inputs.data, self.data)
        self.wait_until_finished()
        self.assertEqual(len(self.files(self.tmp / "auto")), 6)
        w.by_column = self.data.domain["group"]
        w.mode = "link"
        settings = self.widget.settingsHandler.pack_data(w)
        w2 = self.create_widget(OWSaveImages, stored_settings=settings)
        self.send_signal(w2.Inputs.data, self.data, widget=w2)
        self.assertEqual(w2.by_column.name, "group")
        self.assertEqual(w2.mode, "link")
        self.assertEqual(w2.folder, str(self.tmp / "auto"))

    # -- issue 17, items 9 and 11: save again after the folder was emptied;
    # small context settings on wide tables, and old workflows still load

    def test_save_again_after_the_folder_was_emptied(self):
        import shutil
        from AnyQt.QtWidgets import QPushButton
        w = self.widget
        w.set_folder(str(self.tmp / "out"))
        self.send_signal(w.Inputs.data, self.data)
        save, = [b for b in w.buttonsArea.findChildren(QPushButton) if b.text() == "Save"]
        save.click()
        self.wait_until_finished()
        self.assertEqual(len(self.files(self.tmp / "out")), 6)
        shutil.rmtree(self.tmp / "out")  # the user empties the folder
        self.assertTrue(save.isEnabled())
        save.click()
        self.wait_until_finished()
        self.assertEqual(len(self.files(self.tmp / "out")), 6)
        self.assertIn("6 saved", w.info_label.text())

    def test_contexts_store_the_categorical_columns_only(self):
        import pickle
        data = embedding_table()
        w = self.widget
        self.send_signal(w.Inputs.data, data)
        w.by_column = data.domain["group"]
        settings = w.settingsHandler.pack_data(w)
        self.assertLess(len(pickle.dumps(settings)), 2000)  # Orange's handler: ~27 KB
        w2 = self.create_widget(OWSaveImages, stored_settings=settings)
        self.send_signal(w2.Inputs.data, data, widget=w2)
        self.assertIs(w2.by_column, data.domain["group"])

    def test_old_workflows_with_every_column_in_their_context_still_load(self):
        from Orange.widgets.settings import Context, DomainContextHandler
        data = embedding_table()
        attributes, metas = DomainContextHandler().encode_domain(data.domain)
        old = Context(attributes=attributes, metas=metas,
                      values={"by_column": ("group", 101), "__version__": 1})
        w = self.create_widget(OWSaveImages, stored_settings={
            "context_settings": [old], "mode": "link", "__version__": 1})
        self.send_signal(w.Inputs.data, data, widget=w)
        self.assertIs(w.by_column, data.domain["group"])
        self.assertEqual(w.mode, "link")
        self.assertEqual((w.current_context.attributes, w.current_context.metas),
                         ({"category": 1}, {"group": 1}))


def embedding_table(n_features=1000):
    """An embedded table as wide as a real one: 1,000 numbers, a class, a group, an image."""
    import numpy as np
    from Orange.data import ContinuousVariable, DiscreteVariable, Domain, Table
    from orangecontrib.imagelab.tables import image_variable
    features = [ContinuousVariable(f"n{i:04}") for i in range(n_features)]
    domain = Domain(features, DiscreteVariable("category", values=["a", "b"]),
                    [image_variable("image"), DiscreteVariable("group", values=["x", "y"])])
    metas = np.array([["a.jpg", 0], ["b.jpg", 1]], dtype=object)
    return Table.from_numpy(domain, np.zeros((2, n_features)), np.array([0, 1]), metas)

