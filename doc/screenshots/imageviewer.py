"""Screenshot of Image Viewer on the bundled photos (offscreen).

    .venv/bin/python doc/screenshots/imageviewer.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "widgets" / "images" / "imageviewer.png"


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer

    app = QApplication.instance() or QApplication([])
    data = import_images(ROOT / "orangecontrib" / "imagelab" / "sample" / "photos").data
    widget = OWImageViewer()
    widget.cell_size = 150
    widget._on_cell_size()
    widget.resize(1000, 620)
    widget.show()
    widget.set_data(data)
    names = [v for v in data.domain.metas if v.name in ("image name", "name", "file")]
    if names or widget.title_model:
        widget.title_var = names[0] if names else widget.image_var
        widget._update_titles()
    widget.view.select([2, 5])
    end = time.time() + 10
    while (widget.view.loader.pending() or time.time() < end - 9) and time.time() < end:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(OUT))
    print(f"saved {OUT}: {len(data)} images")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
