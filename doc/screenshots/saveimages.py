"""Screenshot of Save Images on the bundled Fashion-MNIST sample (offscreen).

    .venv/bin/python doc/screenshots/saveimages.py
"""
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "widgets" / "images" / "saveimages.png"


def wait(app, widget):
    while widget.task is not None:
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owsaveimages import OWSaveImages

    app = QApplication.instance() or QApplication([])
    data = import_images(ROOT / "orangecontrib" / "imagelab" / "sample" / "fashion"
                         / "labelled").data
    work = Path(tempfile.mkdtemp()) / "fashion-sorted"
    widget = OWSaveImages()
    widget.set_data(data)
    widget.set_folder(str(work))
    widget.commit.now()
    wait(app, widget)
    (work / "Bag" / "Bag-000.png").unlink()  # a rerun finds the others already there
    widget.commit.now()
    wait(app, widget)
    widget.show()
    widget.adjustSize()
    app.processEvents()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(OUT))
    print(f"saved {OUT}: {widget.info_label.text()}")
    widget.onDeleteWidget()
    shutil.rmtree(work.parent)


if __name__ == "__main__":
    main()
