"""Screenshot of Predictions to Folders after Orange's Predictions, on the
bundled Fashion-MNIST sample (offscreen).

A logistic regression is trained on 8x8 thumbnails of the labelled photos and
predicts the 40 new ones; Orange's Predictions widget (with probabilities
shown) feeds Predictions to Folders.

    .venv/bin/python doc/screenshots/predictionstofolders.py
"""
import shutil
import tempfile
from pathlib import Path

from _shot import SAMPLE as ALL_SAMPLES, application, save, wait_for_task

SAMPLE = ALL_SAMPLES / "fashion"


def thumbnails(table):
    """The table with 64 features: the grey 8x8 thumbnail of each image."""
    import numpy as np
    from orangecontrib.imagelab import tables
    from orangecontrib.imagelab.core.pixels.decoding import load_array
    pixels = np.array([load_array(loc, size=(8, 8)).mean(axis=2).ravel() / 255
                       for loc in tables.image_locations(table)])
    return tables.append_columns(table, attributes=tables.continuous_columns(
        [f"px{i}" for i in range(64)], pixels))


def main():
    from Orange.classification import LogisticRegressionLearner
    from Orange.widgets.evaluate.owpredictions import OWPredictions
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owpredictionstofolders import OWPredictionsToFolders

    application()
    train = thumbnails(import_images(SAMPLE / "labelled").data)
    new = thumbnails(import_images(SAMPLE / "new").data)
    model = LogisticRegressionLearner()(train)
    predictions = OWPredictions()
    predictions.set_data(new)
    predictions.insert_predictor(0, model)
    predictions.handleNewSignals()
    predictions.shown_probs = predictions.MODEL_PROBS  # "Classes known to the model"
    predictions._update_prediction_delegate()
    table = _predictions_output(predictions)

    work = Path(tempfile.mkdtemp()) / "new-sorted"
    widget = OWPredictionsToFolders()
    widget.set_predictions(table)
    widget.min_confidence, widget.review_below = 80, 50
    widget._options_changed()
    widget.set_folder(str(work))
    widget.commit.now()
    wait_for_task(widget)
    out = save(widget, "predictionstofolders")
    print(f"saved {out}: {widget.plan_label.text()}; {widget.info_label.text()}")
    for folder in sorted(p for p in work.iterdir() if p.is_dir()):
        print(f"  {folder.name}: {len(list(folder.iterdir()))} files")
    widget.onDeleteWidget()
    predictions.onDeleteWidget()
    shutil.rmtree(work.parent)


def _predictions_output(widget):
    """What Predictions sends on "Predictions", captured from its output."""
    captured = []
    widget.Outputs.selected_predictions.send = captured.append
    widget._commit_predictions()
    return captured[-1]


if __name__ == "__main__":
    main()
