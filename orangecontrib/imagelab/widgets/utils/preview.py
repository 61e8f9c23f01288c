"""Data for the widgets' ``WidgetPreview`` blocks: the photos bundled with the package.

Only the installed package is used (no test helpers, no scikit-image), so
``python -m orangecontrib.imagelab.widgets.owimagegrid`` works from a wheel.
"""
import os

from Orange.data import Table

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "sample")


def sample_path(name: str = "photos") -> str:
    """A folder of the bundled sample: ``photos``, ``fashion/labelled`` or ``fashion/new``."""
    return os.path.join(SAMPLE, *name.split("/"))


def sample_images(name: str = "photos") -> Table:
    """The images of a bundled sample folder, as Import Images gives them."""
    from orangecontrib.imagelab.api.importing import import_images
    return import_images(sample_path(name)).data


def sample_embeddings(name: str = "fashion/labelled") -> Table:
    """A bundled sample with quick hand-made features (mean colours on grids)."""
    from orangecontrib.imagelab.api.embedding import extract_features
    return extract_features(sample_images(name), ["average_pixels"]).data


def sample_boxes(name: str = "boxes") -> Table:
    """The object boxes of the bundled sample scenes (a boxes table)."""
    from orangecontrib.imagelab.api.importing import import_images
    return import_images(sample_path(name)).boxes
