"""Screenshot of Image Viewer on the bundled photos (offscreen).

    .venv/bin/python doc/screenshots/imageviewer.py
"""
from _shot import SAMPLE, application, save, wait_for_thumbnails


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer

    application()
    data = import_images(SAMPLE / "photos").data
    widget = OWImageViewer()
    widget.cell_size = 150
    widget._on_cell_size()
    widget.resize(1000, 620)
    widget.show()
    widget.set_data(data)
    names = [v for v in data.domain.metas if v.name in ("image name", "name", "file")]
    if names or widget.title_model:
        widget.title_var = names[0] if names else widget.image_var
        widget._update_titles()
    widget.view.select([2, 5])
    wait_for_thumbnails(widget)
    out = save(widget, "imageviewer", fit=False)
    print(f"saved {out}: {len(data)} images")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
