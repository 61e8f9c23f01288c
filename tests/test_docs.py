"""The documentation builds with Sphinx without a warning, and covers every widget."""
import os
import subprocess
import sys

from orangewidget.workflow.discovery import widget_desc_from_module

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "doc")
WIDGET_MODULES = ["owimportimages", "owimageembedding", "owimagegrid", "owimageviewer",
                  "owimagelabels", "owsaveimages", "owpredictionstofolders",
                  "owlabelimages", "owsnapshot", "owimageissues", "owcropboxes",
                  "owdatasetsubset", "owdownloadimages", "owimageclassifier",
                  "owsaveimageclassifier"]


def test_sphinx_builds_without_warnings(tmp_path):
    subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", DOC,
                    str(tmp_path)], check=True)
    assert (tmp_path / "index.html").exists()
    for module in WIDGET_MODULES:
        assert (tmp_path / "widgets" / f"{module[2:]}.html").exists()


def test_every_widget_has_a_page_with_a_screenshot():
    for module in WIDGET_MODULES:
        desc = widget_desc_from_module(f"orangecontrib.imagelab.widgets.{module}")
        page = os.path.join(DOC, "widgets", f"{module[2:]}.md")
        with open(page, encoding="utf-8") as f:
            text = f.read()
        assert desc.name in text
        image = os.path.join(DOC, "widgets", "images", f"{module[2:]}.png")
        assert os.path.exists(image) and f"images/{module[2:]}.png" in text
