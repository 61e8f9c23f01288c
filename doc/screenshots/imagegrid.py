"""Screenshot of Image Grid on the bundled Fashion sample, embedded (offscreen).

    .venv/bin/python doc/screenshots/imagegrid.py
"""
from _shot import SAMPLE, application, save, wait_for_task, wait_for_thumbnails

from AnyQt.QtCore import Qt


def main():
    from orangecontrib.imagelab import embed_images, import_images
    from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid

    application()
    images = import_images(SAMPLE / "fashion" / "labelled").data
    data = embed_images(images).data
    widget = OWImageGrid()
    widget.resize(widget.sizeHint())      # the default size: the grid fits it
    widget.show()
    application().processEvents()
    widget.set_data(data)
    widget.handleNewSignals()
    wait_for_task(widget)
    # Two groups: a block of cells top left, another bottom right.
    rows, cols = widget.layout.shape
    index = widget.layout.index_grid()
    first = index[:3, :4].ravel()
    second = index[-3:, -4:].ravel()
    widget.view.select(first[first >= 0])
    widget.view.select(second[second >= 0], Qt.ShiftModifier)
    wait_for_thumbnails(widget)
    out = save(widget, "imagegrid", fit=False)
    print(f"saved {out}: {len(data)} images on a {rows}×{cols} grid")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
