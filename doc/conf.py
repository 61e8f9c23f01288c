"""Sphinx configuration: `sphinx-build -b html doc doc/_build/html`."""
project = "Orange3 Image Lab"
author = "The Image Lab developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "screenshots"]
html_theme = "alabaster"
html_static_path = []
myst_heading_anchors = 2
