"""Screenshot of Save Images on the bundled Fashion-MNIST sample (offscreen).

    .venv/bin/python doc/screenshots/saveimages.py
"""
import shutil
import tempfile
from pathlib import Path

from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owsaveimages import OWSaveImages

    application()
    data = import_images(SAMPLE / "fashion" / "labelled").data
    work = Path(tempfile.mkdtemp()) / "fashion-sorted"
    widget = OWSaveImages()
    widget.set_data(data)
    widget.set_folder(str(work))
    widget.commit.now()
    wait_for_task(widget)
    (work / "Bag" / "Bag-000.png").unlink()  # a rerun finds the others already there
    widget.commit.now()
    wait_for_task(widget)
    out = save(widget, "saveimages")
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()
    shutil.rmtree(work.parent)


if __name__ == "__main__":
    main()
