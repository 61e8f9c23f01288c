"""Write the tutorial workflows (.ows) from the specs below (run by hand; results committed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_tutorials.py

Workflows are written with orange-canvas-core's own writer, with settings as
literals (one exception, see ``predictions_with_probabilities``), so the files
stay readable and diffable. Sample
paths are relative to the workflow file ("../sample/..."), so they work on
any machine. Notes must not cover a node or its caption (and the status line
under it): tests/test_tutorial_layout.py measures that in the written files.
"""
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from AnyQt.QtWidgets import QApplication

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIALS = os.path.join(ROOT, "orangecontrib", "imagelab", "tutorials")
SORTED_FOLDER = "~/Image Lab/sorted photos"
SAVED_FOLDER = "~/Image Lab/saved images"
DOWNLOAD_FOLDER = "~/Image Lab/downloaded subset"
SNAPSHOT_FOLDER = "~/Image Lab/snapshots"


@dataclass
class Node:
    name: str          # the widget's name in the toolbox
    title: str
    position: Tuple[float, float]
    properties: Dict = field(default_factory=dict)
    ours: bool = True  # Image Lab's widget, or Orange's


@dataclass
class Workflow:
    file: str
    title: str
    description: str
    nodes: Dict[str, Node]
    links: List[Tuple[str, str, str, str]]        # source, output, sink, input
    notes: List[Tuple[Tuple[float, float, float, float], str]]  # rect, text


def source(path: str) -> Dict:
    """Import Images' settings for a sample folder, relative to the workflow.

    A RecentPath as a literal list: [abspath, prefix, relpath, title, sheet,
    file format]; the widget resolves prefix "basedir" + relpath when loaded.
    """
    title = path.rstrip("/").rsplit("/", 1)[-1]
    return {"recent_paths": [[path, "basedir", path, title, None, None]],
            "check_full": False}


def predictions_with_probabilities() -> Dict:
    """Orange's Predictions set to output "Classes known to the model" probabilities.

    New photos have no class, and for such data Predictions shows no
    probabilities by default; Predictions to Folders needs them for its
    confidence threshold. Predictions keeps this choice in a context, which
    Orange can only store pickled: the one non-literal setting in our tutorials.
    """
    from orangewidget.settings import Context
    model_probabilities = 2  # OWPredictions.MODEL_PROBS
    return {"context_settings": [Context(classes=(), values={"shown_probs": model_probabilities})]}


EXPLORE = Workflow(
    "explore-photos.ows", "Explore a photo collection",
    "Import photos, embed them with a neural network, look at them arranged by "
    "similarity, mark a group and save it into folders.",
    nodes={
        "import": Node("Import Images", "Import Images", (80, 200),
                       source("../sample/fashion/labelled")),
        "embed": Node("Image Embedding", "Image Embedding", (260, 200)),
        "grid": Node("Image Grid", "Image Grid", (460, 120)),
        "viewer": Node("Image Viewer", "Image Viewer", (460, 300)),
        "save": Node("Save Images", "Save Images", (660, 120),
                     {"folder": SAVED_FOLDER}),
        "table": Node("Data Table", "Data Table", (660, 300), ours=False),
    },
    links=[("import", "Data", "embed", "Images"),
           ("embed", "Embeddings", "grid", "Embeddings"),
           ("embed", "Embeddings", "viewer", "Data"),
           ("grid", "Selected Images", "save", "Data"),
           ("viewer", "Selected Images", "table", "Data")],
    notes=[((20, 20, 300, 110),
            "1. Import Images reads the bundled sample: 200 Fashion-MNIST photos in five "
            "class folders. Point it to your own folder or zip."),
           ((200, 400, 340, 90),
            "2. Image Embedding turns each image into 1,280 numbers with EfficientNet-Lite0, "
            "a model that ships with the add-on (no internet needed)."),
           ((730, 90, 300, 100),
            "3. In Image Grid, drag over images to mark a group (Shift: new group); "
            "Save Images writes the marked group into one folder per group.")])


SORT = Workflow(
    "sort-new-photos.ows", "Sort new photos with a trained model",
    "Train a classifier on labelled photos, check it with cross-validation, predict "
    "the classes of new photos and sort them into folders, with a review pile.",
    nodes={
        "import": Node("Import Images", "Labelled Photos", (60, 200),
                       source("../sample/fashion/labelled")),
        "embed": Node("Image Embedding", "Embed Labelled", (240, 200)),
        "learner": Node("Logistic Regression", "Logistic Regression", (440, 120), ours=False),
        "test": Node("Test and Score", "Test and Score", (660, 40), ours=False),
        "grid": Node("Image Grid", "Image Grid", (440, 300)),
        "import_new": Node("Import Images", "New Photos", (60, 440),
                           source("../sample/fashion/new")),
        "embed_new": Node("Image Embedding", "Embed New", (240, 440)),
        "predict": Node("Predictions", "Predictions", (660, 440), predictions_with_probabilities(),
                        ours=False),
        "folders": Node("Predictions to Folders", "Predictions to Folders", (860, 440),
                        {"folder": SORTED_FOLDER, "min_confidence": 80,
                         "use_review": True, "review_below": 50}),
        "viewer": Node("Image Viewer", "Review Pile", (1060, 440)),
    },
    links=[("import", "Data", "embed", "Images"),
           ("embed", "Embeddings", "learner", "Data"),
           ("embed", "Embeddings", "test", "Data"),
           ("learner", "Learner", "test", "Learner"),
           ("embed", "Embeddings", "grid", "Embeddings"),
           ("import_new", "Data", "embed_new", "Images"),
           ("embed_new", "Embeddings", "predict", "Data"),
           ("learner", "Model", "predict", "Predictors"),
           ("predict", "Predictions", "folders", "Predictions"),
           ("folders", "Review", "viewer", "Data")],
    notes=[((20, 10, 330, 100),
            "1. Labelled photos: one sub-folder per class (the bundled sample has five "
            "classes of Fashion-MNIST). Image Embedding turns them into numbers."),
           ((780, 20, 300, 90),
            "2. Logistic Regression learns the classes; Test and Score shows its "
            "cross-validated accuracy and AUC."),
           ((20, 520, 360, 90),
            "3. New photos, without labels, are embedded with the same model and "
            "Predictions applies the trained classifier."),
           ((660, 540, 380, 110),
            "4. Predictions to Folders writes each photo into its predicted class's folder "
            "when the model is sure, to _review when unsure. Press Save: nothing is "
            "overwritten or deleted.")])


CLEAN = Workflow(
    "clean-scraped-photos.ows", "Keep only the photos that show a label",
    "Name what each photo shows with an ImageNet model and keep only the photos of a "
    "chosen label, with a review pile for the uncertain ones.",
    nodes={
        "import": Node("Import Images", "Scraped Photos", (80, 200),
                       source("../sample/photos")),
        "labels": Node("Image Labels", "Image Labels", (280, 200),
                       {"label_text": "cat", "threshold": 50, "use_review": True,
                        "review_min": 20}),
        "matched": Node("Image Viewer", "Matched", (500, 100)),
        "review": Node("Image Viewer", "Review", (500, 300)),
        "save": Node("Save Images", "Save Images", (700, 100), {"folder": SAVED_FOLDER}),
        "table": Node("Data Table", "All Labels", (500, 460), ours=False),
    },
    links=[("import", "Data", "labels", "Images"),
           ("labels", "Matched", "matched", "Data"),
           ("labels", "Review", "review", "Data"),
           ("labels", "Matched", "save", "Data"),
           ("labels", "Labelled Images", "table", "Data")],
    notes=[((20, 20, 330, 110),
            "1. A 'scraped' set: real photos (a cat, coffee, an astronaut, a rocket) "
            "with near-duplicates. Image Labels names what each shows."),
           ((600, 200, 320, 90),
            "2. Type a label ('cat', 'bird', 'cup', ...): general names match all the "
            "classes under them. Matched photos go on; uncertain ones to Review.")])

CROP = Workflow(
    "crop-boxes-and-train.ows", "Crop boxes and train",
    "Import photos with object boxes (COCO, Open Images, Pascal VOC, YOLO or BigML), cut "
    "every box into an image of its own, embed the crops and learn their classes.",
    nodes={
        "import": Node("Import Images", "Photos with Boxes", (60, 200),
                       source("../sample/boxes")),
        "crop": Node("Crop Boxes", "Crop Boxes", (240, 200), {"padding": 10}),
        "photos": Node("Image Viewer", "Photos and Boxes", (240, 340)),
        "viewer": Node("Image Viewer", "Crops", (420, 340)),
        "embed": Node("Image Embedding", "Image Embedding", (420, 200)),
        "learner": Node("Logistic Regression", "Logistic Regression", (600, 100), ours=False),
        "test": Node("Test and Score", "Test and Score", (780, 200), ours=False),
    },
    links=[("import", "Boxes", "crop", "Boxes"),
           ("import", "Data", "photos", "Data"),
           ("import", "Boxes", "photos", "Boxes"),
           ("crop", "Crops", "viewer", "Data"),
           ("crop", "Crops", "embed", "Images"),
           ("embed", "Embeddings", "learner", "Data"),
           ("embed", "Embeddings", "test", "Data"),
           ("learner", "Learner", "test", "Learner")],
    notes=[((20, 20, 330, 120),
            "1. Import Images reads 30 photos of products on a table and their object boxes "
            "(a COCO file in annotations/). Its Boxes output has one row per box."),
           ((200, 440, 360, 110),
            "2. Image Viewer draws the boxes over the photos. Crop Boxes cuts each box (10% "
            "padding) into an image of its own, labelled with the box's class; Save Images "
            "could write them into class folders."),
           ((640, 300, 320, 90),
            "3. The crops are embedded and Logistic Regression learns the five classes; "
            "Test and Score cross-validates it.")])

SUBSET = Workflow(
    "subset-and-download.ows", "Subset a big data set and download it",
    "Pick three classes from a data set shared as metadata (Open Images format), download "
    "just those images, cut their object boxes out and learn the classes.",
    nodes={
        "subset": Node("Dataset Subset", "Dataset Subset", (60, 200), {
            # a RecentPath as a literal list, relative to the workflow (see source())
            "metadata_folder": ["../sample/openimages", "basedir", "../sample/openimages",
                                "openimages", None, None],
            "classes": ["Dress", "Footwear", "Handbag"]}),
        "download": Node("Download Images", "Download Images", (240, 200),
                         {"folder": DOWNLOAD_FOLDER}),
        "crop": Node("Crop Boxes", "Crop Boxes", (420, 200), {"padding": 10}),
        "viewer": Node("Image Viewer", "Crops", (600, 340)),
        "embed": Node("Image Embedding", "Image Embedding", (600, 200)),
        "learner": Node("Logistic Regression", "Logistic Regression", (780, 100), ours=False),
        "test": Node("Test and Score", "Test and Score", (960, 200), ours=False),
    },
    links=[("subset", "Images", "download", "Data"),
           ("subset", "Boxes", "download", "Boxes"),
           ("download", "Boxes", "crop", "Boxes"),
           ("crop", "Crops", "viewer", "Data"),
           ("crop", "Crops", "embed", "Images"),
           ("embed", "Embeddings", "learner", "Data"),
           ("embed", "Embeddings", "test", "Data"),
           ("learner", "Learner", "test", "Learner")],
    notes=[((20, 20, 360, 130),
            "1. Dataset Subset reads metadata in Open Images' formats (class names, image "
            "lists with URLs, boxes): here a bundled sample whose URLs point to its own "
            "photos. Three classes are checked; point it to the real Open Images files."),
           ((130, 330, 360, 110),
            "2. Download Images fetches just those images into ~/Image Lab/downloaded "
            "subset (16 at once; a rerun fetches only what is missing) and turns the "
            "boxes into pixels of the downloaded photos."),
           ((680, 330, 330, 90),
            "3. Crop Boxes cuts each box into an image; the crops are embedded and "
            "Logistic Regression learns the three classes, cross-validated.")])



#: The model the second branch of TRAIN_SHARE loads: trained by ``shared_model()``
#: on the labelled sample with the tutorial's settings, as Save Model would write it.
SHARED_MODEL = "fashion-classifier.pkcls"


def load_model(path: str) -> Dict:
    """Orange's Load Model set to a file next to the workflow. Load Model keeps its
    files as RecentPath objects, which Orange can only store pickled."""
    from orangewidget.utils.filedialogs import RecentPath
    return {"recent_paths": [RecentPath(path, "basedir", path, title=path)]}


CLASSIFIER_SETTINGS = {"augment": True, "copies": 2}

TRAIN_SHARE = Workflow(
    "train-share-classifier.ows", "Train and share an image classifier",
    "Train an image classifier straight from labelled photos, with augmented copies made "
    "inside each training fold only; check it with cross-validation; save it as one ONNX "
    "file; and, as the person it is shared with, load the saved model, predict new photos "
    "and sort them into folders.",
    nodes={
        "import": Node("Import Images", "Labelled Photos", (60, 160),
                       source("../sample/fashion/labelled")),
        "classifier": Node("Image Classifier", "Image Classifier", (260, 160),
                           dict(CLASSIFIER_SETTINGS)),
        "test": Node("Test and Score", "Test and Score", (480, 60), ours=False),
        "save": Node("Save Image Classifier", "Save Image Classifier", (480, 260)),
        "load": Node("Load Model", "Shared Model", (60, 460), load_model(SHARED_MODEL),
                     ours=False),
        "import_new": Node("Import Images", "New Photos", (60, 620),
                           source("../sample/fashion/new")),
        "predict": Node("Predictions", "Predictions", (280, 540),
                        predictions_with_probabilities(), ours=False),
        "folders": Node("Predictions to Folders", "Predictions to Folders", (500, 540),
                        {"folder": SORTED_FOLDER, "min_confidence": 80,
                         "use_review": True, "review_below": 50}),
    },
    links=[("import", "Data", "classifier", "Data"),
           ("classifier", "Learner", "test", "Learner"),
           ("classifier", "Embedded Images", "test", "Data"),
           ("classifier", "Model", "save", "Model"),
           ("load", "Model", "predict", "Predictors"),
           ("import_new", "Data", "predict", "Data"),
           ("predict", "Predictions", "folders", "Predictions")],
    notes=[((20, 10, 330, 110),
            "1. Labelled photos go straight into Image Classifier: a network that ships with "
            "the add-on + a trained head, with 2 augmented copies of each training image."),
           ((640, 20, 330, 120),
            "2. Test and Score cross-validates it. The copies are made inside each training "
            "fold, so no copy of a test photo is ever trained on. (Its Data is Image "
            "Classifier's Embedded Images: Test and Score needs feature columns.)"),
           ((640, 230, 330, 100),
            "3. Save Image Classifier writes one .onnx file that runs with onnxruntime "
            "alone (press Save as…)."),
           ((20, 320, 360, 100),
            "4. Sharing: Load Model reads a model saved with Save Model (here one trained on "
            "the same photos); Predictions applies it to new photos, no embedding step needed."),
           ((660, 470, 330, 90),
            "5. Predictions to Folders sorts the new photos by class, unsure ones into "
            "_review (press Save).")])



def shared_model(path: str) -> None:
    """Train the model TRAIN_SHARE's Load Model reads, and pickle it as Save Model does."""
    import pickle
    from orangecontrib.imagelab import Augment, ImageClassifierLearner, import_images
    data = import_images(os.path.join(TUTORIALS, "..", "sample", "fashion", "labelled")).data
    model = ImageClassifierLearner(augment=Augment(),
                                   copies=CLASSIFIER_SETTINGS["copies"])(data)
    model.name = "Image Classifier"
    with open(path, "wb") as f:
        pickle.dump(model, f, protocol=4)
LABEL_FREEZE = Workflow(
    "label-freeze-train.ows", "Label, freeze and train",
    "Label photos by keyboard, freeze them into a closed, versioned snapshot, train "
    "and score a model on the snapshot, then clone it, fix labels and freeze a second "
    "version that names the first as its parent.",
    nodes={
        "import": Node("Import Images", "Import Images", (60, 220),
                       source("../sample/fashion/labelled")),
        "label": Node("Label Images", "Label Images", (220, 220)),
        "snapshot": Node("Snapshot", "Snapshot", (380, 220),
                         {"folder": SNAPSHOT_FOLDER, "snapshot_name": "fashion"}),
        "embed": Node("Image Embedding", "Image Embedding", (560, 140)),
        "learner": Node("Logistic Regression", "Logistic Regression", (560, 20), ours=False),
        "test": Node("Test and Score", "Test and Score", (760, 80), ours=False),
        "fix": Node("Label Images", "Fix Labels", (560, 340)),
        "snapshot2": Node("Snapshot", "Snapshot v2", (760, 340),
                          {"folder": SNAPSHOT_FOLDER, "snapshot_name": "fashion"}),
    },
    links=[("import", "Data", "label", "Images"),
           ("label", "Labelled", "snapshot", "Data"),
           ("snapshot", "Snapshot", "embed", "Images"),
           ("embed", "Embeddings", "test", "Data"),
           ("learner", "Learner", "test", "Learner"),
           ("snapshot", "Clone", "fix", "Images"),
           ("fix", "Labelled", "snapshot2", "Data")],
    notes=[((20, 20, 330, 130),
            "1. Import Images reads the bundled sample (200 Fashion-MNIST photos, five "
            "classes). In Label Images, keys 1-9 give the selected photos a class, 0 "
            "clears, arrows move, Ctrl+Z undoes."),
           ((20, 300, 330, 130),
            "2. Snapshot: press Save to freeze the labelled photos into a closed version "
            "in ~/Image Lab/snapshots. The model learns from the snapshot only: Test and "
            "Score's report names the version."),
           ((400, 420, 440, 110),
            "3. A snapshot never changes. To fix labels, take its Clone: relabel in Fix "
            "Labels and press Save in Snapshot v2: a new version whose parent is the "
            "first. Verify in Snapshot catches any changed file.")])


CLEAN_LABELLED = Workflow(
    "clean-labelled-set.ows", "Clean a labelled set",
    "Find duplicates, bad images, outliers and likely label errors in a labelled set, "
    "look at them coloured by issue, fix the suspect labels and freeze the clean set.",
    nodes={
        "import": Node("Import Images", "Labelled Photos", (60, 220),
                       source("../sample/fashion/labelled")),
        "embed": Node("Image Embedding", "Image Embedding", (220, 220)),
        "issues": Node("Image Issues", "Image Issues", (380, 220),
                       {"ignored_issues": ["grayscale", "label_errors"]}),
        "grid": Node("Image Grid", "Issues by Colour", (580, 100)),
        "label": Node("Label Images", "Fix Labels", (580, 340), {"filter": "disagree"}),
        "snapshot": Node("Snapshot", "Snapshot", (760, 340),
                         {"folder": SNAPSHOT_FOLDER, "snapshot_name": "fashion-clean"}),
    },
    links=[("import", "Data", "embed", "Images"),
           ("embed", "Embeddings", "issues", "Images"),
           ("issues", "All", "grid", "Embeddings"),
           ("issues", "Clean", "label", "Images"),
           ("label", "Labelled", "snapshot", "Data")],
    notes=[((20, 20, 340, 140),
            "1. Image Issues checks every photo: duplicates, dark, blurry, odd sizes, "
            "outliers and likely label errors. Grayscale is unticked (the sample is grey) "
            "and so are label errors, so that Clean keeps those photos for fixing."),
           ((680, 40, 300, 100),
            "2. Image Grid shows all photos with a frame coloured by issue; select some "
            "to look closer."),
           ((20, 320, 380, 150),
            "3. Fix Labels gets the clean photos and shows those whose label disagrees "
            "with Image Issues' suggested label. Relabel them by keyboard, or select "
            "them (Ctrl+A) and accept the suggestions. Then press Save in Snapshot to "
            "freeze the cleaned set.")])

WORKFLOWS = [EXPLORE, SORT, CLEAN, CROP, SUBSET, TRAIN_SHARE, LABEL_FREEZE,
             CLEAN_LABELLED]


def find_description(registry, name: str, ours: bool):
    prefix = "orangecontrib.imagelab." if ours else "Orange."
    for desc in registry.widgets():
        if desc.name == name and desc.qualified_name.startswith(prefix):
            return desc
    raise LookupError(f"no widget {name!r} ({'Image Lab' if ours else 'Orange'})")


def build(workflow: Workflow, registry):
    from orangecanvas.scheme import (
        Scheme, SchemeLink, SchemeNode, SchemeTextAnnotation)
    scheme = Scheme(title=workflow.title, description=workflow.description)
    nodes = {}
    for key, spec in workflow.nodes.items():
        desc = find_description(registry, spec.name, spec.ours)
        node = SchemeNode(desc, title=spec.title, position=spec.position,
                          properties=dict(spec.properties))
        scheme.add_node(node)
        nodes[key] = node
    for source_key, output, sink_key, input_ in workflow.links:
        scheme.add_link(SchemeLink(nodes[source_key], output, nodes[sink_key], input_))
    for rect, text in workflow.notes:
        scheme.add_annotation(SchemeTextAnnotation(rect, text))
    return scheme


def main() -> int:
    app = QApplication(sys.argv[:1])  # noqa: F841
    from orangecanvas.scheme.readwrite import scheme_to_ows_stream
    from orangecontrib.imagelab.tutorials.headless import widget_registry
    registry = widget_registry()
    for workflow in WORKFLOWS:
        scheme = build(workflow, registry)
        path = os.path.join(TUTORIALS, workflow.file)
        with open(path, "wb") as f:
            scheme_to_ows_stream(scheme, f, pretty=True, pickle_fallback=True)
        print(f"wrote {os.path.relpath(path, ROOT)}")
    path = os.path.join(TUTORIALS, SHARED_MODEL)
    shared_model(path)
    print(f"wrote {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
