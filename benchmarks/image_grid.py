"""Image Grid side by side with orange3-imageanalytics' Image Grid.

    .venv/bin/python benchmarks/image_grid.py [--n 1000] [--big 10000] [--no-peer]

Makes ``n`` JPEG photos (640×480, crops of scikit-image's sample photos) and
one table with an image column and 1,000 random "embedding" features
(clustered by source photo), saved as .tab so both add-ons read the same
file. Each measurement runs in a fresh process (peak memory is that
process's maxrss, Orange and Qt included). Figures:

* first thumbnail on screen: from sending the data to the first thumbnail
  decoded and painted;
* layout done: from sending the data to the final grid;
* longest GUI block: the largest gap between ticks of a 10 ms QTimer while
  the widget receives the data, lays it out and loads the visible thumbnails;
* for ours also ``--big`` rows (rows reuse the n image files cyclically;
  only visible thumbnails are decoded, so this measures layout and GUI), and
  Image Viewer with ``--viewer`` rows: input handling, paint times while
  jumping through the list (only visible tiles are decoded).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(os.environ.get("IMAGELAB_BENCH_DIR", "/tmp/imagelab-bench-grid"))
SOURCES = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
           "horse.png", "hubble_deep_field.jpg", "immunohistochemistry.png"]


def make_images(n: int) -> Path:
    from PIL import Image
    from tests.images import skimage_sample
    folder = WORK / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    photos = []
    for name in SOURCES:
        try:
            photos.append(Image.open(skimage_sample(name)).convert("RGB"))
        except (OSError, FileNotFoundError):
            pass
    for i in range(n):
        path = folder / f"photo_{i:05d}.jpg"
        if path.exists():
            continue
        photo = photos[i % len(photos)]
        w, h = photo.size
        cw, ch = int(w * rng.uniform(0.5, 1)), int(h * rng.uniform(0.5, 1))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        crop = photo.crop((x, y, x + cw, y + ch)).resize((640, 480), Image.BILINEAR)
        crop.save(path, quality=90)
    return folder


def make_table(n_rows: int, n_files: int, dims: int = 1000, fmt: str = "tab") -> Path:
    """A .tab (readable by both add-ons) or .pkl (ours only; faster for big tables)."""
    path = WORK / f"grid_{n_rows}.{fmt}"
    if path.exists():
        return path
    from orangecontrib.imagelab import tables
    folder = make_images(n_files)
    rng = np.random.default_rng(1)
    source = np.arange(n_rows) % len(SOURCES)
    centres = rng.normal(size=(len(SOURCES), dims)) * 3
    vectors = (centres[source] + rng.normal(size=(n_rows, dims))).astype(np.float32)
    names = [f"photo_{i % n_files:05d}.jpg" for i in range(n_rows)]
    table = tables.table_from_columns(
        [(tables.image_variable("image", str(folder)), names)]
        + tables.continuous_columns([f"n{j}" for j in range(dims)], vectors))
    table.save(str(path))
    return path


OURS = r"""
import json, resource, sys, time
from AnyQt.QtCore import QTimer
from AnyQt.QtWidgets import QApplication
app = QApplication([])
from Orange.data import Table
from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid

data = Table(sys.argv[1])
w = OWImageGrid()
w.resize(1200, 900)
w.show()
app.processEvents()
marks, gaps, slow = {}, [0.0], []
last = [None]

def tick():
    now = time.perf_counter()
    if last[0] is not None:
        gaps[0] = max(gaps[0], now - last[0])
        if now - last[0] > 0.05 and "t0" in marks:
            slow.append([round(last[0] - marks["t0"], 3), round(now - last[0], 3)])
    last[0] = now
    if "layout" in marks and w.view.loader.pending() == 0 and "visible" not in marks:
        marks["visible"] = now - marks["t0"]
        QTimer.singleShot(300, app.quit)

def on_loaded(*_):
    if "first" not in marks:
        w.view.viewport().repaint()
        marks["first"] = time.perf_counter() - marks["t0"]

done = w.on_done
def on_done(layout):
    done(layout)
    marks["layout"] = time.perf_counter() - marks["t0"]
w.on_done = on_done
w.view.loader.loaded.connect(on_loaded)

def start():
    marks["t0"] = time.perf_counter()
    last[0] = marks["t0"]
    w.set_data(data)
    w.handleNewSignals()

timer = QTimer(interval=10, timeout=tick)
timer.start()
QTimer.singleShot(50, start)
QTimer.singleShot(300_000, app.quit)
app.exec_()
print(json.dumps(dict(first=marks.get("first"), layout=marks.get("layout"),
                      visible=marks.get("visible"), block=gaps[0], slow=slow[:10],
                      shape=[int(s) for s in w.layout.shape] if w.layout else None,
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""

PEER = r"""
import json, resource, sys, time
from AnyQt.QtWidgets import QApplication
app = QApplication([])
from Orange.data import Table
from orangecontrib.imageanalytics.widgets.owimagegrid import OWImageGrid
data = Table(sys.argv[1])
w = OWImageGrid()
w.resize(1200, 900)
w.show()
app.processEvents()
t0 = time.perf_counter()
w.set_data(data)          # lays out and decodes every image, on the GUI thread
w.handleNewSignals()
app.processEvents()
t1 = time.perf_counter() - t0
shown = sum(1 for it in w.items if not it.widget.pixmap().isNull())
print(json.dumps(dict(first=t1, layout=t1, block=t1, shown=shown,
                      shape=[int(w.rows), int(w.columns)],
                      rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


VIEWER = r"""
import json, sys, time
from AnyQt.QtWidgets import QApplication
app = QApplication([])
from orangecontrib.imagelab import tables
from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer
origin, n, n_files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = tables.table_from_columns([(tables.image_variable("image", origin),
                                   [f"photo_{i % n_files:05d}.jpg" for i in range(n)])])
w = OWImageViewer(); w.resize(1200, 900); w.show(); app.processEvents()
t = time.perf_counter(); w.set_data(data); set_data = time.perf_counter() - t
t = time.perf_counter(); w.view.viewport().repaint(); first_paint = time.perf_counter() - t
while w.view.loader.pending():
    app.processEvents(); time.sleep(0.005)
visible_done = time.perf_counter() - t
bar, worst = w.view.verticalScrollBar(), 0.0
for value in range(0, bar.maximum() + 1, max(1, bar.maximum() // 50)):
    bar.setValue(value)
    t = time.perf_counter(); w.view.viewport().repaint()
    worst = max(worst, time.perf_counter() - t)
    app.processEvents()
print(json.dumps(dict(set_data=set_data, first_paint=first_paint, visible_done=visible_done,
                      worst_paint=worst, visible=len(w.view.visible_indices()))))
"""


def run_ours(table: Path, code: str = OURS, *args: str) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, str(table), *args], capture_output=True,
                         text=True, env=env, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--viewer", type=int, default=20000,
                        help="rows for the Image Viewer check (0: skip)")
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    table = make_table(args.n, args.n)
    print(f"{args.n:,} JPEGs 640×480, 1,000 features; table {table}")
    ours = run_ours(table)
    print(f"ours: first thumbnail on screen {ours['first']:.2f} s, layout done "
          f"{ours['layout']:.2f} s (grid {ours['shape']}), visible thumbnails done "
          f"{ours['visible']:.2f} s, longest GUI block {ours['block'] * 1000:.0f} ms, "
          f"peak memory {ours['rss_mb']:.0f} MB")
    if os.environ.get("IMAGELAB_BENCH_DEBUG"):
        print("  GUI gaps > 50 ms (start s, length s):", ours["slow"])
    if not args.no_peer:
        from benchmarks._peer import run_in_peer
        peer = run_in_peer(PEER, str(table))
        print(f"peer: first thumbnail on screen {peer['first']:.2f} s, layout done "
              f"{peer['layout']:.2f} s (grid {peer['shape']}, {peer['shown']} shown), "
              f"GUI blocked {peer['block']:.2f} s, peak memory {peer['rss_mb']:.0f} MB")
        print(f"ratio peer/ours: first thumbnail {peer['first'] / ours['first']:.1f}×, "
              f"layout {peer['layout'] / ours['layout']:.1f}×, GUI block "
              f"{peer['block'] / ours['block']:.0f}×, memory "
              f"{peer['rss_mb'] / ours['rss_mb']:.1f}×")
    if args.big:
        big = run_ours(make_table(args.big, args.n, fmt="pkl"))
        print(f"ours, {args.big:,} rows: first thumbnail {big['first']:.2f} s, layout done "
              f"{big['layout']:.2f} s (grid {big['shape']}), longest GUI block "
              f"{big['block'] * 1000:.0f} ms, peak memory {big['rss_mb']:.0f} MB")
        if os.environ.get("IMAGELAB_BENCH_DEBUG"):
            print("  GUI gaps > 50 ms (start s, length s):", big["slow"])
    if args.viewer:
        v = run_ours(WORK / "images", VIEWER, str(args.viewer), str(args.n))
        print(f"ours, Image Viewer with {args.viewer:,} rows: set_data "
              f"{v['set_data'] * 1000:.0f} ms, first paint {v['first_paint'] * 1000:.0f} ms, "
              f"{v['visible']} visible thumbnails decoded in {v['visible_done']:.2f} s, "
              f"slowest repaint over 50 scroll positions {v['worst_paint'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
