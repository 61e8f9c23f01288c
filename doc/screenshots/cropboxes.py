"""Screenshot of Crop Boxes on the bundled box sample, beside an Image Viewer of its
crops (offscreen).

    .venv/bin/python doc/screenshots/cropboxes.py
"""
from AnyQt.QtGui import QColor, QPainter, QPixmap

from _shot import IMAGES, SAMPLE, application, wait_for_task, wait_for_thumbnails


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owcropboxes import OWCropBoxes
    from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer

    application()
    boxes = import_images(SAMPLE / "boxes").boxes
    widget = OWCropBoxes()
    widget.padding = 10
    widget.square = True
    widget.all_classes = False
    widget.classes = ["Bag", "Sneaker", "T-shirt"]
    widget.set_boxes(boxes)
    wait_for_task(widget)
    widget.show()
    widget.adjustSize()
    application().processEvents()
    crops = widget.result.data

    viewer = OWImageViewer()
    viewer.cell_size = 96
    viewer._on_cell_size()
    viewer.resize(760, widget.height())
    viewer.show()
    viewer.set_data(crops)
    viewer.title_var = crops.domain.class_var
    viewer._update_titles()
    wait_for_thumbnails(viewer)

    left, right = widget.grab(), viewer.grab()
    gap = 12
    image = QPixmap(left.width() + gap + right.width(), max(left.height(), right.height()))
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.drawPixmap(0, 0, left)
    painter.drawPixmap(left.width() + gap, 0, right)
    painter.end()
    out = IMAGES / "cropboxes.png"
    image.save(str(out))
    print(f"saved {out}: {widget.boxes_label.text()} {widget.info_label.text()}")
    widget.onDeleteWidget()
    viewer.onDeleteWidget()


if __name__ == "__main__":
    main()
