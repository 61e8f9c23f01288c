"""Screenshot of Dataset Subset on the bundled Open Images-format sample (offscreen).

    .venv/bin/python doc/screenshots/datasetsubset.py
"""
import time

from _shot import SAMPLE, application, save


def main():
    from orangecontrib.imagelab.widgets.owdatasetsubset import OWDatasetSubset

    app = application()
    widget = OWDatasetSubset()
    widget.classes = ["Dress", "Footwear", "Handbag"]
    widget.set_folder(str(SAMPLE / "openimages"))
    end = time.time() + 30
    while time.time() < end and (widget.task is not None or widget.result is None):
        app.processEvents()
        time.sleep(0.01)
    widget.class_list.filter_edit.setText("")
    widget.resize(460, 800)
    widget.show()
    app.processEvents()
    out = save(widget, "datasetsubset", fit=False)
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
