"""Show Image Grid on the bundled sample in a real window and save a screenshot.

Runs the "explore" tutorial headless up to the grid, shows the grid's window,
waits until the layout and the thumbnails are there, and grabs the window.
"""
import sys
import time
import warnings

from AnyQt.QtWidgets import QApplication


def main(out: str) -> int:
    warnings.filterwarnings("ignore")
    app = QApplication(sys.argv[:1])  # noqa: F841
    from orangecontrib.imagelab.tutorials.headless import run_workflow, TUTORIALS_DIR
    run = run_workflow(f"{TUTORIALS_DIR}/explore-photos.ows")
    grid = run.widgets["Image Grid"]
    grid.cell_size = 64
    grid._on_cell_size()
    grid.resize(1200, 820)
    grid.show()
    grid.raise_()
    start = time.perf_counter()
    while time.perf_counter() - start < 15:
        QApplication.processEvents()
        time.sleep(0.05)
    grid.grab().save(out)
    run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
