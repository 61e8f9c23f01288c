"""Screenshot of Image Viewer drawing the boxes of the bundled box sample (offscreen),
for the Boxes guide and the Image Viewer page.

    .venv/bin/python doc/screenshots/boxes.py
"""
import time

from _shot import SAMPLE, application, save, wait_for_thumbnails


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer

    app = application()
    result = import_images(SAMPLE / "boxes")
    widget = OWImageViewer()
    widget.cell_size = 200
    widget._on_cell_size()
    widget.resize(1100, 640)
    widget.show()
    widget.set_data(result.data)
    widget.set_boxes(result.boxes)
    start = time.time()
    while widget.box_overlay.display is None and time.time() - start < 20:
        app.processEvents()
        time.sleep(0.01)
    wait_for_thumbnails(widget)
    out = save(widget, "imageviewer-boxes", fit=False)
    print(f"saved {out}: {len(result.boxes)} boxes on {len(result.data)} images")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
