"""widgets.utils.tasks: Cancel, new input and deletion never wait for a job."""
import threading
import time

from Orange.widgets.tests import base
from Orange.widgets.widget import OWWidget

from orangecontrib.imagelab.widgets.utils.tasks import (
    Cancelled, TaskWidgetMixin, progress_callback)

RELEASE = threading.Event()


def stuck(state):
    """A job stuck on a read that ignores Cancel (as a silent server would)."""
    RELEASE.wait(30)
    return "stuck"


def quick(value, state):
    callback = progress_callback(state, status=lambda f: f"{f:.0%}", interval=0)
    for i in range(5):
        callback(i / 4)
    return value


def cancellable(state):
    callback = progress_callback(state)
    while True:
        callback(0.5)
        time.sleep(0.01)


class OWTaskProbe(OWWidget, TaskWidgetMixin):
    name = "Task probe"
    want_main_area = False

    def __init__(self):
        OWWidget.__init__(self)
        TaskWidgetMixin.__init__(self)
        self.results, self.partials, self.errors = [], [], []

    def on_done(self, result):
        self.results.append(result)

    def on_partial_result(self, result):
        self.partials.append(result)

    def on_exception(self, ex):
        self.errors.append(ex)

    def onDeleteWidget(self):
        self.shutdown()
        super().onDeleteWidget()


class TestTaskWidgetMixin(base.WidgetTest):
    def setUp(self):
        RELEASE.clear()
        self.widget = self.create_widget(OWTaskProbe)

    def tearDown(self):
        RELEASE.set()
        super().tearDown()

    def test_new_job_does_not_queue_behind_an_abandoned_one(self):
        self.widget.start(stuck)
        self.widget.start(quick, "second")
        self.wait_until_finished(timeout=5000)
        self.assertEqual(self.widget.results, ["second"])
        self.assertIn("100%", self.widget.partials)

    def test_delete_returns_at_once_while_a_job_is_stuck(self):
        self.widget.start(stuck)
        start = time.perf_counter()
        self.widget.onDeleteWidget()
        self.assertLess(time.perf_counter() - start, 1.0)

    def test_cancel_raises_cancelled_inside_the_job(self):
        self.widget.start(cancellable)
        state = self.widget.task
        time.sleep(0.05)
        self.widget.cancel()
        self.assertIsNone(self.widget.task)
        exc = state.future.exception(timeout=5)
        self.assertIsInstance(exc, Cancelled)
        self.assertEqual(self.widget.results, [])


def keeps_reporting(state):
    """A job that reports progress without looking at Cancel for a while."""
    end = time.perf_counter() + 1.0
    value = 0.0
    while time.perf_counter() < end:
        value = (value + 0.7) % 100
        state.set_progress_value(value + 0.1)
        state.set_partial_result(value)
        time.sleep(0.001)
    return "done"


class TestAbandonedJobOutlivesItsWidget(base.WidgetTest):
    def setUp(self):
        self.widget = self.create_widget(OWTaskProbe)

    def test_progress_after_the_widget_is_deleted_does_not_crash(self):
        from AnyQt.QtCore import QCoreApplication
        from AnyQt.QtTest import QTest
        from orangecontrib.imagelab.widgets.utils import tasks
        widget = self.create_widget(OWTaskProbe)
        widget.start(keeps_reporting)
        state = widget.task
        time.sleep(0.05)
        widget.onDeleteWidget()
        widget.deleteLater()
        QCoreApplication.sendPostedEvents(None, 0)  # the widget is gone now
        QTest.qWait(50)
        self.assertIn(state, tasks._ABANDONED)  # kept alive, not deleted with it
        self.assertEqual(state.future.result(timeout=10), "done")
        QTest.qWait(50)  # its queued signals are delivered to no one
