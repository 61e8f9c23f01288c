"""Embedding and labels on a real Dask LocalCluster (two worker processes).

One cluster serves the module (starting one costs seconds); the test that
makes its scheduler go away runs last and the fixture starts a new one if a
test after it needs one.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from Orange.widgets.tests import base

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.embedding import embed_images
from orangecontrib.imagelab.api.labels import detect_labels, filter_by_label
from orangecontrib.imagelab.core.errors import Cancelled, ClusterError
from orangecontrib.imagelab.core.executors import bounded_map, get_executor
from orangecontrib.imagelab.core.vectors.cache import EmbeddingCache
from orangecontrib.imagelab.core.vectors.embedding import embed_locations
from orangecontrib.imagelab.widgets.owimageembedding import OWImageEmbedding
from tests.images import make_image, make_text_file, skimage_sample


class Clusters:
    """One LocalCluster for the module, started again if a test closed it."""

    def __init__(self):
        self.cluster = self.client = None

    def get(self):
        from distributed import Client, LocalCluster
        if self.cluster is None or self.cluster.status.name != "running":
            self.close()
            self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster, set_as_default=False)
        # a worker killed by a test comes back, restarted by its nanny
        self.client.wait_for_workers(2, timeout=120)
        return self.cluster, self.client

    def close(self):
        for thing in (self.client, self.cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 (already gone)
                    pass
        self.cluster = self.client = None


CLUSTERS = Clusters()
_CONFIG = []


def setup_module():
    import dask
    # Workers and clients give up on a scheduler that went away after 3 s
    # instead of 30 (the last test makes it go away); ample for local sockets.
    _CONFIG.append(dask.config.set({"distributed.comm.timeouts.connect": "3s"}))


def teardown_module():
    CLUSTERS.close()
    for config in _CONFIG:
        config.__exit__(None, None, None)


@pytest.fixture
def clusters():
    return CLUSTERS


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ORANGE_IMAGELAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def image_table(folder, n, extra=()):
    paths = [str(make_image(folder / f"img{i:02d}.jpg", size=(40, 32), noise=60, seed=i))
             for i in range(n)]
    column = tables.image_variable("image")
    return tables.table_from_columns([(column, paths + list(extra))])


def test_embedding_on_the_cluster_equals_the_local_run_and_is_cached_here(
        tmp_path, fresh_cache, clusters):
    _, client = clusters.get()
    missing = str(tmp_path / "gone" / "nowhere.jpg")
    text = str(make_text_file(tmp_path / "notes.jpg"))
    data = image_table(tmp_path, 10, extra=[missing, text])
    local = embed_images(data, use_cache=False)

    remote = embed_images(data, client=client)
    assert remote.cached == 0 and len(remote.data) == 10
    np.testing.assert_allclose(remote.data.X, local.data.X, rtol=1e-4, atol=1e-5)
    reasons = {e.path: e.reason for e in remote.errors}
    assert set(reasons) == {missing, text}
    assert reasons[missing].startswith("file not found on Dask worker tcp://")
    assert "on Dask worker" in reasons[text]
    assert any("readable by the workers" in w for w in remote.warnings)
    assert [str(v) for v in remote.skipped.get_column("reason")] == \
        [reasons[missing], reasons[text]]

    # the vectors were cached on this computer: a local rerun computes nothing,
    # and a rerun on the cluster sends nothing
    assert embed_images(data).cached == 10
    again = embed_images(data, client=client)
    assert again.cached == 10
    np.testing.assert_array_equal(again.data.X, remote.data.X)


def test_labels_on_the_cluster(tmp_path, fresh_cache, clusters):
    _, client = clusters.get()
    column = tables.image_variable("image")
    data = tables.table_from_columns([(column, [str(skimage_sample("chelsea.png")),
                                                str(skimage_sample("coffee.png"))])])
    remote = detect_labels(data, client=client, top_k=2)
    local = detect_labels(data, top_k=2)
    assert [str(v) for v in remote.get_column("label 1")] == \
        [str(v) for v in local.get_column("label 1")]
    np.testing.assert_allclose(remote.get_column("confidence 1"),
                               local.get_column("confidence 1"), rtol=1e-4)
    result = filter_by_label(data, "cat", client=client)
    assert len(result.matched) == 1 and len(result.rejected) == 1


def test_find_issues_pixel_checks_on_the_cluster(tmp_path, fresh_cache, clusters):
    import shutil
    from orangecontrib.imagelab.api.issues import find_issues
    _, client = clusters.get()
    sample = os.path.join(os.path.dirname(tables.__file__), "sample", "fashion", "labelled")
    paths = []
    for name in ("Bag", "Dress", "Sneaker"):
        for i in range(4):
            paths.append(shutil.copyfile(os.path.join(sample, name, f"{name}-{i:03d}.png"),
                                         tmp_path / f"{name}-{i}.png"))
    paths.append(shutil.copyfile(paths[0], tmp_path / "copy.png"))
    missing = str(tmp_path / "gone.png")
    column = tables.image_variable("image")
    data = tables.table_from_columns([(column, [str(p) for p in paths] + [missing])])
    checks = ("dark", "light", "blurry", "low_information", "exact_duplicates")
    local = find_issues(data, checks=checks, use_cache=False).arrays
    remote = find_issues(data, checks=checks, client=client).arrays
    for check in checks:
        np.testing.assert_allclose(remote.scores[check], local.scores[check], rtol=1e-6)
        np.testing.assert_array_equal(remote.flags[check], local.flags[check])
    assert remote.flags["exact_duplicates"].sum() == 2
    assert [e.path for e in remote.errors] == [missing]
    assert remote.errors[0].reason.startswith("file not found on Dask worker tcp://")
    # measured there, cached here: a rerun sends nothing
    assert find_issues(data, checks=checks, client=client).arrays.cached == len(paths)


def _tasks(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def test_cancel_cancels_the_cluster_tasks(tmp_path, fresh_cache, clusters):
    _, client = clusters.get()
    paths = [str(make_image(tmp_path / f"c{i}.png", size=(24, 24), noise=30, seed=i))
             for i in range(40)]
    seen = []

    def callback(fraction):
        seen.append(fraction)
        if fraction > 0:
            raise Cancelled()

    executor = get_executor("dask", client=client)
    with pytest.raises(Cancelled):
        embed_locations(paths, batch_size=2, callback=callback, executor=executor)
    # what came back is cached; the rest was cancelled on the cluster
    assert 0 < EmbeddingCache().count() < 40
    for _ in range(200):  # the cancel reaches the scheduler in the background
        if not _tasks(client):
            break
        time.sleep(0.05)
    assert _tasks(client) == 0
    executor.shutdown()


def test_a_worker_killed_mid_run_is_replaced_by_dask(tmp_path, fresh_cache, clusters):
    _, client = clusters.get()
    paths = [str(make_image(tmp_path / f"k{i}.png", size=(24, 24), noise=30, seed=i))
             for i in range(24)]
    expected = embed_locations(paths, use_cache=False).vectors
    pids = client.run(os.getpid)
    killed = []

    def callback(fraction):
        if fraction > 0 and not killed:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with get_executor("dask", client=client) as executor:
        result = embed_locations(paths, batch_size=2, callback=callback, executor=executor)
    assert killed and result.ok.all()
    np.testing.assert_allclose(result.vectors, expected, rtol=1e-4, atol=1e-5)


def test_bounded_map_on_dask_keeps_order(clusters):
    _, client = clusters.get()
    with get_executor("dask", client=client) as executor:
        assert executor.workers() == 2 and executor.capacity() == 2
        assert list(bounded_map(executor, abs, range(-20, 0), window=3)) == \
            list(range(20, 0, -1))


class TestComputeOn(base.WidgetTest):
    """Image Embedding's "Compute on" with the module's cluster."""

    def setUp(self):
        _, self.client = CLUSTERS.get()
        self.address = self.client.scheduler.address
        self.widget = self.create_widget(OWImageEmbedding, stored_settings={
            "use_cluster": True, "scheduler_address": self.address})

    def status(self):
        return self.widget.compute_on.status.text()

    def type_address(self, text):
        edit = self.widget.controls.scheduler_address
        edit.setText(text)
        edit.textEdited.emit(text)
        edit.returnPressed.emit()

    def test_shows_the_workers_and_embeds_there(self):
        self.process_events(until=lambda: "workers" in self.status(), timeout=30000)
        self.assertEqual(self.status(), f"{self.address}: 2 workers, 2 threads")
        import tempfile
        folder = tempfile.mkdtemp()
        data = image_table(__import__("pathlib").Path(folder), 3,
                           extra=[os.path.join(folder, "missing.jpg")])
        self.send_signal(self.widget.Inputs.images, data)
        self.wait_until_finished(timeout=60000)
        out = self.get_output(self.widget.Outputs.embeddings)
        skipped = self.get_output(self.widget.Outputs.skipped)
        self.assertEqual((len(out), len(skipped)), (3, 1))
        self.assertIn("on Dask worker", str(self.widget.Warning.skipped))
        self.widget.send_report()

        # Cancel returns at once and the cluster drops the tasks
        many = image_table(__import__("pathlib").Path(folder), 40)
        self.send_signal(self.widget.Inputs.images, many)
        self.process_events(until=lambda: _tasks(self.client) > 0, timeout=30000)
        self.widget.cancel_button.click()
        self.assertEqual(self.widget.info_label.text(),
                         "Cancelled; finished embeddings are cached.")
        self.process_events(until=lambda: _tasks(self.client) == 0, timeout=30000)

    def test_this_computer_and_bad_addresses(self):
        widget = self.widget
        widget.compute_on.probe.timeout = 0.3
        widget.controls.use_cluster.buttons[0].click()
        self.assertEqual(self.status(), "")
        self.assertFalse(widget.compute_on.address.isEnabled())
        self.assertIsNone(widget.compute_on.scheduler())
        widget.controls.use_cluster.buttons[1].click()
        self.type_address("")
        self.assertEqual(self.status(), "Enter the address of a Dask scheduler.")
        self.send_signal(widget.Inputs.images, image_table(
            __import__("pathlib").Path(__import__("tempfile").mkdtemp()), 1))
        self.assertIn("Enter the address", str(widget.Error.failed))
        self.type_address("tcp://127.0.0.1:1")
        self.process_events(until=lambda: "Cannot connect" in self.status(), timeout=30000)


def test_options_are_checked():
    with pytest.raises(ValueError, match="scheduler"):
        get_executor("dask", scheduler=" ")
    with pytest.raises(ValueError, match="client"):
        get_executor("dask", client="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="either"):
        get_executor("dask")
    with pytest.raises(ValueError, match="kind='dask'"):
        get_executor("threads", scheduler="local")
    with pytest.raises(ValueError, match="timeout"):
        get_executor("dask", scheduler="tcp://127.0.0.1:1", timeout=0)


def test_no_scheduler_at_the_address_is_a_clear_error():
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClusterError, match=f"127.0.0.1:{port}.*dask scheduler"):
        get_executor("dask", scheduler=f"tcp://127.0.0.1:{port}", timeout=0.5)


def test_nothing_imports_dask_unless_a_cluster_is_asked_for(tmp_path):
    folder = tmp_path / "few"
    for i in range(3):
        make_image(folder / f"{i}.png", noise=20, seed=i)
    code = (
        "import sys\n"
        "import orangecontrib.imagelab as lab\n"
        f"data = lab.import_images({str(folder)!r}).data\n"
        "assert lab.embed_images(data).data is not None\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_scheduler_that_goes_away_is_a_clear_error_and_keeps_the_results(
        tmp_path, fresh_cache, clusters):
    """Last in the module: it shuts the shared cluster down."""
    cluster, client = clusters.get()
    paths = [str(make_image(tmp_path / f"s{i}.png", size=(24, 24), noise=30, seed=i))
             for i in range(40)]
    gone = []

    def callback(fraction):
        if fraction > 0 and not gone:
            gone.append(fraction)
            cluster.sync(cluster.scheduler.close)  # as if its machine went down

    with pytest.raises(ClusterError, match="went away"):
        with get_executor("dask", client=client) as executor:
            embed_locations(paths, batch_size=2, callback=callback, executor=executor)
    kept = EmbeddingCache().count()
    assert kept >= 2
    assert embed_locations(paths).cached == kept
    clusters.close()
