"""Dataset Subset speed and memory: ``select_subset`` on an Open Images-size
box file against pandas reading it whole, side by side.

    .venv/bin/python benchmarks/dataset_subset.py [--rows 2000000] [--classes 3]

Writes once (benchmarks/_work/dataset_subset/) Open Images-format metadata:
600 classes, a box file of ROWS rows (~7 boxes per image, rows sorted by
ImageID as published, class frequencies skewed like the real ones) and an
image list of its images. Then, each in a fresh process, picks CLASSES
classes of middling frequency:

  ours     api.subset.select_subset (streamed; every box of the classes)
  ours,cap the same with max_per_class=500 (two passes over the boxes)
  counts   api.subset.class_list: boxes and images of every class (what
           Dataset Subset shows while the user chooses), one streamed pass
  pandas   pandas.read_csv of the box file and the image list, filtered by
           LabelName and joined on ImageID: what one writes by hand

Prints seconds, the memory the work took (peak RSS minus the RSS after the
imports: Orange alone is ~200 MB) and the ratios. Target: ours < 30 s for
3 classes of 2 million rows on this machine, in bounded memory.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work" / "dataset_subset"
BOX_HEADER = ("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,"
              "IsTruncated,IsGroupOf,IsDepiction,IsInside\n")
IMAGE_HEADER = ("ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,"
                "Author,Title,OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation\n")

RSS = """
import os, resource
def rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
def rss_peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""

OURS = RSS + """
import json, sys, time
sys.path.insert(0, {root!r})
from orangecontrib.imagelab.api.subset import select_subset
base = rss_now()
start = time.perf_counter()
result = select_subset({folder!r}, {classes!r}, max_per_class={cap!r}, kinds=("boxes",))
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "images": len(result.images),
                  "boxes": len(result.boxes), "base": base, "peak": rss_peak()}}))
"""

COUNTS = RSS + """
import json, sys, time
sys.path.insert(0, {root!r})
from orangecontrib.imagelab.api.subset import class_list
base = rss_now()
start = time.perf_counter()
entries = class_list({folder!r})
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "images": sum(e.count.box_images for e in entries),
                  "boxes": sum(e.count.boxes for e in entries), "base": base,
                  "peak": rss_peak()}}))
"""

PANDAS = RSS + """
import json, time
import pandas as pd
base = rss_now()
start = time.perf_counter()
names = pd.read_csv({classes_file!r}, header=None, names=["mid", "name"])
mids = set(names[names["name"].isin({classes!r})]["mid"])
boxes = pd.read_csv({boxes_file!r})
boxes = boxes[boxes["LabelName"].isin(mids)]
images = pd.read_csv({images_file!r})
images = images[images["ImageID"].isin(set(boxes["ImageID"]))]
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "images": len(images), "boxes": len(boxes),
                  "base": base, "peak": rss_peak()}}))
"""


def make_metadata(rows: int) -> Path:
    import numpy as np

    folder = WORK / f"rows_{rows}"
    stamp = folder / ".complete"
    if stamp.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n_classes = 600
    mids = [f"/m/bench{k:03d}" for k in range(n_classes)]
    with open(folder / "class-descriptions-boxable.csv", "w") as f:
        f.writelines(f"{mid},Class {k}\n" for k, mid in enumerate(mids))
    weights = 1.0 / np.arange(1, n_classes + 1) ** 0.9  # a few classes are very common
    weights /= weights.sum()
    n_images = rows // 7
    per_image = rng.multinomial(rows - n_images, np.ones(n_images) / n_images) + 1
    labels = rng.choice(n_classes, size=rows, p=weights)
    coords = rng.random((rows, 4))
    with open(folder / "train-annotations-bbox.csv", "w") as boxes, \
            open(folder / "train-images-boxable-with-rotation.csv", "w") as images:
        boxes.write(BOX_HEADER)
        images.write(IMAGE_HEADER)
        row = 0
        for i in range(n_images):
            image_id = f"{i:016x}"
            images.write(f"{image_id},train,https://farm.example.org/{i}/{image_id}_o.jpg,"
                         f"https://www.example.org/photos/{i},"
                         "https://creativecommons.org/licenses/by/2.0/,"
                         f"https://www.example.org/people/{i % 9973},Someone {i % 9973},"
                         f"\"Photo {i}, taken somewhere\",{100000 + i},md5{i:x}==,,0\n")
            lines = []
            for _ in range(per_image[i]):
                x0, x1 = sorted(coords[row, :2])
                y0, y1 = sorted(coords[row, 2:])
                lines.append(f"{image_id},xclick,{mids[labels[row]]},1,{x0:.6f},{x1:.6f},"
                             f"{y0:.6f},{y1:.6f},0,0,0,0,0\n")
                row += 1
            boxes.writelines(lines)
    stamp.write_text("ok")
    return folder


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000,
                        help="box rows (default 2,000,000)")
    parser.add_argument("--classes", type=int, default=3, help="classes to pick (default 3)")
    args = parser.parse_args()
    folder = make_metadata(args.rows)
    classes = [f"Class {k}" for k in range(40, 40 + args.classes)]  # middling frequency
    size = sum(p.stat().st_size for p in folder.glob("*.csv"))
    sides = {
        "ours": OURS.format(root=str(ROOT), folder=str(folder), classes=classes, cap=None),
        "ours, max 500 per class": OURS.format(root=str(ROOT), folder=str(folder),
                                               classes=classes, cap=500),
        "ours, the class list counts": COUNTS.format(root=str(ROOT), folder=str(folder)),
        "pandas read_csv + filter": PANDAS.format(
            classes_file=str(folder / "class-descriptions-boxable.csv"),
            boxes_file=str(folder / "train-annotations-bbox.csv"),
            images_file=str(folder / "train-images-boxable-with-rotation.csv"),
            classes=classes),
    }
    results = {name: run(code) for name, code in sides.items()}
    print(f"{args.rows:,} box rows, {args.rows // 7:,} images, 600 classes "
          f"({size / 1e6:,.0f} MB of CSV); picking {', '.join(classes)}; "
          f"{os.cpu_count()} cores")
    for name, r in results.items():
        r["work"] = max(r["peak"] - r["base"], 1)
        print(f"  {name:<28} {r['seconds']:7.2f} s  memory for the work {r['work'] / 1e6:6.0f} MB"
              f" (peak {r['peak'] / 1e6:4.0f} MB, {r['base'] / 1e6:4.0f} MB after imports)  "
              f"({r['images']:,} images, {r['boxes']:,} boxes)")
    ours, peer = results["ours"], results["pandas read_csv + filter"]
    print(f"time ratio pandas/ours: {peer['seconds'] / ours['seconds']:.2f}x; "
          f"memory for the work, pandas/ours: {peer['work'] / ours['work']:.1f}x; "
          f"ours {ours['seconds']:.1f} s (target < 30 s)")


if __name__ == "__main__":
    main()
