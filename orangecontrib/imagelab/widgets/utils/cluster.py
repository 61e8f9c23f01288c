"""The "Compute on" box: this computer, or a Dask scheduler with its worker count.

``ComputeOnBox`` binds two literal settings of a widget, ``use_cluster``
(bool) and ``scheduler_address`` (str), to a pair of radio buttons and an
address field, and shows what the scheduler has ("4 workers, 32 threads").
Asking the scheduler is network IO: it runs in a daemon thread with a
deadline (``api.cluster.CONNECT_TIMEOUT``), its answer comes back through a
queue that a timer empties in the GUI thread, and an answer about an address
no longer shown is ignored; a probe that hangs is abandoned, never joined.
"""
import queue
import threading
from typing import Callable, Optional

from AnyQt.QtCore import QObject, QTimer, pyqtSignal as Signal
from AnyQt.QtWidgets import QLabel

from Orange.widgets import gui

from orangecontrib.imagelab.api.cluster import CONNECT_TIMEOUT, cluster_info
from orangecontrib.imagelab.widgets.utils.messages import error_text

#: The two choices, in the order of the radio buttons.
CHOICES = ("This computer", "Dask scheduler:")
PLACEHOLDER = "tcp://10.0.0.5:8786"


class ClusterProbe(QObject):
    """``probe(address)`` asks the scheduler in a thread; ``answered(address,
    text, ok)`` arrives in the GUI thread.

    The thread touches no Qt object (it may outlive this one): it puts its
    answer in a plain queue, which a timer of this object empties.
    """
    answered = Signal(str, str, bool)

    def __init__(self, parent: Optional[QObject] = None, *, timeout: float = CONNECT_TIMEOUT):
        super().__init__(parent)
        self.timeout = timeout
        self._token = 0
        self._answers: "queue.SimpleQueue" = queue.SimpleQueue()
        self._timer = QTimer(self, interval=50)
        self._timer.timeout.connect(self._collect)

    def probe(self, address: str) -> None:
        self._token += 1
        token, answers, timeout = self._token, self._answers, self.timeout

        def ask():
            try:
                text, ok = str(cluster_info(address, timeout=timeout)), True
            except Exception as err:  # pylint: disable=broad-except
                text, ok = error_text(err), False  # shown to the user, never raised
            answers.put((token, address, text, ok))

        threading.Thread(target=ask, daemon=True, name="imagelab-cluster-probe").start()
        self._timer.start()

    def cancel(self) -> None:
        """Ignore the answer of the probe under way."""
        self._token += 1
        self._timer.stop()

    def _collect(self) -> None:
        while not self._answers.empty():
            token, address, text, ok = self._answers.get()
            if token == self._token:
                self._timer.stop()
                self.answered.emit(address, text, ok)


class ComputeOnBox:
    """Radio buttons, the address field and the status line in ``parent``.

    ``changed`` is called when the choice or the address changes (e.g. the
    widget's ``commit.deferred``).
    """

    def __init__(self, widget, parent, changed: Callable[[], None]):
        self.widget = widget
        self.changed = changed
        self.box = gui.radioButtons(parent, widget, "use_cluster", btnLabels=CHOICES,
                                    box="Compute on", callback=self._on_choice)
        self.address = gui.lineEdit(gui.indentedBox(self.box), widget, "scheduler_address",
                                    placeholderText=PLACEHOLDER, callback=self._on_address,
                                    tooltip="The address that `dask scheduler` prints. The "
                                            "workers read the images themselves: use a "
                                            "shared file system or http(s) URLs.")
        self.status = QLabel(wordWrap=True)
        self.box.layout().addWidget(self.status)
        self.probe = ClusterProbe(self.box)
        self.probe.answered.connect(self._on_answer)
        self.refresh()

    def scheduler(self) -> Optional[str]:
        """The address to compute on, or None for this computer."""
        if not self.widget.use_cluster:
            return None
        return self.widget.scheduler_address.strip() or None

    def refresh(self) -> None:
        """Enable the address field for a cluster and ask the scheduler."""
        self.address.setEnabled(bool(self.widget.use_cluster))
        address = self.scheduler()
        if address is None:
            self.probe.cancel()
            self._show("" if not self.widget.use_cluster else
                       "Enter the address of a Dask scheduler.")
            return
        self._show(f"Connecting to {address} …")
        self.probe.probe(address)

    def _show(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def _on_choice(self) -> None:
        self.refresh()
        self.changed()

    def _on_address(self) -> None:
        self.refresh()
        self.changed()

    def _on_answer(self, address: str, text: str, ok: bool) -> None:
        if address == self.scheduler():
            self._show(f"{address}: {text}" if ok else text)
