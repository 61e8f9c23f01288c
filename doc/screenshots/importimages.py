"""Screenshot of Import Images on the bundled Fashion-MNIST sample (offscreen).

    .venv/bin/python doc/screenshots/importimages.py
"""
import shutil
import tempfile
from pathlib import Path

from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab.widgets.owimportimages import OWImportImages
    from tests.images import make_truncated_jpeg

    application()
    sample = SAMPLE / "fashion"
    # A copy with one damaged file, so the warning shows as it would for a user.
    work = Path(tempfile.mkdtemp()) / "fashion"
    shutil.copytree(sample, work)
    make_truncated_jpeg(work / "labelled" / "Bag" / "Bag-damaged.jpg", size=(120, 120))
    widget = OWImportImages()
    widget.set_path(str(work))
    wait_for_task(widget)
    out = save(widget, "importimages")
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()
    shutil.rmtree(work.parent)


if __name__ == "__main__":
    main()
