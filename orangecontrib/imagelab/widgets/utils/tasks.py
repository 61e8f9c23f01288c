"""How every Image Lab widget runs a job off the GUI thread.

Two pieces, used by every widget that runs a core job (``TaskWidgetMixin``
also checks the widget's settings first: see ``widgets.utils.settings``):

- ``TaskWidgetMixin``: Orange's ``ConcurrentWidgetMixin`` whose Cancel, new
  input and deletion never wait for the job. Orange's mixin waits for the
  running task when the widget is deleted, and a new task queues behind the
  old one on its single thread; a job blocked on a silent server would then
  freeze the canvas or the next run. Here a cancelled job is abandoned: it
  is told to stop (its next progress call raises ``Cancelled``), its result
  is ignored, and the next job gets a fresh thread.
- ``progress_callback(state)``: the ``callback(fraction)`` that core and API
  functions take, wired to the task's progress bar and Cancel, with an
  optional throttled status line.
"""
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional

from Orange.widgets.utils.concurrent import ConcurrentWidgetMixin, TaskState

from orangecontrib.imagelab.api import Cancelled
from orangecontrib.imagelab.widgets.utils.settings import SettingsCheckMixin

__all__ = ["TaskWidgetMixin", "progress_callback", "Cancelled", "TaskState"]

_EXECUTOR = "_ConcurrentMixin__executor"  # the mixin's private single-thread pool

#: Task states of abandoned jobs that still run. Orange parents a job's state
#: to its widget; a job that outlives its widget would then emit progress
#: from its thread into a deleted object and crash the process. Abandoned
#: states are detached and kept here until their job ends (pruned from the
#: GUI thread, which owns them).
_ABANDONED: List[TaskState] = []


def _abandon(state: TaskState) -> None:
    _ABANDONED[:] = [s for s in _ABANDONED if not s.future.done()]
    if state.future is not None and not state.future.done():
        state.setParent(None)
        _ABANDONED.append(state)


class TaskWidgetMixin(SettingsCheckMixin, ConcurrentWidgetMixin):
    """``ConcurrentWidgetMixin`` that abandons cancelled jobs instead of waiting.

    Its ``__init__`` (call it right after ``OWWidget.__init__``, before building
    controls) also resets settings that a tampered workflow made unusable, with
    a warning (``SettingsCheckMixin``).
    """

    def __init__(self):
        SettingsCheckMixin.__init__(self)
        ConcurrentWidgetMixin.__init__(self)
        self.__last_state: Optional[TaskState] = None

    def start(self, task: Callable, *args, **kwargs):
        self.cancel()
        last = self.__last_state
        if last is not None and not last.future.done():
            # The abandoned job still holds the single worker thread; give
            # the new one its own instead of queueing behind it.
            getattr(self, _EXECUTOR).shutdown(wait=False)
            setattr(self, _EXECUTOR, ThreadPoolExecutor(max_workers=1))
        super().start(task, *args, **kwargs)

    def _connect_signals(self, state: TaskState):
        self.__last_state = state
        super()._connect_signals(state)

    def cancel(self):
        state = self.task
        super().cancel()
        if state is not None:
            _abandon(state)

    def shutdown(self):
        """Stop the job and return at once (called from ``onDeleteWidget``)."""
        self.cancel()
        getattr(self, _EXECUTOR).shutdown(wait=False)


def progress_callback(state: TaskState, status: Optional[Callable[[float], object]] = None,
                      interval: float = 0.3) -> Callable[[float], None]:
    """A core-style ``callback(fraction)`` for a job running under ``state``.

    It raises ``Cancelled`` once Cancel was pressed (or the widget got new
    input or was deleted), sets the progress bar, and every ``interval``
    seconds (and at the end) sends ``status(fraction)`` as a partial result,
    if given, for ``on_partial_result`` to show.
    """
    last = [0.0]

    def callback(fraction: float) -> None:
        if state.is_interruption_requested():
            raise Cancelled()
        state.set_progress_value(100 * fraction)
        if status is not None:
            now = time.perf_counter()
            if now - last[0] >= interval or fraction >= 1:
                last[0] = now
                state.set_partial_result(status(fraction))

    return callback
