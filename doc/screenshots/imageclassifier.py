"""Screenshot of Image Classifier trained on the bundled Fashion-MNIST sample,
with augmentation (offscreen).

    .venv/bin/python doc/screenshots/imageclassifier.py
"""
from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimageclassifier import OWImageClassifier

    application()
    data = import_images(SAMPLE / "fashion" / "labelled").data
    widget = OWImageClassifier()
    widget.augment, widget.copies = True, 2
    widget.settings_changed()
    widget.set_data(data)
    widget.handleNewSignals()
    wait_for_task(widget)
    out = save(widget, "imageclassifier")
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
