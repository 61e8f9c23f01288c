"""Screenshot of Image Labels on the bundled photos, filtering for "cat" (offscreen).

    .venv/bin/python doc/screenshots/imagelabels.py
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from AnyQt.QtWidgets import QApplication  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "doc" / "widgets" / "images" / "imagelabels.png"


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimagelabels import OWImageLabels

    app = QApplication.instance() or QApplication([])
    data = import_images(ROOT / "orangecontrib" / "imagelab" / "sample" / "photos").data
    widget = OWImageLabels()
    widget.label_edit.setText("cat")
    widget.label_text = "cat"
    widget.use_review, widget.review_min = True, 10
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
    print(f"saved {OUT}: {widget.counts_label.text()}")
    result = widget.result
    if result is not None and result.labelled is not None:
        for name, labels in zip(result.labelled.get_column("image"),
                                result.labelled.get_column("labels")):
            print(f"  {name}: {labels}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
