"""Save Images speed: copy mode vs ``cp -r`` of the same files, link mode, a rerun.

    .venv/bin/python benchmarks/save_images.py [--n 10000] [--work DIR]

Makes N noisy 320x240 JPEGs (about 20-30 KB each) in 10 class folders once
under benchmarks/_work/ (or --work DIR, e.g. a RAM disk: /dev/shm/imagelab), then, in the
same run and on the same file system,
each into a fresh folder:
  cp -r            the baseline (GNU coreutils)
  copy             save_files(mode="copy"): each file copied to a temporary
                   name in its folder and renamed into place without
                   replacing anything (never overwriting, never a truncated
                   file under the real name), SHA-256 for the manifest, the
                   modification time kept, a manifest row per file; in the
                   caller's thread
  copy, threads    the same with one thread per core copying (threads=)
  SHA-256          hashing the same files from the page cache, alone: the
                   part of copy's time that cp -r does not spend
  place           the placing primitive alone, file by file: a copy to an
                   unnamed file linked into place (what copy does on Linux),
                   or to a temporary name linked into place (elsewhere),
                   against an exclusive create straight under the final
                   name (what copy did before issue 17): the cost of never
                   leaving a truncated file under the real name
  place, processes the same primitive in one worker process per core (fork,
                   batches of 64): what worker processes would give
                   save_files, which has none since issue 17 (they were
                   slower than one thread on the busy 2-core machine);
                   rerun this on a quiet machine to see if they matter
  link             hard links (with SHA-256), and without hashing
  rerun            copy mode into the folder already filled: nothing written
  peer             orange3-imageanalytics' own save function on --peer-n files
                   (in .venv-peer), against copy mode on the same files
Prints seconds, files/s and the ratio of throughputs against cp -r.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from orangecontrib.imagelab.core.executors import cores  # noqa: E402
from orangecontrib.imagelab.core.store import placing, saving  # noqa: E402

WORK = ROOT / "benchmarks" / "_work" / "save_images"  # --work changes it
CLASSES = [f"class{k}" for k in range(10)]


def make_sources(n: int) -> Path:
    src = WORK / f"src_{n}"
    stamp = src / ".complete"
    if stamp.exists():
        return src
    print(f"making {n:,} JPEGs under {src} (once) ...", flush=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for i in range(n):
        folder = src / CLASSES[i % len(CLASSES)]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.roll(base, i * 7, axis=1) // 2 + (i % 97)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"photo.{i:05d}.jpg",
                                                      quality=70)
    stamp.write_text("ok\n")
    return src


def listing(src: Path):
    sources, labels = [], []
    for cls in CLASSES:
        for path in sorted((src / cls).iterdir()):
            sources.append(str(path))
            labels.append(cls)
    return sources, labels


_RUN = f"run-{os.getpid()}-{time.time_ns()}"
_counter = [0]


def fresh(name: str) -> Path:
    """A new, empty folder. Nothing is deleted during the measurements: on this
    file system (ext4 with discard), deleting thousands of files slows the
    file creations that follow for a while, which would skew the timings."""
    _counter[0] += 1
    path = WORK / "out" / _RUN / f"{name}-{_counter[0]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def place_batch(batch):
    """Worker-process side of "place, processes": place each (source, folder)."""
    for source, folder in batch:
        placing.place(placing.PlaceJob(source, folder, os.path.basename(source)))
    return len(batch)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sync():
    os.sync()  # flush earlier writes so they don't slow the next measurement


def main():
    global WORK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="take the best of this many runs of each")
    parser.add_argument("--peer-n", type=int, default=1000,
                        help="files for the peer comparison (0: skip it)")
    parser.add_argument("--work", type=Path, default=WORK,
                        help="folder for the source files and the copies")
    args = parser.parse_args()
    WORK = args.work.resolve()
    src = make_sources(args.n)
    sources, labels = listing(src)
    n = len(sources)
    total = sum(os.path.getsize(s) for s in sources)
    print(f"{n:,} files, {total / 1e6:.1f} MB, {os.cpu_count()} CPUs")

    def cp():
        subprocess.run(["cp", "-r", str(src), str(fresh("cp"))], check=True)

    def copy():
        return saving.save_files(sources, fresh("copy"), labels=labels)

    def copy_threads():
        return saving.save_files(sources, fresh("copy-threads"), labels=labels,
                                 threads=max(2, cores()))

    def hashing():
        for source in sources:
            placing.sha256_file(source)

    def place_files(how):
        def straight(source, folder, name):
            src, st = placing._open_source(source)
            out = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            placing._copy_fd(src, st, out)
            os.close(out)
            os.close(src)

        def run():
            out = fresh(f"place-{how}")
            folders = {label: out / label for label in set(labels)}
            for folder in folders.values():
                folder.mkdir(parents=True)
            unnamed = placing._unnamed_files_work
            if how == "named":
                placing._unnamed_files_work = lambda directory: False
            try:
                for source, label in zip(sources, labels):
                    if how == "straight":
                        straight(source, folders[label], os.path.basename(source))
                    else:
                        placing.place(placing.PlaceJob(source, str(folders[label]),
                                                       os.path.basename(source)))
            finally:
                placing._unnamed_files_work = unnamed
        return run

    def link(hash_links=True):
        return lambda: saving.save_files(sources, fresh("link"), labels=labels,
                                         mode="link", hash_links=hash_links)

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    n_procs = max(2, cores())
    processes = ProcessPoolExecutor(n_procs, mp_context=multiprocessing.get_context("fork"))
    list(processes.map(place_batch, [[]] * n_procs))  # started before timing

    def place_processes():
        out = fresh("place-processes")
        folders = {label: out / label for label in set(labels)}
        for folder in folders.values():
            folder.mkdir(parents=True)
        pairs = [(source, str(folders[label])) for source, label in zip(sources, labels)]
        assert sum(processes.map(place_batch, [pairs[i:i + 64]
                                               for i in range(0, n, 64)])) == n

    rerun_folder = fresh("rerun")
    saving.save_files(sources, rerun_folder, labels=labels)
    kinds = {"cp": cp, "copy": copy, "copy_threads": copy_threads, "sha256": hashing,
             "place": place_files("unnamed"), "place_named": place_files("named"),
             "place_straight": place_files("straight"), "place_processes": place_processes,
             "link": link(), "link_nohash": link(False),
             "rerun": lambda: saving.save_files(sources, rerun_folder, labels=labels)}
    times = {kind: [] for kind in kinds}
    # Interleaved rounds, so that a busy moment of the shared machine or the
    # file system's background work hits every contender alike.
    for _ in range(args.repeat):
        for kind, fn in kinds.items():
            sync()
            seconds, result = timed(fn)
            times[kind].append(seconds)
            if kind in ("copy", "copy_threads"):
                assert len(result.saved) == n, result.summary()
            if kind == "rerun":
                assert len(result.already_present) == n
    processes.shutdown()
    (t_cp, t_copy, t_threads, t_hash, t_place, t_named, t_straight, t_processes, t_link,
     t_link_nohash, t_rerun) = (min(times[k]) for k in kinds)

    def line(name, seconds, note=""):
        print(f"{name:<28} {seconds:7.2f} s  {n / seconds:9,.0f} files/s  "
              f"{t_cp / seconds:5.2f} x cp -r  {note}")

    print(f"--- best of {args.repeat} interleaved rounds; ratio = cp -r time / our time")
    line("cp -r", t_cp)
    line("save_images copy", t_copy, "(target >= 0.5)")
    line(f"  copy, {max(2, cores())} threads", t_threads)
    line("  SHA-256 alone", t_hash, "(part of copy)")
    line("  place: unnamed + link", t_place, f"({t_place / t_straight:.2f} x straight)")
    line("  place: temporary name", t_named, f"({t_named / t_straight:.2f} x straight)")
    line("  place: straight to name", t_straight, "(no kill safety: before issue 17)")
    line(f"  place: {n_procs} processes", t_processes,
         f"({t_place / t_processes:.2f} x as fast as one thread)")
    line("save_images link", t_link)
    line("  link without SHA-256", t_link_nohash)
    line("rerun (all already present)", t_rerun)
    # cp -r and copy run back to back in each round: their ratio within a
    # round is the side-by-side figure least moved by the disk's swings.
    per_round = sorted(c / o for c, o in zip(times["cp"], times["copy"]))
    print("copy / cp -r per round:  " + "  ".join(f"{r:.2f}" for r in per_round)
          + f"   median {per_round[len(per_round) // 2]:.2f}")
    if args.peer_n:
        peer_comparison(sources[:: max(1, n // args.peer_n)][:args.peer_n],
                        labels[:: max(1, n // args.peer_n)][:args.peer_n], args.repeat)
    shutil.rmtree(WORK / "out" / _RUN)  # our own benchmark output


PEER_CODE = """
import json, os, sys, time
from collections import deque
from orangecontrib.imageanalytics.widgets.owsaveimages import _prepare_dir_and_save_images

class State:  # what the widget's TaskState offers, doing nothing
    def set_progress_value(self, value): pass
    def set_partial_result(self, result): pass
    def is_interruption_requested(self): return False

listing, out = json.load(open(sys.argv[1])), sys.argv[2]
# the paths its widget builds: <folder>/<class>/<name>, same extension -> a copy
queue = deque((src, os.path.join(out, label, os.path.basename(src))) for src, label in listing)
start = time.perf_counter()
_prepare_dir_and_save_images(queue, out, None, 0, State())
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def peer_comparison(sources, labels, repeat):
    """The peer's own saving function (orange3-imageanalytics 0.13.0, copy
    path: shutil.copyfile per file, no manifest, no clash handling) on the
    same files, interleaved with ours."""
    import json
    import tempfile
    from _peer import run_in_peer
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(list(zip(sources, labels)), f)
    peer, ours = [], []
    for _ in range(repeat):
        sync()
        # a fresh, not yet existing folder: the peer deletes its target first
        peer.append(run_in_peer(PEER_CODE, f.name, str(fresh("peer") / "out"))["seconds"])
        sync()
        seconds, report = timed(lambda: saving.save_files(sources, fresh("ours"), labels=labels))
        assert len(report.saved) == len(sources)
        ours.append(seconds)
    os.unlink(f.name)
    n = len(sources)
    print(f"--- peer (orange3-imageanalytics 0.13.0 Save Images, copy), {n:,} files, "
          f"best of {repeat}")
    print(f"{'peer save':<28} {min(peer):7.2f} s  {n / min(peer):9,.0f} files/s")
    print(f"{'save_images copy':<28} {min(ours):7.2f} s  {n / min(ours):9,.0f} files/s  "
          f"{min(peer) / min(ours):5.2f} x peer")


if __name__ == "__main__":
    main()
