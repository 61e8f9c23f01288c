"""Example workflows of Image Lab (Help → Example Workflows in the canvas)."""
import os

#: The workflow ``scripts/run`` opens: the whole story on the bundled sample.
MAIN_TUTORIAL = "sort-new-photos.ows"


def main_tutorial() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), MAIN_TUTORIAL)
