"""Snapshot and verify N images, against `cp -r` and `sha256sum` of the same files, in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/snapshot.py            # 10,000 images
    PYTHONPATH=. .venv/bin/python benchmarks/snapshot.py --n 1000   # smaller
    PYTHONPATH=. .venv/bin/python benchmarks/snapshot.py --width 512  # 200 KB photos

Targets (issue 13): snapshot (hard-link mode) <= 1.5x the time of `sha256sum`
over the files; verify <= 1.2x `sha256sum`. Each figure is the best of
``--rounds`` runs (the page cache is warm for all of them alike); the snapshot
of each round goes to a new folder, so every round really writes.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time

import numpy as np
from PIL import Image


def make_photos(folder: str, n: int, seed: int = 0, width: int = 64) -> list:
    """n distinct JPEGs of noise in 10 class folders: 64 x 48 px, about 3 KB
    each (the worst case: the time goes to per-file work, not to hashing);
    ``width`` 512 makes them about 200 KB, more like real photos."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = os.path.join(folder, f"class{i % 10}", f"photo{i:05d}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pixels = rng.integers(0, 255, (width * 3 // 4, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, quality=85)
        paths.append(path)
    return paths


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=64,
                        help="photo width in px (default 64: 3 KB files; 512: 200 KB)")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()

    from orangecontrib.imagelab import import_images, snapshot, verify

    work = tempfile.mkdtemp(prefix="bench-snapshot-", dir=args.work)
    try:
        photos = os.path.join(work, "photos")
        paths = make_photos(photos, args.n, width=args.width)
        data = import_images(photos).data
        listing = os.path.join(work, "files.txt")
        with open(listing, "w") as f:
            f.write("\0".join(paths))

        def sha256sum():
            # xargs -0 so that 10,000 names fit; output discarded
            subprocess.run(f"xargs -0 sha256sum < '{listing}' > /dev/null", shell=True,
                           check=True)

        times = {"sha256sum": [], "cp -r": [], "snapshot": [], "verify": []}
        load_before = os.getloadavg()[0]
        snap = None
        for r in range(args.rounds):
            # sha256sum right before the snapshot and the verify it is compared with
            times["sha256sum"].append(timed(sha256sum))
            sets = os.path.join(work, f"sets{r}")
            start = time.perf_counter()
            snap = snapshot(data, sets, name="bench", link=True)
            times["snapshot"].append(time.perf_counter() - start)
            report = None

            def check():
                nonlocal report
                report = verify(snap.path)
            times["verify"].append(timed(check))
            assert report.ok and snap.n_rows == args.n, report.summary()
            target = os.path.join(work, f"copy{r}")
            times["cp -r"].append(timed(lambda: subprocess.run(
                ["cp", "-r", photos, target], check=True)))
        best = {k: min(v) for k, v in times.items()}
        print(f"{args.n:,} images, {sum(os.path.getsize(p) for p in paths) / 1e6:.1f} MB, "
              f"best of {args.rounds} rounds, {os.cpu_count()} cores, load average "
              f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
        for name, seconds in best.items():
            print(f"  {name:10s} {seconds:7.3f} s")
        print(f"snapshot (hard links) / sha256sum = {best['snapshot'] / best['sha256sum']:.2f}"
              f"  (target <= 1.5)")
        print(f"verify / sha256sum                = {best['verify'] / best['sha256sum']:.2f}"
              f"  (target <= 1.2)")
        print(f"snapshot / cp -r                  = {best['snapshot'] / best['cp -r']:.2f}")
        # On a busy machine the best times may come from different moments; the
        # ratio within each round (measured back to back) is the fairer figure.
        for name in ("snapshot", "verify"):
            ratios = sorted(t / b for t, b in zip(times[name], times["sha256sum"]))
            print(f"{name} / sha256sum per round: median {statistics.median(ratios):.2f}, "
                  f"range {ratios[0]:.2f}-{ratios[-1]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
