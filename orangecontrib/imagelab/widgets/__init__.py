"""
Image Lab
=========

Widgets that import, embed, arrange, label and save images.
"""
import os
import sysconfig

NAME = "Image Lab"
DESCRIPTION = "Organise, embed, label and save image collections, offline."
ICON = "icons/Category-ImageLab.svg"
BACKGROUND = "#C9E7F2"
PRIORITY = 1010

_DOC_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "doc"))

WIDGET_HELP_PATH = (
    # A development checkout with docs built by `sphinx-build doc doc/_build/html`.
    (os.path.join(_DOC_ROOT, "_build", "html", "index.html"), None),
    # Docs installed with a wheel.
    (os.path.join(sysconfig.get_path("data"), "share", "help", "orange3-imagelab",
                  "index.html"), None),
)
