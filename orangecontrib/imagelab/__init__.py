"""Orange3 Image Lab: the scripting API.

    >>> from orangecontrib.imagelab import import_images, embed_images
    >>> images = import_images("photos/").data
    >>> embedded = embed_images(images).data

Names are imported lazily, so ``import orangecontrib.imagelab`` stays cheap
and loads neither Qt nor onnxruntime.
"""
import importlib

#: The package version, set here only (setup.py reads it from this line).
__version__ = "0.1.0"

_API = {
    # name: module that defines it
    "import_images": "api.importing",
    "ImportResult": "api.importing",
    "embed_images": "api.embedding",
    "extract_features": "api.embedding",
    "available_models": "api.embedding",
    "EmbedResult": "api.embedding",
    "grid_layout": "core.vectors.layout",
    "GridLayout": "core.vectors.layout",
    "save_images": "api.saving",
    "sort_predictions": "api.saving",
    "SaveReport": "api.saving",
    "read_manifest": "api.saving",
    "SortReport": "api.saving",
    "detect_labels": "api.labels",
    "filter_by_label": "api.labels",
    "LabelFilterResult": "api.labels",
    "snapshot": "api.snapshots",
    "verify": "api.snapshots",
    "clone": "api.snapshots",
    "load_snapshot": "api.snapshots",
    "export_zip": "api.snapshots",
    "list_snapshots": "api.snapshots",
    "Snapshot": "api.snapshots",
    "VerifyReport": "api.snapshots",
    "read_boxes": "api.boxes",
    "write_boxes": "api.boxes",
    "crop_boxes": "api.boxes",
    "BoxesResult": "api.boxes",
    "CropResult": "api.boxes",
    "select_subset": "api.subset",
    "SubsetResult": "api.subset",
    "download_images": "api.download",
    "DownloadResult": "api.download",
    "find_issues": "api.issues",
    "IssueReport": "api.issues",
    "ImageClassifierLearner": "api.classifier",
    "ImageClassifierModel": "api.classifier",
    "Augment": "api.classifier",
    "augment_images": "api.classifier",
    "export_onnx": "api.classifier",
    "load_classifier": "api.classifier",
    "classify_images": "api.classifier",
    "Cancelled": "core.errors",
    "ImageError": "core.errors",
    "ClusterError": "core.errors",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_API[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
