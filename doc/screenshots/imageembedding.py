"""Screenshot of Image Embedding on the bundled photos (offscreen).

    .venv/bin/python doc/screenshots/imageembedding.py
"""
from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimageembedding import OWImageEmbedding

    application()
    data = import_images(SAMPLE / "photos").data
    widget = OWImageEmbedding()
    widget.set_data(data)
    widget.handleNewSignals()
    wait_for_task(widget)
    out = save(widget, "imageembedding")
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
