"""Run a workflow (.ows) without a window, through Orange's own signal manager.

Used by ``scripts/run --smoke`` and by the tutorial tests. Like
``python -m Orange.canvas.run``, but it waits until every widget has finished
its background work (ConcurrentWidgetMixin marks a busy widget invalidated)
and returns the live workflow so the caller can look at the widgets' outputs.
"""
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from AnyQt.QtCore import QEvent
from AnyQt.QtWidgets import QApplication

TUTORIALS_DIR = os.path.dirname(os.path.abspath(__file__))


def tutorial_paths() -> List[str]:
    """The tutorial workflows shipped with Image Lab, sorted by file name."""
    return sorted(os.path.join(TUTORIALS_DIR, name) for name in os.listdir(TUTORIALS_DIR)
                  if name.endswith(".ows"))


@dataclass
class HeadlessRun:
    """A loaded and executed workflow; close it with ``close()``."""
    model: object  # orangewidget.workflow.widgetsscheme.WidgetsScheme
    finished: bool
    seconds: float
    widgets: Dict[str, object] = field(default_factory=dict)  # node title -> widget

    def messages(self, severity: str = "error") -> Dict[str, List[str]]:
        """Shown messages by node title; severity "error" or "warning"."""
        from orangecanvas.scheme.node import UserMessage
        wanted = {"error": UserMessage.Error, "warning": UserMessage.Warning}[severity]
        shown = {}
        for node in self.model.nodes:
            texts = [msg.contents for msg in node.state_messages()
                     if msg.contents and msg.severity == wanted]
            if texts:
                shown[node.title] = texts
        return shown

    def outputs(self) -> Dict[Tuple[str, str], object]:
        """Values sent over the workflow's links, by (source title, channel name)."""
        from orangecanvas.scheme import signalmanager
        manager = self.model.findChild(signalmanager.SignalManager)
        values = {}
        for link in self.model.links:
            contents = manager.link_contents(link)
            if contents:
                values[(link.source_node.title, link.source_channel.name)] = \
                    list(contents.values())[-1]
        return values

    def wait(self, timeout: float = 300.0, settle: float = 0.5) -> bool:
        """Process events until the workflow is idle for ``settle`` seconds.

        Call it again after changing a widget (e.g. a selection, a Save) to let
        the signals propagate. Returns False on timeout.
        """
        from orangecanvas.scheme import signalmanager
        manager = self.model.findChild(signalmanager.SignalManager)
        start = time.perf_counter()
        idle_since = None
        while time.perf_counter() - start < timeout:
            QApplication.processEvents()
            time.sleep(0.02)
            if _busy(self.model, manager):
                idle_since = None
            elif idle_since is None:
                idle_since = time.perf_counter()
            elif time.perf_counter() - idle_since >= settle:
                return True
        return False

    def close(self) -> None:
        self.model.clear()
        QApplication.sendEvent(self.model, QEvent(QEvent.Close))
        QApplication.processEvents()


_REGISTRY = None


def widget_registry():
    """Orange's widget registry with every installed add-on (discovered once)."""
    global _REGISTRY
    if _REGISTRY is None:
        from orangecanvas import config
        from orangecanvas.registry import WidgetRegistry
        from Orange.canvas.config import Config
        cfg = Config()
        config.set_default(cfg)
        registry = WidgetRegistry()
        cfg.widget_discovery(registry).run(cfg.widgets_entry_points())
        _REGISTRY = registry
    return _REGISTRY


def _busy(model, signal_manager) -> bool:
    if signal_manager.has_pending():
        return True
    for node in model.nodes:
        widget = model.widget_for_node(node)
        if getattr(widget, "task", None) is not None or widget.isInvalidated():
            return True
        # Widgets with their own threads (Test and Score) show a progress bar meanwhile.
        if getattr(widget, "processingState", 0):
            return True
    return False


def run_workflow(path: str, *, timeout: float = 300.0,
                 settle: float = 0.5) -> HeadlessRun:
    """Load ``path``, run it until all widgets are idle (or ``timeout``).

    A QApplication must exist. ``settle`` is how long the workflow must stay
    idle to count as finished (widgets may start work from a timer).
    """
    from orangecanvas.scheme import signalmanager
    from Orange.canvas.config import Config

    registry = widget_registry()
    model = Config().workflow_constructor()
    model.set_runtime_env("basedir", os.path.abspath(os.path.dirname(path)))
    signal_manager = model.findChild(signalmanager.SignalManager)
    signal_manager.pause()
    with open(path, "rb") as f:
        model.load_from(f, registry=registry)
    widgets = {node.title: model.widget_for_node(node) for node in model.nodes}
    signal_manager.resume()

    run = HeadlessRun(model, False, 0.0, widgets)
    start = time.perf_counter()
    run.finished = run.wait(timeout=timeout, settle=settle)
    run.seconds = time.perf_counter() - start
    return run
