"""
Image Lab
=========

Widgets that import, embed, arrange, label and save images.
"""
import os

NAME = "Image Lab"
DESCRIPTION = "Organise, embed, label and save image collections, offline."
ICON = "icons/Category-ImageLab.svg"
BACKGROUND = "#C9E7F2"
PRIORITY = 1010

#: The help pages, built from doc/ into the package by scripts/build_help.py
#: (run by scripts/setup-env, and by setup.py when it builds a wheel). The
#: canvas's ``html-index`` help provider finds a widget's page by its name in
#: the index's list with id="widgets". Local files only: F1 works offline.
HELP_INDEX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "help", "index.html")

WIDGET_HELP_PATH = ((HELP_INDEX, None),)
