"""100,000 images in the canvas: import, viewer, embedding memory, grid sample.

    .venv/bin/python benchmarks/scale.py --work /tmp/imagelab-scale [--n 100000]
        [--only import,viewer,embedding,grid] [--embed-n N] [--no-peer]

Makes ``--n`` small distinct JPEGs (96×72, 10 class folders) under
``--work`` once (a few minutes; reused afterwards), then measures, each in a
fresh process (Orange and Qt included in every memory figure):

* **import**: ``import_images`` of the folder, warm (best of 3 after a
  warm-up), against orange3-imageanalytics' ``ImportImages`` on the same
  folder in the same run (its own venv, see ``_peer.py``); and the longest
  time the Import Images widget's GUI thread did not process events (a 5 ms
  QTimer heartbeat) while it imported the folder and sent the table;
* **viewer**: Image Viewer given the ``--n`` rows: the longest GUI block
  while it takes the data, and while it scrolls through the whole list (40
  jumps, each painted and its thumbnails decoded before the next), against
  the peer's Image Viewer on the same table with a time limit;
* **embedding**: peak memory (maxrss) of the Image Embedding widget
  embedding ``--embed-n`` rows (default all) with the cache under
  ``--work`` (the first run computes and fills it; later runs read it, which
  the figure says), and, side by side, building the output table from the
  same vectors the round-1 way (``vectors[ok]`` + ``Table.transform`` +
  ``set_column``) against the way now (one float64 X filled in slices);
* **grid**: Image Grid given ``--n`` rows of 1,280 synthetic embedding
  features (clustered): time from the input to the final layout of the
  sample (default size 10,000) and the longest GUI block; against laying out
  all rows the round-1 way, stopped after ``--grid-limit`` seconds.

Figures depend on the load of the machine; the script prints it (os.getloadavg).
"""
import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLASSES = 10
SIZE = (96, 72)


# ---------------------------------------------------------------- the data set

def make_images(work: Path, n: int) -> Path:
    """``work/images-<n>/class_<k>/img_<i>.jpg``, distinct files, made once."""
    from PIL import Image

    folder = work / f"images-{n}"
    stamp = folder / ".complete"
    if stamp.exists():
        return folder
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w]
    bases = []
    for k in range(CLASSES):  # one colour scheme per class
        base = np.stack([(x * (k + 2) * 3 + y) % 256, (y * (k + 1) * 4) % 256,
                         (x + y + 25 * k) % 256], axis=-1).astype(np.int16)
        bases.append(base)
    tiles = rng.integers(-30, 31, size=(64, h, w, 3), dtype=np.int16)
    for k in range(CLASSES):
        (folder / f"class_{k}").mkdir(parents=True, exist_ok=True)
    bits = 1 << np.arange(20)
    for i in range(n):
        k = i % CLASSES
        pixels = bases[k] + tiles[(i * 7) % 64]
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
        # the index as a bar code on the first row: every file differs
        pixels[0, :20] = np.where(i & bits, 255, 0)[:, None]
        path = folder / f"class_{k}" / f"img_{i:06d}.jpg"
        Image.fromarray(pixels).save(path, quality=80)
        if i and i % 20000 == 0:
            print(f"  made {i:,} images ({time.perf_counter() - start:.0f} s)", flush=True)
    stamp.write_text("ok\n")
    print(f"made {n:,} JPEGs {w}×{h} in {time.perf_counter() - start:.0f} s: {folder}")
    return folder


def run_python(code: str, *args, env=None, python=sys.executable, timeout=3600) -> dict:
    """Run ``code`` in a fresh process; it prints one JSON object last."""
    environ = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
                   **(env or {}))
    result = subprocess.run([str(python), "-c", textwrap.dedent(code), *map(str, args)],
                            capture_output=True, text=True, timeout=timeout, env=environ)
    if result.returncode != 0:
        raise RuntimeError(f"measurement failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# A heartbeat: the longest gap between ticks of a 5 ms QTimer is the longest
# time the GUI thread did not process events.
HEARTBEAT = """
import time
from AnyQt.QtCore import QTimer

class Heartbeat:
    def __init__(self, interval=5):
        self.gaps = []
        self.last = None
        self.timer = QTimer(interval=interval, timeout=self.tick)
    def tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now
    def start(self):
        self.gaps, self.last = [], time.perf_counter()
        self.timer.start()
    def stop(self):
        self.tick()
        self.timer.stop()
        return max(self.gaps, default=0.0)
"""


PEAK = "__import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss / 1024"

# A widget with Orange's test signal manager, so its outputs go somewhere.
WIDGET = HEARTBEAT + """
import json, sys, time
from AnyQt.QtCore import QEventLoop, QTimer
from AnyQt.QtWidgets import QApplication
app = QApplication([])
from orangewidget.tests.base import DummySignalManager

def make(cls, **kwargs):
    widget = cls.__new__(cls, signal_manager=DummySignalManager(), **kwargs)
    widget.__init__()
    return widget

def wait(until, limit):
    \"\"\"Run the event loop until ``until()`` (checked every 10 ms) or ``limit`` s.\"\"\"
    loop = QEventLoop()
    start = time.perf_counter()
    def check():
        if until() or time.perf_counter() - start > limit:
            loop.quit()
    timer = QTimer(interval=10, timeout=check)
    timer.start()
    loop.exec_()
    timer.stop()
    return until()
"""


# ---------------------------------------------------------------- import

IMPORT_OURS = """
import json, sys, time
from orangecontrib.imagelab import import_images
folder, repeat = sys.argv[1], int(sys.argv[2])
result = import_images(folder)           # warm-up: the files' pages in memory
times = []
for _ in range(repeat):
    start = time.perf_counter()
    result = import_images(folder)
    times.append(time.perf_counter() - start)
print(json.dumps({"time": min(times), "rows": result.n_images, "skipped": len(result.skipped)}))
"""

IMPORT_PEER = """
import json, sys, time
from AnyQt.QtCore import QCoreApplication
app = QCoreApplication([])
from orangecontrib.imageanalytics.import_images import ImportImages
folder, repeat = sys.argv[1], int(sys.argv[2])
table, n_skipped = ImportImages()(folder)  # warm-up
times = []
for _ in range(repeat):
    start = time.perf_counter()
    table, n_skipped = ImportImages()(folder)
    times.append(time.perf_counter() - start)
print(json.dumps({"time": min(times), "rows": len(table), "skipped": n_skipped}))
"""

IMPORT_WIDGET = WIDGET + """
from orangecontrib.imagelab.widgets.owimportimages import OWImportImages
folder = sys.argv[1]
blocks, times = [], []
for _ in range(3):
    widget = make(OWImportImages)
    beat = Heartbeat()
    beat.start()
    start = time.perf_counter()
    widget.set_path(folder)
    wait(lambda: widget.result is not None and widget.task is None, 600)
    times.append(time.perf_counter() - start)
    wait(lambda: False, 0.2)   # let what the output triggered run
    blocks.append(beat.stop())
    rows = widget.result.n_images
    widget.onDeleteWidget()
print(json.dumps({"block": max(blocks), "blocks": blocks, "time": min(times), "rows": rows}))
"""


def measure_import(folder: Path, peer: bool) -> dict:
    ours = run_python(IMPORT_OURS, folder, 3)
    widget = run_python(IMPORT_WIDGET, folder)
    out = {"ours": ours, "widget": widget}
    if peer:
        from benchmarks._peer import run_in_peer
        out["peer"] = run_in_peer(IMPORT_PEER, str(folder), "3")
    return out


# ---------------------------------------------------------------- viewer

VIEWER_OURS = WIDGET + """
import pickle
from orangecontrib.imagelab.widgets.owimageviewer import OWImageViewer
with open(sys.argv[1], "rb") as f:
    data = pickle.load(f)
jumps = int(sys.argv[2])
widget = make(OWImageViewer)
widget.resize(1200, 900)
widget.show()
wait(lambda: False, 0.3)
paints = []
paint = widget.view.paintEvent
def timed(event):
    t = time.perf_counter()
    paint(event)
    paints.append(time.perf_counter() - t)
widget.view.paintEvent = timed
def shown(before):
    \"\"\"Painted since ``before`` paints, and every thumbnail asked for is in.\"\"\"
    return lambda: len(paints) > before and widget.view.loader.pending() == 0
beat = Heartbeat()
beat.start()
start = time.perf_counter()
widget.set_data(data)
widget.handleNewSignals()
wait(shown(0), 120)
wait(lambda: False, 0.2)
input_block, input_time = beat.stop(), time.perf_counter() - start
bar = widget.view.verticalScrollBar()
beat.start()
start = time.perf_counter()
for k in range(jumps + 1):
    before = len(paints)
    bar.setValue(round(bar.maximum() * k / jumps))
    # each position painted and its thumbnails decoded before the next jump
    wait(shown(before), 60)
scroll_block, scroll_time = beat.stop(), time.perf_counter() - start
# then a fast drag through the first 2,000 rows, one small step per event
beat.start()
for value in range(0, min(bar.maximum(), 2000 // 8 * widget.view.pitch().height()),
                   widget.view.pitch().height() // 2):
    bar.setValue(value)
    app.processEvents()
drag_block = beat.stop()
print(json.dumps({"input_block": input_block, "input_time": input_time,
                  "scroll_block": scroll_block, "scroll_time": scroll_time,
                  "drag_block": drag_block, "worst_paint": max(paints),
                  "rows": len(data), "visible": len(widget.view.visible_indices()),
                  "rss_mb": """ + PEAK + """}))
"""

VIEWER_PEER = HEARTBEAT + """
import json, pickle, sys, threading, time
from AnyQt.QtWidgets import QApplication
app = QApplication([])
from orangecontrib.imageanalytics.widgets.owimageviewer import OWImageViewer
with open(sys.argv[1], "rb") as f:
    data = pickle.load(f)
widget = OWImageViewer()
widget.resize(1200, 900)
widget.show()
app.processEvents()
start = time.perf_counter()
widget.setData(data)        # builds every item on the GUI thread
widget.handleNewSignals()
app.processEvents()
print(json.dumps({"input_block": time.perf_counter() - start, "rows": len(data)}))
"""


def image_table(folder: Path, n: int) -> Path:
    """The images as Import Images makes them, pickled once (``--work``)."""
    path = folder.parent / f"images-{n}.pkl"
    if not path.exists():
        run_python("""
import pickle, sys
from orangecontrib.imagelab import import_images
data = import_images(sys.argv[1]).data
with open(sys.argv[2], "wb") as f:
    pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
print("{}")
""", folder, path)
    return path


def measure_viewer(folder: Path, n: int, peer: bool, limit: float) -> dict:
    table = image_table(folder, n)
    out = {"ours": run_python(VIEWER_OURS, table, 40)}
    if peer:
        from benchmarks._peer import run_in_peer
        try:
            out["peer"] = run_in_peer(VIEWER_PEER, str(table), timeout=limit)
        except subprocess.TimeoutExpired:
            out["peer"] = {"input_block": None, "limit": limit}
    return out


# ---------------------------------------------------------------- embedding

EMBED_WIDGET = WIDGET + """
import pickle
from orangecontrib.imagelab.widgets.owimageembedding import OWImageEmbedding
with open(sys.argv[1], "rb") as f:
    data = pickle.load(f)
data = data[:int(sys.argv[2])]
from orangecontrib.imagelab.core.models import DEFAULT_MODEL
# the default model, whatever an earlier run left as the widget's saved default
widget = make(OWImageEmbedding, stored_settings={"method": DEFAULT_MODEL})
start = time.perf_counter()
widget.set_data(data)
wait(lambda: widget.result is not None and widget.task is None, 7200)
seconds = time.perf_counter() - start
result = widget.result
print(json.dumps({"time": seconds, "rows": len(data), "embedded": len(result.data),
                  "cached": result.cached, "model": widget.method,
                  "rss_mb": """ + PEAK + """}))
"""

TABLE_BUILD = """
import json, pickle, sys, time
import numpy as np
with open(sys.argv[1], "rb") as f:
    data = pickle.load(f)
data, how = data[:int(sys.argv[2])], sys.argv[3]
from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import embedding
rng = np.random.default_rng(0)
ok = np.ones(len(data), bool)
names = embedding.feature_column_names("efficientnet-lite0", 1280)
start = time.perf_counter()
if how == "now":   # the vectors written into the table's X as they come
    X = tables.attribute_matrix(data, 1280)
    for i in range(0, len(data), 4096):
        X[i:i + 4096, -1280:] = rng.standard_normal((len(X[i:i + 4096]), 1280))
    before = """ + PEAK + """
    table = embedding._split(data, X[:, -1280:], ok, names, [], [], "m", X=X).data
else:              # float32 vectors first, then a table built from them
    vectors = rng.standard_normal((len(data), 1280), dtype=np.float32)
    before = """ + PEAK + """
    if how == "round 1":   # vectors[ok], transform, set_column
        columns = tables.continuous_columns(names, vectors[ok], attributes={"embedding": "m"})
        table = tables.append_columns(data[np.flatnonzero(ok)], attributes=columns)
    else:                  # "beside": one float64 X filled from the vectors
        table = embedding._split(data, vectors, ok, names, [], [], "m").data
seconds = time.perf_counter() - start
print(json.dumps({"time": seconds, "before_mb": before, "rss_mb": """ + PEAK + """,
                  "shape": list(table.X.shape)}))
"""


def measure_embedding(folder: Path, n: int, embed_n: int, work: Path) -> dict:
    table = image_table(folder, n)
    cache = work / "cache"
    out = {"widget": run_python(EMBED_WIDGET, table, embed_n,
                                env={"ORANGE_IMAGELAB_CACHE_DIR": str(cache)}, timeout=20000)}
    for how in ("round 1", "beside", "now"):
        out[how] = run_python(TABLE_BUILD, table, n, how)
    return out


# ---------------------------------------------------------------- grid

GRID_TABLE = """
import numpy as np
from Orange.data import ContinuousVariable
from orangecontrib.imagelab import tables
def grid_table(images, dims=1280, clusters=20, seed=1):
    \"\"\"The images table plus ``dims`` clustered features (like an embedding).\"\"\"
    n = len(images)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dims)) * 3
    which = rng.integers(0, clusters, n)
    variables = [ContinuousVariable(f"f{j:04d}") for j in range(dims)]
    vectors = np.empty((n, dims), np.float32)
    for start in range(0, n, 8192):
        part = which[start:start + 8192]
        vectors[start:start + len(part)] = centres[part] + rng.normal(size=(len(part), dims))
    return tables.rows_with_matrix(images, np.arange(n), vectors, variables)
"""

GRID_OURS = WIDGET + GRID_TABLE + """
import pickle
from orangecontrib.imagelab.widgets.owimagegrid import OWImageGrid
with open(sys.argv[1], "rb") as f:
    data = grid_table(pickle.load(f))
widget = make(OWImageGrid)
widget.resize(1200, 900)
widget.show()
wait(lambda: False, 0.3)
beat = Heartbeat()
beat.start()
start = time.perf_counter()
widget.set_data(data)
widget.handleNewSignals()
wait(lambda: widget.layout is not None, 600)
seconds = time.perf_counter() - start
wait(lambda: widget.view.loader.pending() == 0, 60)
block = beat.stop()
# select a block of cells: the output rows must be rows of the input
widget.view.select(widget.view.indices_in(widget.view.viewport().rect()))
selected = widget.signalManager.outputs.get((widget, "Selected Images"))
ids_ok = selected is not None and bool(np.isin(selected.ids, data.ids).all())
info = " ".join(str(m) for m in widget.Information.active)
print(json.dumps({"layout": seconds if widget.layout is not None else None,
                  "block": block, "rows": len(data), "shown": widget.view.count(),
                  "selected": 0 if selected is None else len(selected), "ids_ok": ids_ok,
                  "message": info, "rss_mb": """ + PEAK + """}))
"""

GRID_ALL = GRID_TABLE + """
import json, pickle, sys, time
from orangecontrib.imagelab.api.layout import grid_layout, pca_map
with open(sys.argv[1], "rb") as f:
    data = grid_table(pickle.load(f))
start = time.perf_counter()
reduced = pca_map(data.X, n_components=50)
layout = grid_layout(reduced, n_jobs=1)
print(json.dumps({"layout": time.perf_counter() - start, "rows": len(data)}))
"""


def measure_grid(folder: Path, n: int, limit: float) -> dict:
    table = image_table(folder, n)
    out = {"ours": run_python(GRID_OURS, table)}
    try:
        out["all rows"] = run_python(GRID_ALL, table, timeout=limit)
    except subprocess.TimeoutExpired:
        out["all rows"] = {"layout": None, "limit": limit}
    return out


# ---------------------------------------------------------------- report

def seconds(value, limit=None) -> str:
    return f"> {limit:.0f} s (stopped)" if value is None else f"{value:.2f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for the images, tables and cache (not in the repository)")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--only", default="import,viewer,embedding,grid")
    parser.add_argument("--embed-n", type=int, default=None,
                        help="rows the Image Embedding widget embeds (default: all)")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip orange3-imageanalytics (its venv takes minutes to make)")
    parser.add_argument("--peer-limit", type=float, default=300,
                        help="seconds the peer's Image Viewer may take (default 300)")
    parser.add_argument("--grid-limit", type=float, default=300,
                        help="seconds the all-rows layout may take (default 300)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{args.n:,} images under {args.work}", flush=True)
    folder = make_images(args.work, args.n)
    peer = not args.no_peer
    rows = []

    if "import" in only:
        r = measure_import(folder, peer)
        ours = r["ours"]["time"]
        line = f"Import Images, {r['ours']['rows']:,} files, warm: {ours:.2f} s (target < 5 s)"
        if peer:
            line += f"; peer {r['peer']['time']:.2f} s; ours / peer = " \
                    f"{ours / r['peer']['time']:.2f}"
        rows.append(line)
        rows.append(f"Import Images widget, longest GUI block: {r['widget']['block']:.3f} s "
                    f"(target < 1 s; 3 imports of {r['widget']['rows']:,}, "
                    f"{r['widget']['time']:.1f} s each at best)")
        print(rows[-2], rows[-1], sep="\n", flush=True)

    if "viewer" in only:
        r = measure_viewer(folder, args.n, peer, args.peer_limit)
        o = r["ours"]
        rows.append(f"Image Viewer, {o['rows']:,} rows: longest GUI block taking the data "
                    f"{o['input_block'] * 1000:.0f} ms, scrolling through all of it (40 jumps) "
                    f"{o['scroll_block'] * 1000:.0f} ms, dragging {o['drag_block'] * 1000:.0f}"
                    f" ms; slowest paint {o['worst_paint'] * 1000:.0f} ms (target < 100 ms)")
        if peer:
            p = r["peer"]
            rows.append(f"  peer Image Viewer taking the data: "
                        f"{seconds(p['input_block'], p.get('limit'))} on the GUI thread; "
                        + (f"ours / peer = {o['input_block'] / p['input_block']:.4f}"
                           if p["input_block"] else "ours finished"))
        print(*rows[-2 if peer else -1:], sep="\n", flush=True)

    if "embedding" in only:
        r = measure_embedding(folder, args.n, args.embed_n or args.n, args.work)
        w = r["widget"]
        how = "computed (the cache was empty)" if not w["cached"] else \
            "all from the cache" if w["cached"] == w["rows"] else "partly from the cache"
        rows.append(f"Image Embedding widget, {w['rows']:,} images with {w['model']} ({how}; "
                    f"{w['cached']:,} cache hits): peak memory {w['rss_mb']:,.0f} MB "
                    f"(target < 2,048 MB), {w['time']:.0f} s")
        old, beside, new = r["round 1"], r["beside"], r["now"]
        rows.append(f"  an embedding table of {old['shape'][0]:,} × 1,280 vectors, peak memory "
                    f"of the process: {new['rss_mb']:,.0f} MB now (written into its X) vs "
                    f"{beside['rss_mb']:,.0f} MB (float32 vectors, then X) vs "
                    f"{old['rss_mb']:,.0f} MB round 1 (now / round 1 = "
                    f"{new['rss_mb'] / old['rss_mb']:.2f})")
        print(rows[-2], rows[-1], sep="\n", flush=True)

    if "grid" in only:
        r = measure_grid(folder, args.n, args.grid_limit)
        o, a = r["ours"], r["all rows"]
        rows.append(f"Image Grid, {o['rows']:,} rows: layout of {o['shown']:,} shown in "
                    f"{seconds(o['layout'])} (target < 30 s), longest GUI block "
                    f"{o['block']:.2f} s, {o['selected']} selected rows map to input rows: "
                    f"{o['ids_ok']}; says: {o['message']!r}")
        rows.append(f"  laying out all {a.get('rows', args.n):,} rows (round 1): "
                    f"{seconds(a['layout'], a.get('limit'))}")
        print(rows[-2], rows[-1], sep="\n", flush=True)

    print("\nSummary (load average now {:.1f}):".format(os.getloadavg()[0]))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
