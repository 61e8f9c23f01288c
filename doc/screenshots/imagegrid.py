"""Screenshot of Image Grid on the bundled Fashion sample, embedded (offscreen).

    .venv/bin/python doc/screenshots/imagegrid.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtCore import Qt  # noqa: E402
from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "widgets" / "images" / "imagegrid.png"


def main():
    from orangecontrib.imagelab import embed_images, import_images
    from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid

    app = QApplication.instance() or QApplication([])
    images = import_images(ROOT / "orangecontrib" / "imagelab" / "sample" / "fashion"
                           / "labelled").data
    data = embed_images(images).data
    widget = OWImageGrid()
    widget.cell_size = 44
    widget._on_cell_size()
    widget.resize(1120, 720)
    widget.show()
    widget.set_data(data)
    widget.handleNewSignals()
    while widget.task is not None:
        app.processEvents()
        time.sleep(0.01)
    view = widget.view
    # Two groups: a block of cells top left, another bottom right.
    rows, cols = widget.layout.shape
    index = widget.layout.index_grid()
    first = index[:3, :4].ravel()
    second = index[-3:, -4:].ravel()
    view.select(first[first >= 0])
    view.select(second[second >= 0], Qt.ShiftModifier)
    end = time.time() + 10
    while (view.loader.pending() or time.time() < end - 9) and time.time() < end:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(OUT))
    print(f"saved {OUT}: {len(data)} images on a {rows}×{cols} grid")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
