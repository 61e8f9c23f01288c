"""What the screenshot scripts share: offscreen Qt, paths, waiting, saving.

Each script is run as ``.venv/bin/python doc/screenshots/<widget>.py`` and
imports this module first (it sets the Qt platform before Qt loads).
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "orangecontrib" / "imagelab" / "sample"
IMAGES = ROOT / "doc" / "widgets" / "images"


_APP = None


def application() -> QApplication:
    """The QApplication, created once and kept alive for the whole script."""
    global _APP
    _APP = QApplication.instance() or _APP or QApplication([])
    return _APP


def wait_for_task(widget) -> None:
    """Process events until the widget's background task has finished."""
    app = application()
    while widget.task is not None:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def wait_for_thumbnails(widget, *, timeout: float = 10.0, at_least: float = 1.0) -> None:
    """Process events until the view's thumbnails are loaded (or ``timeout``)."""
    app = application()
    start = time.time()
    while time.time() - start < timeout and \
            (widget.view.loader.pending() or time.time() - start < at_least):
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def save(widget, name: str, *, fit: bool = True) -> Path:
    """Grab the widget's window into doc/widgets/images/<name>.png.

    ``fit`` shows the widget at its natural size first; pass False for a
    widget already shown at a chosen size.
    """
    if fit:
        widget.show()
        widget.adjustSize()
        application().processEvents()
    out = IMAGES / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(out))
    return out
