"""Screenshot of Download Images fetching the bundled Open Images-format
sample's subset, with two bad URLs among them (offscreen).

    .venv/bin/python doc/screenshots/downloadimages.py
"""
import shutil
import tempfile

from _shot import SAMPLE, application, save, wait_for_task


def main():
    from Orange.data import Table
    from orangecontrib.imagelab.api.subset import select_subset
    from orangecontrib.imagelab.widgets.owdownloadimages import OWDownloadImages

    application()
    subset = select_subset(SAMPLE / "openimages", ["Dress", "Footwear", "Handbag"])
    images = subset.images
    broken = Table.concatenate([images, images[:2]])
    with broken.unlocked(broken.metas):
        url = broken.domain["url"]
        column = broken.domain.metas.index(url)
        ids = broken.domain.metas.index(broken.domain["image id"])
        broken.metas[-2, column] = "http://127.0.0.1:9/photos/missing.jpg"  # nothing listens there
        broken.metas[-1, column] = "ftp://example.org/photo.jpg"
        broken.metas[-2, ids] = "missing"
        broken.metas[-1, ids] = "ftp-photo"
    work = tempfile.mkdtemp(prefix="imagelab-download-")
    widget = OWDownloadImages()
    widget.folder = work
    widget._show_folder()  # pylint: disable=protected-access
    widget.retries = 0
    widget.timeout = 5
    widget.set_data(broken)
    widget.set_boxes(subset.boxes)
    widget.handleNewSignals()
    wait_for_task(widget)
    widget.folder = "~/Image Lab/downloads"  # what the picture shows
    widget._show_folder()  # pylint: disable=protected-access
    out = save(widget, "downloadimages")
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
