"""Screenshot of Image Labels on the bundled photos, filtering for "cat" (offscreen).

    .venv/bin/python doc/screenshots/imagelabels.py
"""
from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owimagelabels import OWImageLabels

    application()
    data = import_images(SAMPLE / "photos").data
    widget = OWImageLabels()
    widget.label_edit.setText("cat")
    widget.label_text = "cat"
    widget.use_review, widget.review_min = True, 10
    widget.set_data(data)
    widget.handleNewSignals()
    wait_for_task(widget)
    out = save(widget, "imagelabels")
    print(f"saved {out}: {widget.counts_label.text()}")
    result = widget.result
    if result is not None and result.labelled is not None:
        for name, labels in zip(result.labelled.get_column("image"),
                                result.labelled.get_column("labels")):
            print(f"  {name}: {labels}")
    widget.onDeleteWidget()


if __name__ == "__main__":
    main()
