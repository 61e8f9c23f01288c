"""Image Issues against CleanVision 0.3.7 on the same planted set, in one run.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/image_issues.py              # 2,000 photos
    PYTHONPATH=$PWD .venv/bin/python benchmarks/image_issues.py --n 400      # quick

What it does:

1. **Plants** a set (``plant``; the planting script is this file): ``--n``
   files from real product photos of Fashion-MNIST (Debian's
   ``dataset-fashion-mnist``, the training split, ``--classes`` classes,
   equal counts), each upscaled to ``--side`` px (default 224, so files
   decode like small photos, not like 28-px icons), tinted with a random
   colour (the originals are grey; without a tint the grayscale check would
   flag every image) and saved as JPEG (quality 90) in one folder per class.
   About 2 % of the files each get one planted issue: exact copies (half
   byte copies, half the decoded pixels saved as PNG), near copies (resized to
   60-80 % and re-saved as JPEG quality 50-70), dark (pixels × 0.1-0.2), light
   (washed out to a 5th percentile above 0.95), blurry (Gaussian, radius
   2.5-4 % of the side), tiny (20-32 px), extreme aspect (one side 20-30 % of
   the other), grayscale (half grey JPEGs, half RGB JPEGs with equal
   channels) and blank frames (one colour: low information). Separately,
   ``--flips`` (5 %) of the untouched photos get a wrong class folder.
2. Runs **CleanVision** 0.3.7 (its default issue types, its default
   processes) in its own virtual environment (``--peer-python``; created with
   ``pip install cleanvision==0.3.7`` under ``../issues-venv`` by default) and
   times its ``find_issues``.
3. Runs **Image Lab's** pixel checks (quality, exact and pHash near
   duplicates) on the same files, cold (no cache), then again from the
   statistics cache; then embeds the set (the default model) and runs the
   embedding checks (near duplicates by cosine distance, outliers, label
   errors by out-of-fold logistic regression and confident learning).
4. Prints recall / precision per planted issue for both, wall times and the
   speed ratio; for the embedding checks also the average precision of their
   scores (how well they rank the planted files first, whatever the
   threshold), for each model of ``--models`` (e.g.
   ``--models efficientnet-lite0-int8,efficientnet-lite0``: int8 against float).

Why this set: no package here ships ~2,000 independent colour photos (scikit-
image and scikit-learn ship a few dozen; crops of them are not independent).
Fashion-MNIST's photos are real, labelled and plentiful; upscaling gives
them a photo's decode cost, the tint a colour photo's channels. Issues that
Fashion-MNIST has by nature (a few exact duplicates, ambiguous garments)
count against both tools alike, as they would on a real set.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
#: five garments that people tell apart without doubt (the bundled sample's)
FIVE = [0, 1, 3, 7, 8]
PLANTED = ["exact_duplicates", "near_duplicates", "dark", "light", "blurry", "odd_size",
           "odd_aspect_ratio", "grayscale", "low_information"]
#: our check -> CleanVision's issue type
CLEANVISION = {check: check for check in PLANTED}
DEFAULT_PEER = ROOT.parent / "issues-venv" / "bin" / "python"


# ------------------------------------------------------------------ planting

def read_fashion():
    def idx(name, offset):
        with gzip.open(FASHION / name, "rb") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)
    images = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = idx("train-labels-idx1-ubyte.gz", 8)
    return images, labels


def plant(folder: Path, *, n: int, side: int, classes, flips: float, rate: float,
          seed: int) -> dict:
    """Write the planted set under ``folder``; -> truth {issue: [relative paths]}."""
    rng = np.random.default_rng(seed)
    images, labels = read_fashion()
    per_issue = max(2, round(n * rate))
    extra = 2 * per_issue                     # exact and near copies are added files
    n_base = n - extra
    per_class = n_base // len(classes)
    chosen = []
    for c in classes:
        rows = rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
        chosen.extend((int(r), c) for r in rows)
    rng.shuffle(chosen)
    truth = {issue: [] for issue in PLANTED + ["label_errors"]}
    order = rng.permutation(len(chosen))
    modified = ["dark", "light", "blurry", "odd_size", "odd_aspect_ratio", "grayscale",
                "low_information"]
    plan = {}
    at = 0
    for issue in modified:
        for i in order[at:at + per_issue]:
            plan[int(i)] = issue
        at += per_issue
    sources_exact = order[at:at + per_issue]
    sources_near = order[at + per_issue:at + 2 * per_issue]
    at += 2 * per_issue
    flip_rows = set(int(i) for i in order[at:at + round(len(chosen) * flips)])

    def rgb_photo(row):
        grey = Image.fromarray(images[row], "L").resize((side, side), Image.LANCZOS)
        tint = rng.uniform(0.3, 1.0, 3)
        while tint.min() > 0.7 * tint.max():   # a clear colour, not a near-grey one
            tint = rng.uniform(0.3, 1.0, 3)
        tint /= tint.max()
        return Image.fromarray(
            (np.asarray(grey, float)[..., None] * tint).clip(0, 255).astype(np.uint8), "RGB")

    paths = []
    for i, (row, c) in enumerate(chosen):
        given = c
        if i in flip_rows:
            given = int(rng.choice([k for k in classes if k != c]))
        rel = f"{CLASS_NAMES[given]}/fm-{row:05d}.jpg"
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        photo = rgb_photo(row)
        issue = plan.get(i)
        pixels = np.asarray(photo, float)
        if issue == "dark":
            photo = Image.fromarray((pixels * rng.uniform(0.1, 0.2)).astype(np.uint8))
        elif issue == "light":
            photo = Image.fromarray(
                (255 - (255 - pixels) * rng.uniform(0.02, 0.04)).astype(np.uint8))
        elif issue == "blurry":
            photo = photo.filter(ImageFilter.GaussianBlur(side * rng.uniform(0.025, 0.04)))
        elif issue == "odd_size":
            small = int(rng.integers(20, 33))
            photo = photo.resize((small, small), Image.LANCZOS)
        elif issue == "odd_aspect_ratio":
            short = int(side * rng.uniform(0.2, 0.3))
            size = (side, short) if rng.random() < 0.5 else (short, side)
            photo = photo.resize(size, Image.LANCZOS)
        elif issue == "grayscale":
            grey = photo.convert("L")
            photo = grey if len(truth["grayscale"]) % 2 == 0 else grey.convert("RGB")
        elif issue == "low_information":
            photo = Image.new("RGB", photo.size, tuple(int(v) for v in rng.integers(60, 200, 3)))
        photo.save(path, quality=90)
        if issue:
            truth[issue].append(rel)
        if i in flip_rows:
            truth["label_errors"].append(rel)
        paths.append(rel)
    for k, i in enumerate(sources_exact):
        rel = paths[i]
        copy = rel[:-4] + "-copy" + (".jpg" if k % 2 == 0 else ".png")
        if k % 2 == 0:
            shutil.copyfile(folder / rel, folder / copy)
        else:  # the same decoded pixels, losslessly
            with Image.open(folder / rel) as im:
                im.convert("RGB").save(folder / copy)
        truth["exact_duplicates"] += [rel, copy]
    for i in sources_near:
        rel = paths[i]
        copy = rel[:-4] + "-small.jpg"
        with Image.open(folder / rel) as im:
            scale = rng.uniform(0.6, 0.8)
            im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS) \
                .save(folder / copy, quality=int(rng.integers(50, 71)))
        truth["near_duplicates"] += [rel, copy]
    return truth


def list_files(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.suffix in (".jpg", ".png"))


# ------------------------------------------------------------------ the two tools

PEER_CODE = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from cleanvision import Imagelab
folder, files = sys.argv[1], json.loads(open(sys.argv[2]).read())
start = time.perf_counter()
lab = Imagelab(filepaths=[folder + "/" + f for f in files])
lab.find_issues(verbose=False)
seconds = time.perf_counter() - start
issues = lab.issues
flags = {}
for column in issues.columns:
    if column.startswith("is_") and column.endswith("_issue"):
        name = column[3:-6]
        flags[name] = [f[len(folder) + 1:] for f in issues.index[issues[column]]]
print(json.dumps({"seconds": seconds, "flags": flags}))
"""


def run_cleanvision(python: Path, folder: Path, files) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(files, f)
    try:
        result = subprocess.run([str(python), "-c", textwrap.dedent(PEER_CODE), str(folder),
                                 f.name], capture_output=True, text=True, timeout=7200)
    finally:
        os.unlink(f.name)
    if result.returncode != 0:
        raise RuntimeError(f"CleanVision failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ours_pixels(folder: Path, files, *, use_cache: bool):
    from orangecontrib.imagelab.core.vectors import issues
    locations = [str(folder / f) for f in files]
    start = time.perf_counter()
    arrays = issues.find_issues_arrays(
        locations, checks=issues.PIXEL_CHECKS + ("near_duplicates",), use_cache=use_cache)
    seconds = time.perf_counter() - start
    flags = {check: [files[i] for i in np.flatnonzero(flag)]
             for check, flag in arrays.flags.items()}
    return seconds, flags, arrays


def ours_embedding(folder: Path, files, model: str):
    """Embed with ``model`` (timed apart) then the embedding checks with labels
    from the folders. -> (seconds, seconds, flags, scores); ``scores`` maps a
    check to {file: score}, lower meaning more likely an issue."""
    from orangecontrib.imagelab import embed_images, find_issues, import_images
    data = import_images(str(folder)).data
    start = time.perf_counter()
    embedded = embed_images(data, model=model).data
    embed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = find_issues(embedded, checks=("near_duplicates", "outliers", "label_errors"))
    seconds = time.perf_counter() - start
    names = list(embedded.get_column(embedded.domain["image"]))
    flags = {check: [names[i] for i in np.flatnonzero(flag)]
             for check, flag in report.arrays.flags.items()}
    scores = {check: dict(zip(names, values))
              for check, values in report.arrays.scores.items()}
    return embed_seconds, seconds, flags, scores


def average_precision(scores: dict, truth, exclude=()) -> float:
    """How well the scores rank the planted files first, whatever the
    threshold (scikit-learn's average precision; lower score = flagged first),
    leaving out the files of ``exclude``."""
    from sklearn.metrics import average_precision_score
    exclude = set(exclude)
    names = [name for name, value in scores.items()
             if np.isfinite(value) and name not in exclude]
    truth = set(truth)
    return average_precision_score([name in truth for name in names],
                                   [-scores[name] for name in names])


def score(flagged, truth):
    flagged, truth = set(flagged), set(truth)
    hits = len(flagged & truth)
    recall = hits / len(truth) if truth else float("nan")
    precision = hits / len(flagged) if flagged else float("nan")
    return recall, precision, len(flagged)


def fmt(recall, precision, count):
    if recall != recall:
        return "   -"
    p = "  -  " if precision != precision else f"{precision:5.2f}"
    return f"{recall:4.2f} / {p} ({count:4d})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="files in the set (default 2000)")
    parser.add_argument("--side", type=int, default=224, help="photo side in px (default 224)")
    parser.add_argument("--classes", type=int, choices=(5, 10), default=5,
                        help="Fashion-MNIST classes: 10 (all) or 5 (clearly distinct)")
    parser.add_argument("--flips", type=float, default=0.05, help="share of labels flipped")
    parser.add_argument("--rate", type=float, default=0.02, help="share of files per issue")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="folder for the set "
                        "(default: a temporary folder, removed at the end)")
    parser.add_argument("--peer-python", type=Path, default=DEFAULT_PEER,
                        help="Python with cleanvision==0.3.7 installed")
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--models", default="",
                        help="embedding models to compare, comma-separated (default: the "
                             "default model)")
    args = parser.parse_args(argv)
    if not FASHION.exists():
        sys.exit(f"{FASHION} is missing: apt-get install dataset-fashion-mnist")
    if not args.peer_python.exists():
        sys.exit(f"{args.peer_python} is missing: python3 -m venv "
                 f"{args.peer_python.parent.parent} && {args.peer_python.parent}/pip install "
                 "cleanvision==0.3.7")
    os.environ.setdefault("ORANGE_IMAGELAB_CACHE_DIR", tempfile.mkdtemp(prefix="issues-cache-"))
    work = args.work or Path(tempfile.mkdtemp(prefix="image-issues-"))
    folder = work / "photos"
    if folder.exists():
        shutil.rmtree(folder)
    classes = FIVE if args.classes == 5 else list(range(10))
    start = time.perf_counter()
    truth = plant(folder, n=args.n, side=args.side, classes=classes, flips=args.flips,
                  rate=args.rate, seed=args.seed)
    files = list_files(folder)
    (work / "truth.json").write_text(json.dumps(truth, indent=1))
    print(f"planted {len(files):,} files ({args.side} px, {args.classes} classes) in "
          f"{time.perf_counter() - start:.1f} s under {folder}", flush=True)

    peer = run_cleanvision(args.peer_python, folder, files)
    print(f"CleanVision find_issues: {peer['seconds']:.1f} s", flush=True)
    cold, ours, _ = ours_pixels(folder, files, use_cache=False)
    ours_pixels(folder, files, use_cache=True)           # fills the cache
    warm, _, _ = ours_pixels(folder, files, use_cache=True)
    print(f"Image Lab pixel checks: {cold:.1f} s cold, {warm:.1f} s from its cache", flush=True)
    from orangecontrib.imagelab.core.models import DEFAULT_MODEL
    models = [] if args.skip_embedding else (args.models.split(",") if args.models
                                             else [DEFAULT_MODEL])
    embedded = {}
    for model in models:
        embed_seconds, vector_seconds, flags, scores = ours_embedding(folder, files, model)
        embedded[model] = flags, scores
        print(f"Image Lab embedding ({model}) {embed_seconds:.1f} s, embedding checks "
              f"{vector_seconds:.1f} s", flush=True)

    print()
    print(f"{'issue':18} {'planted':>7}   {'CleanVision recall / precision':>31}   "
          f"{'Image Lab recall / precision':>29}")
    for issue in PLANTED:
        peer_score = score(peer["flags"].get(CLEANVISION[issue], []), truth[issue])
        our_score = score(ours.get(issue, []), truth[issue])
        print(f"{issue:18} {len(truth[issue]):7d}   {fmt(*peer_score):>31}   "
              f"{fmt(*our_score):>29}")
    for model, (flags, scores) in embedded.items():
        print(f"embedding checks with {model} (AP: average precision of the scores, "
              "whatever the threshold):")
        for label, check, planted in (("near (embedding)", "near_duplicates", "near_duplicates"),
                                      ("label errors", "label_errors", "label_errors")):
            peer_text = "" if check == "near_duplicates" else "(no such check)"
            # exact copies are the nearest of all; they have their own check
            ap = average_precision(scores[check], truth[planted],
                                   truth["exact_duplicates"] if check == "near_duplicates" else ())
            print(f"{label:18} {len(truth[planted]):7d}   {peer_text:>31}   "
                  f"{fmt(*score(flags[check], truth[planted])):>29}   AP {ap:.3f}")
        print(f"{'outliers':18} {'-':>7}   {'(no such check)':>31}   "
              f"{len(flags['outliers']):>24} flagged")
    print()
    print(f"pixel checks, {len(files):,} files: CleanVision {peer['seconds']:.1f} s, "
          f"Image Lab {cold:.1f} s cold ({peer['seconds'] / cold:.1f}x faster), "
          f"{warm:.1f} s from its cache ({peer['seconds'] / warm:.1f}x)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
