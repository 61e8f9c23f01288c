"""Screenshot of Save Image Classifier after saving a model trained on the
bundled Fashion-MNIST sample (offscreen; the file goes to a temporary folder).

    .venv/bin/python doc/screenshots/saveimageclassifier.py
"""
import shutil
import tempfile
from pathlib import Path

from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab import ImageClassifierLearner, import_images
    from orangecontrib.imagelab.widgets.owsaveimageclassifier import OWSaveImageClassifier

    application()
    model = ImageClassifierLearner()(import_images(SAMPLE / "fashion" / "labelled").data)
    model.name = "Image Classifier"
    folder = Path(tempfile.mkdtemp())
    widget = OWSaveImageClassifier()
    widget.filename = str(folder / "fashion.onnx")
    widget.set_model(model)
    widget.save_file()
    wait_for_task(widget)
    out = save(widget, "saveimageclassifier")
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
