"""Screenshot of Image Embedding on the bundled photos (offscreen).

    .venv/bin/python doc/screenshots/imageembedding.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "widgets" / "images" / "imageembedding.png"


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimageembedding import OWImageEmbedding

    app = QApplication.instance() or QApplication([])
    data = import_images(ROOT / "orangecontrib" / "imagelab" / "sample" / "photos").data
    widget = OWImageEmbedding()
    widget.set_data(data)
    widget.handleNewSignals()
    while widget.task is not None:
        app.processEvents()
        time.sleep(0.01)
    widget.show()
    widget.adjustSize()
    app.processEvents()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(OUT))
    print(f"saved {OUT}: {widget.info_label.text()}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
