"""Screenshot of Label Images on the bundled Fashion-MNIST sample (offscreen).

    .venv/bin/python doc/screenshots/labelimages.py
"""
from _shot import SAMPLE, application, save, wait_for_task, wait_for_thumbnails


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owlabelimages import OWLabelImages

    application()
    data = import_images(SAMPLE / "fashion" / "labelled").data
    widget = OWLabelImages()
    widget.resize(1150, 760)
    widget.show()
    widget.set_images(data)
    wait_for_task(widget)
    widget.add_class("Coat")
    widget.view.setFocus()
    widget.view.set_current(1)
    widget.label_key(6)  # Coat, by hand
    widget.view.set_current(4)
    widget.label_key(0)  # no label
    widget.view.set_current(5)
    wait_for_thumbnails(widget)
    wait_for_thumbnails(widget.preview if hasattr(widget.preview, "view") else widget)
    out = save(widget, "labelimages", fit=False)
    print(f"saved {out}: {widget.progress_label.text()}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
