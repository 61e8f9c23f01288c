"""Screenshot of Import Images on the bundled Fashion-MNIST sample (offscreen).

    .venv/bin/python doc/screenshots/importimages.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "widgets" / "images" / "importimages.png"


def main():
    from orangecontrib.imagelab.widgets.owimportimages import OWImportImages
    from tests.images import make_truncated_jpeg

    app = QApplication.instance() or QApplication([])
    sample = ROOT / "orangecontrib" / "imagelab" / "sample" / "fashion"
    # A copy with one damaged file, so the warning shows as it would for a user.
    import shutil
    import tempfile
    work = Path(tempfile.mkdtemp()) / "fashion"
    shutil.copytree(sample, work)
    make_truncated_jpeg(work / "labelled" / "Bag" / "Bag-damaged.jpg", size=(120, 120))
    widget = OWImportImages()
    widget.set_path(str(work))
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
    shutil.rmtree(work.parent)


if __name__ == "__main__":
    main()
