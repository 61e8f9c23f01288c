"""Sphinx configuration. `python scripts/build_help.py` builds the HTML into the
package (orangecontrib/imagelab/help/), where the canvas's F1 help reads it."""
project = "Orange3 Image Lab"
author = "The Image Lab developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "screenshots"]
html_theme = "alabaster"
html_static_path = []
myst_heading_anchors = 2


def _list_every_widget_page(app, docname, source):
    """Append to the widgets' toctree (``:name: widgets`` in index.md) every
    ``widgets/<name>.md`` it does not list yet.

    The canvas's F1 help finds a widget's page in that list (by title), so a
    new widget needs only its page; the hand-written entries keep the order in
    which a user meets the widgets, and new pages follow alphabetically.
    """
    if docname != "index":
        return
    import os
    import re
    text = source[0]
    block = re.search(r"```\{toctree\}\n(?:(?!```).)*?:name: widgets\n(?:(?!```).)*?```",
                      text, re.S)
    if block is None:
        return
    listed = set(re.findall(r"^(widgets/[\w-]+)\s*$", block.group(0), re.M))
    folder = os.path.join(app.srcdir, "widgets")
    missing = sorted(f"widgets/{name[:-3]}" for name in os.listdir(folder)
                     if name.endswith(".md") and f"widgets/{name[:-3]}" not in listed)
    if missing:
        end = block.end() - len("```")
        source[0] = text[:end] + "".join(f"{m}\n" for m in missing) + text[end:]


def setup(app):
    app.connect("source-read", _list_every_widget_page)
