"""Saving never stops on one bad file and never writes through a link (issue 17, item 3).

Each test here failed before the fix it covers: names that are not UTF-8, a
full disk, symbolic links inside the target, a copy killed mid-file, two
saves into one folder at once, and spreadsheet formulas in the manifest.
"""
import csv
import hashlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orangecontrib.imagelab.core.store.saving import TargetFolderError, save_files
from tests.images import make_image
from tests.small_disk import run_on_small_disk

ROOT = Path(__file__).resolve().parent.parent


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def csv_rows(path):
    """The manifest's rows as csv.reader reads them; fails on anything not UTF-8."""
    text = Path(path).read_bytes().decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                  if p.is_file() and p.name != "manifest.csv")


def run_child(code, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


# ------------------------------------------------------ names that are not UTF-8

def test_names_that_are_not_utf8_are_saved_under_readable_names(tmp_path):
    """Latin-1 bytes in a file and a folder name (what old cameras and Windows
    zips leave): os.listdir gives them as lone surrogates, which no UTF-8
    file name or manifest can hold."""
    src = os.fsencode(tmp_path / "src")
    folder = os.path.join(src, b"caf\xe9")            # 'café' in Latin-1
    os.makedirs(folder)
    name = os.path.join(folder, b"cr\xe8me br\xfbl\xe9e.jpg")
    make_image(os.fsdecode(name), color=(200, 180, 90))
    plain = make_image(tmp_path / "src" / "plain.jpg", color=(10, 20, 30))
    sources = [os.fsdecode(name), str(plain)]
    labels = [os.fsdecode(os.path.basename(folder)), "plain"]   # 'caf\udce9'
    bad_target = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"out-\xff"))

    for mode in ("copy", "link", "convert"):
        out = os.path.join(bad_target, mode)
        report = save_files(sources, out, labels=labels, mode=mode)
        assert not report.skipped, report.summary()
        assert len(report.saved) == 2
        saved = os.path.relpath(report.saved[0].destination, out)
        assert saved.encode("utf-8")  # a valid name
        assert saved == "café/crème brûlée.jpg"
        if mode != "convert":
            assert sha(report.saved[0].destination) == sha(os.fsencode(sources[0]))
        rows = csv_rows(os.path.join(out, "manifest.csv"))
        assert rows[1][1].endswith("caf\\xe9/cr\\xe8me br\\xfbl\\xe9e.jpg")  # as `ls -b` shows it
        assert rows[1][2] == saved and rows[1][3] == "caf\\xe9"
        assert "not UTF-8" in rows[1][8]
        again = save_files(sources, out, labels=labels, mode=mode)
        assert len(again.already_present) == 2 and not again.saved


# ------------------------------------------------------------------- full disk

FULL_DISK_RUN = """
import json, os, sys
from orangecontrib.imagelab.core.store.saving import save_files
disk, sources = sys.argv[1], sys.argv[2:]
target, ballast = os.path.join(disk, "out"), os.path.join(disk, "ballast")
with open(ballast, "wb") as f:  # someone else's file, deleted between the runs
    f.write(os.urandom(160 * 1024))

def state(report):
    with open(os.path.join(target, "manifest.csv"), "rb") as f:
        manifest = f.read().decode("utf-8")
    on_disk = sorted(os.path.relpath(os.path.join(d, n), target)
                     for d, _, names in os.walk(target) for n in names
                     if n != "manifest.csv")
    return {"stopped": report.stopped, "summary": report.summary(),
            "saved": len(report.saved), "present": len(report.already_present),
            "skipped": [(os.path.basename(s.path), s.reason) for s in report.skipped],
            "destinations": report.destinations, "manifest": manifest, "on_disk": on_disk}

first = state(save_files(sources, target, labels=["a", "b"] * (len(sources) // 2)))
os.unlink(ballast)  # the user frees some space and saves again
second = state(save_files(sources, target, labels=["a", "b"] * (len(sources) // 2)))
print(json.dumps({"first": first, "second": second}))
"""


def test_full_disk_stops_cleanly_with_a_valid_manifest_and_the_next_run_appends(tmp_path):
    src = tmp_path / "src"
    sources = []
    src.mkdir()
    for i in range(150):  # a page each: the disk fills between two manifest pages
        path = src / f"p{i:03}.raw"
        path.write_bytes(os.urandom(4096))
        sources.append(str(path))
    disk = tmp_path / "small"
    target = disk / "out"
    result = run_on_small_disk(disk, 512, FULL_DISK_RUN, str(disk), *sources)
    for run in ("first", "second"):
        state = result[run]
        assert state["stopped"] and "full" in state["stopped"], state["summary"]
        assert str(target) in state["stopped"]  # names the disk
        assert state["stopped"] in state["summary"]
        rows = list(csv.reader(io.StringIO(state["manifest"], newline="")))
        assert rows[0][:3] == ["time", "source", "destination"]
        assert all(len(row) == 9 for row in rows), rows  # no row cut, none glued on
        assert [r for r in rows if r[0] == "time"] == rows[:1]  # one header
        recorded = {r[2] for r in rows[1:] if r[7] in ("saved", "already present")}
        assert recorded == set(state["on_disk"])  # a row for every file on disk
    first, second = result["first"], result["second"]
    k = first["saved"]
    assert 20 < k < 100
    assert first["skipped"] == [[os.path.basename(sources[k]), "disk full"]]
    assert first["destinations"][k + 1:] == [None] * (149 - k)
    # the next run finds what is there, appends its rows, saves more, stops again
    assert second["present"] == k and 20 < second["saved"] < 150 - k
    assert second["manifest"].startswith(first["manifest"])
    assert len(csv_rows_of(second["manifest"])) == len(csv_rows_of(first["manifest"])) + \
        second["present"] + second["saved"] + 1


def csv_rows_of(text):
    return list(csv.reader(io.StringIO(text, newline="")))


# --------------------------------------------------------------- symbolic links

def test_a_manifest_that_is_a_symlink_is_never_written_through(tmp_path):
    photo = make_image(tmp_path / "src" / "a.jpg")
    outside = tmp_path / "precious.csv"
    outside.write_text("my,own,data\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.csv").symlink_to(outside)
    with pytest.raises(TargetFolderError, match="symbolic link"):
        save_files([photo], out)
    assert outside.read_text() == "my,own,data\n"
    assert os.listdir(out) == ["manifest.csv"]
    # a dangling link is refused too, instead of creating its target
    (out / "manifest.csv").unlink()
    (out / "manifest.csv").symlink_to(tmp_path / "created-through-a-link.csv")
    with pytest.raises(TargetFolderError, match="symbolic link"):
        save_files([photo], out)
    assert not (tmp_path / "created-through-a-link.csv").exists()


def test_folders_and_names_inside_the_target_that_are_symlinks_are_not_written_through(
        tmp_path):
    photos = [make_image(tmp_path / "src" / f"{c}.jpg", color=(i * 60, 0, 0))
              for i, c in enumerate("abcd")]
    out = tmp_path / "out"
    (out / "real").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "inside").symlink_to(out / "real")     # a link that stays inside
    (out / "outside").symlink_to(elsewhere)       # a link that leads out
    (out / "plain").mkdir()
    # a file name that is a link to a file with the same content, elsewhere
    twin = elsewhere / "twin.jpg"
    twin.write_bytes(Path(photos[3]).read_bytes())
    (out / "plain" / "d.jpg").symlink_to(twin)
    report = save_files(photos, out, labels=["inside", "outside", "plain", "plain"])
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"a.jpg", "b.jpg"}
    assert all("symbolic link" in r for r in reasons.values()), reasons
    assert os.listdir(out / "real") == [] and os.listdir(elsewhere) == ["twin.jpg"]
    saved = sorted(os.path.relpath(f.destination, out) for f in report.saved)
    assert saved == ["plain/c.jpg", "plain/d (2).jpg"]
    assert not report.already_present  # not "present" through the link
    assert (out / "plain" / "d.jpg").is_symlink()


# ------------------------------------------------------- a copy killed mid-file

KILLED_MID_FILE = """
import os, signal, sys
from orangecontrib.imagelab.core.store.saving import save_files
real_write, written = os.write, [0]

def write(fd, data):  # the power cut: SIGKILL once 1 MiB of the copy is written
    n = real_write(fd, data)
    written[0] += n
    if written[0] > 1 << 20:
        os.kill(os.getpid(), signal.SIGKILL)
    return n

os.write = write
save_files([sys.argv[1]], sys.argv[2], manifest=False)
"""


def test_a_copy_killed_mid_file_leaves_no_truncated_file_under_the_real_name(tmp_path):
    big = tmp_path / "src" / "big.tif"
    big.parent.mkdir()
    big.write_bytes(os.urandom(3 << 20))
    out = tmp_path / "out"
    child = run_child(KILLED_MID_FILE, big, out)
    assert child.returncode == -9, child.stderr  # really killed mid-file
    assert not (out / "big.tif").exists()
    report = save_files([big], out)
    assert [os.path.basename(f.destination) for f in report.saved] == ["big.tif"]
    assert sha(out / "big.tif") == sha(big)


# ------------------------------------------------- two saves into one folder at once

TWO_AT_ONCE = """
import os, sys, time
from orangecontrib.imagelab.core.store.saving import save_files
ready, go, out = sys.argv[1:4]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
report = save_files(sys.argv[4:], out)
print(len(report.saved), len(report.already_present), len(report.skipped))
"""


def test_two_saves_into_one_folder_at_once_make_no_duplicates(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    sources = []
    for i in range(40):
        path = src / f"p{i:02}.bin"
        path.write_bytes(os.urandom(256 * 1024))
        sources.append(path)
    out = tmp_path / "out"
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    children = [subprocess.Popen([sys.executable, "-c", TWO_AT_ONCE, str(tmp_path / f"ready{k}"),
                                  str(go), str(out), *map(str, sources)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env) for k in range(2)]
    try:
        while not all((tmp_path / f"ready{k}").exists() for k in range(2)):
            assert all(c.poll() is None for c in children), children[0].stderr.read()
        go.touch()
        outputs = [c.communicate(timeout=120) for c in children]
    finally:
        for c in children:
            c.kill()
    counts = [tuple(map(int, o.split())) for o, _ in outputs]
    assert sorted(files_under(out)) == sorted(s.name for s in sources), counts
    assert sum(saved for saved, _, _ in counts) == 40
    assert all(present + saved == 40 and skipped == 0 for saved, present, skipped in counts)
    rows = csv_rows(out / "manifest.csv")
    assert [r for r in rows if r[0] == "time"] == rows[:1] and len(rows) == 81
    for source in sources:
        assert sha(out / source.name) == sha(source)


# ---------------------------------------------------------------- CSV injection

def test_manifest_values_are_never_run_as_formulas_and_read_back_unchanged(tmp_path):
    """OWASP's rule: a cell starting with = + - @ (or a tab or carriage
    return) gets a leading apostrophe, which spreadsheets show as text."""
    labels = ["=1+2", "+cmd|' /C calc'!A0", "-1", "@SUM(A1:A9)", "'quoted", "\tTab", "plain"]
    names = ["=HYPERLINK(x).jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "-f.jpg"]
    sources = [str(make_image(tmp_path / "src" / f"{i}" / name, color=(i * 30, 0, 0)))
               for i, name in enumerate(names)]
    out = tmp_path / "out"
    from orangecontrib.imagelab.core.store.manifest import read_manifest
    save_files(sources, out, labels=labels)
    rows = csv_rows(out / "manifest.csv")[1:]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert [r[3] for r in rows] == ["'" + label for label in labels[:-1]] + ["plain"]
    assert rows[0][2] == "'=1+2/=HYPERLINK(x).jpg"
    back = read_manifest(out / "manifest.csv")
    assert [r["label"] for r in back] == labels
    assert [r["source"] for r in back] == sources
    assert [Path(r["destination"]).name for r in back] == names
    for row in back:
        assert (out / row["destination"]).exists()
