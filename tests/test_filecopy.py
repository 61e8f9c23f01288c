"""Copies and links made in several threads at once: the same files, names and
manifest as one by one; the placing primitive file by file (no Qt).

(Until issue 17 these ran in worker processes; the benchmark showed them
slower than one thread on two cores, so the executor is now chosen through
core.executors: inline, or threads when asked for. The tests of the worker
processes' own failures went with them.)"""
import csv
import os
import shutil
from pathlib import Path

import pytest

from orangecontrib.imagelab.core.store import placing, saving
from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.store.saving import save_files
from tests.images import make_image, make_zero_byte


@pytest.fixture
def in_workers(monkeypatch):
    """Records the executors the saves ask for: (kind, max_workers)."""
    started = []
    original = saving.get_executor

    def watched(kind, **options):
        started.append((kind, options.get("max_workers")))
        return original(kind, **options)

    monkeypatch.setattr(saving, "get_executor", watched)
    return started


def copy_batch(items):
    """Per item (index, source, directory, name, reserved, how): (index, status,
    destination, sha256, bytes), or (index, "skipped", reason, "", 0)."""
    results = []
    for index, source, directory, name, reserved, how in items:
        try:
            placed = placing.place(placing.PlaceJob(source, directory, name, how, reserved))
            results.append((index, placed.status, placed.destination, placed.sha256,
                            placed.bytes))
        except placing.PlaceError as err:
            results.append((index, "skipped", err.reason, "", 0))
    return results


def manifest_rows(folder):
    with open(Path(folder) / "manifest.csv", newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(f)]


def tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in Path(folder).rglob("*") if p.is_file() and p.name != "manifest.csv"}


def awkward_sources(tmp_path):
    """Twenty photos, with the cases that need care: the same name from two
    folders (twice), a missing file, a folder, an empty file, a file:// URL."""
    src = tmp_path / "src"
    sources = [make_image(src / f"p{i:02}.jpg", color=(i * 9, 0, 0), noise=3, seed=i)
               for i in range(20)]
    sources[5] = make_image(src / "other" / "p01.jpg", color=(1, 2, 3), seed=50)
    sources[7] = make_image(src / "third" / "p01.jpg", color=(1, 2, 3), seed=50)  # = sources[5]
    sources[9] = src / "gone.jpg"
    (src / "a_folder").mkdir()
    sources[11] = src / "a_folder"
    sources[13] = make_zero_byte(src / "zero.jpg")
    sources[15] = sources[15].as_uri()
    labels = ["odd" if i % 2 else "even" for i in range(20)]
    labels[1] = labels[5] = labels[7] = "odd"
    return [str(s) for s in sources], labels


def prefilled(out, sources):
    """A target that already holds one same and one different file."""
    (out / "even").mkdir(parents=True)
    shutil.copyfile(sources[0], out / "even" / "p00.jpg")
    make_image(out / "even" / "p02.jpg", color=(0, 0, 250), seed=99)


def test_workers_save_what_copying_one_by_one_saves(tmp_path, in_workers):
    sources, labels = awkward_sources(tmp_path)
    one, many = tmp_path / "one", tmp_path / "many"
    prefilled(one, sources)
    prefilled(many, sources)
    serial = save_files(sources, one, labels=labels, threads=1)
    parallel = save_files(sources, many, labels=labels, threads=2)

    assert tree(one) == tree(many)
    assert manifest_rows(one) != [] and \
        sorted(manifest_rows(one), key=str) == sorted(manifest_rows(many), key=str)

    def summary(report, root):
        return ([(f.index, os.path.relpath(f.destination, root), f.status, f.sha256, f.bytes)
                 for f in report.saved + report.already_present],
                [(s.index, s.reason) for s in report.skipped])
    assert summary(serial, one) == summary(parallel, many)
    assert [f.index for f in parallel.saved] == sorted(f.index for f in parallel.saved)
    saved = {os.path.relpath(f.destination, many): f for f in parallel.saved}
    assert saved["odd/p01 (2).jpg"].renamed and saved["even/p02 (2).jpg"].renamed
    assert [f.index for f in parallel.already_present] == [0, 7]  # on disk; same as [5]
    assert dict((s.index, s.reason) for s in parallel.skipped) == {
        9: "file not found", 11: "is a folder, not a file"}
    assert in_workers == [("inline", 1), ("threads", 2)]


def test_links_in_workers_are_what_linking_one_by_one_makes(tmp_path, in_workers):
    sources, labels = awkward_sources(tmp_path)
    one, many = tmp_path / "one", tmp_path / "many"
    serial = save_files(sources, one, labels=labels, mode="link", threads=1)
    parallel = save_files(sources, many, labels=labels, mode="link", threads=2)
    assert tree(one) == tree(many)
    assert sorted(manifest_rows(one), key=str) == sorted(manifest_rows(many), key=str)
    assert [(f.index, f.status, f.sha256) for f in serial.saved + serial.already_present] == \
        [(f.index, f.status, f.sha256) for f in parallel.saved + parallel.already_present]
    linked = [f for f in parallel.saved if not f.source.startswith("file:")]
    assert linked and all(os.path.samefile(f.source, f.destination) for f in linked)
    assert in_workers == [("inline", 1), ("threads", 2)]


def test_cancel_in_workers_then_rerun_loses_and_duplicates_nothing(tmp_path, in_workers):
    src = tmp_path / "src"
    sources = [make_image(src / f"p{i:02}.jpg", color=(i * 5, 0, 0), noise=3, seed=i)
               for i in range(40)]
    out = tmp_path / "out"

    def stop_early(fraction):
        if fraction >= 0.2:
            raise Cancelled()

    with pytest.raises(Cancelled):
        save_files(sources, out, callback=stop_early, threads=2)
    partial = tree(out)
    assert 0 < len(partial) < 40
    rows = manifest_rows(out)
    assert sorted(r["destination"] for r in rows) == sorted(partial)  # every file recorded
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]

    report = save_files(sources, out, threads=2)
    assert len(report.already_present) == len(partial)
    assert len(report.saved) == 40 - len(partial)
    assert tree(out) == {s.name: s.read_bytes() for s in sources}


def test_copy_batch_reports_each_file_and_never_raises(tmp_path):
    good = make_image(tmp_path / "a.jpg")
    out = tmp_path / "out"
    out.mkdir()
    other = make_image(tmp_path / "b.jpg", color=(0, 200, 0))
    results = copy_batch([
        (0, str(good), str(out), "a.jpg", None, "copy"),
        (1, str(tmp_path / "gone.jpg"), str(out), "gone.jpg", None, "copy"),
        (2, str(good), str(out), "a.jpg", None, "copy"),      # same content: present
        (3, str(good), str(out), "manifest.csv", "manifest.csv", "copy"),  # reserved name
        (4, str(good), str(tmp_path / "no_such_dir"), "a.jpg", None, "copy"),
        (5, str(other), str(out), "a.jpg", None, "link"),     # taken by other content
        (6, str(other), str(out), "a.jpg", None, "link unhashed"),  # the same file again
        (7, str(tmp_path), str(out), "t.jpg", None, "link"),
    ])
    assert [r[:3] for r in results] == [
        (0, "saved", str(out / "a.jpg")),
        (1, "skipped", "file not found"),
        (2, "already present", str(out / "a.jpg")),
        (3, "saved", str(out / "manifest (2).csv")),
        (4, "skipped", "cannot write (No such file or directory)"),
        (5, "saved", str(out / "a (2).jpg")),
        (6, "already present", str(out / "a (2).jpg")),
        (7, "skipped", "is a folder, not a file")]
    assert results[0][3] == results[2][3] == results[3][3] and results[0][4] == good.stat().st_size
    assert os.path.samefile(other, out / "a (2).jpg") and results[5][3] == results[6][3]
