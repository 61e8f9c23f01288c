"""Import N JPEGs (640×480, 5 class folders): Image Lab vs orange3-imageanalytics.

    .venv/bin/python benchmarks/import_images.py [--n 10000] [--repeat 3]

Prints the warm time of each (best of ``--repeat`` after a warm-up run, same
folder, same run), the ratio ours / peer (target <= 1.0), and the longest
time the Import Images widget's GUI thread went without processing events
during each of three imports (a 5 ms QTimer measures the gaps). Python's
full garbage collection, when it happens to run during an import, holds the
GIL and shows up as one long gap; it scales with all objects in the process.
"""
import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from benchmarks._peer import run_in_peer  # noqa: E402

CLASSES = ("cats", "dogs", "birds", "fish", "horses")

PEER_CODE = """
import json, sys, time
from AnyQt.QtCore import QCoreApplication
app = QCoreApplication([])
from orangecontrib.imageanalytics.import_images import ImportImages
folder, repeat = sys.argv[1], int(sys.argv[2])
table, n_skipped = ImportImages()(folder)  # warm-up
times = []
for _ in range(repeat):
    t = time.perf_counter()
    table, n_skipped = ImportImages()(folder)
    times.append(time.perf_counter() - t)
print(json.dumps({"time": min(times), "rows": len(table), "skipped": n_skipped}))
"""


def make_images(n: int) -> Path:
    """benchmarks/_work/import-<n>/<class>/img_<i>.jpg, made once and reused."""
    import numpy as np
    from PIL import Image

    folder = ROOT / "benchmarks" / "_work" / f"import-{n}"
    stamp = folder / ".complete"
    if stamp.exists():
        return folder
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640]
    variants = []
    for k in range(25):  # 25 distinct photos-like JPEGs, written round-robin
        base = np.stack([(x * (k + 1) / 10 + y / 3) % 256, (y * (k % 7 + 1) / 5) % 256,
                         (x + y + 10 * k) % 256], axis=-1)
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG", quality=85)
        variants.append(buf.getvalue())
    for i in range(n):
        path = folder / CLASSES[i % len(CLASSES)] / f"img_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(variants[i % len(variants)])
    stamp.write_text("ok\n")
    return folder


def time_ours(folder: Path, repeat: int):
    from orangecontrib.imagelab import import_images
    result = import_images(folder)  # warm-up (page cache, imports)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = import_images(folder)
        times.append(time.perf_counter() - start)
    return min(times), result


def gui_gaps(folder: Path, runs: int = 3):
    """For each of ``runs`` imports in one widget: (longest GUI-thread gap in s,
    total s, rows). A gap is the time between two ticks of a 5 ms QTimer."""
    from AnyQt.QtCore import QTimer
    from AnyQt.QtWidgets import QApplication
    from orangecontrib.imagelab.widgets.owimportimages import OWImportImages

    app = QApplication.instance() or QApplication([])
    widget = OWImportImages()
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=5, timeout=tick)
    timer.start()
    results = []
    for _ in range(runs):
        gaps.clear()
        start = last[0] = time.perf_counter()
        widget.set_path(str(folder))
        while widget.task is not None:
            app.processEvents()
            time.sleep(0.001)
        app.processEvents()  # deliver the outputs
        results.append((max(gaps), time.perf_counter() - start, widget.result.n_images))
    timer.stop()
    widget.onDeleteWidget()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()

    t = time.perf_counter()
    folder = make_images(args.n)
    print(f"images: {args.n:,} JPEGs 640x480 in {folder} "
          f"(ready in {time.perf_counter() - t:.1f} s)")

    ours, result = time_ours(folder, args.repeat)
    print(f"Image Lab import_images, warm: {ours:.3f} s "
          f"({args.n / ours:,.0f} images/s; {result.n_images:,} rows, "
          f"{len(result.skipped)} skipped)")
    if not args.no_peer:
        peer = run_in_peer(PEER_CODE, str(folder), str(args.repeat))
        print(f"orange3-imageanalytics ImportImages, warm: {peer['time']:.3f} s "
              f"({args.n / peer['time']:,.0f} images/s; {peer['rows']:,} rows, "
              f"{peer['skipped']} skipped)")
        print(f"ratio ours/peer: {ours / peer['time']:.2f} (target <= 1.0)")

    for i, (gap, total, rows) in enumerate(gui_gaps(folder), start=1):
        print(f"widget, import {i}: {rows:,} images in {total:.3f} s; longest "
              f"GUI-thread gap {gap * 1000:.0f} ms (5 ms timer)")


if __name__ == "__main__":
    main()
