"""Snapshots: freeze, verify, clone, refreeze, export and import back (no Qt)."""
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api import snapshots
from orangecontrib.imagelab.api.importing import import_images
from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.store import snapshot as core
from tests.images import make_class_folders, make_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def photos(tmp_path):
    """Six photos in two class folders, one duplicated under another name."""
    root = make_class_folders(tmp_path / "photos", classes=("cats", "dogs"), per_class=3)
    (root / "dogs" / "dogs_copy.jpg").write_bytes((root / "cats" / "cats_0.jpg").read_bytes())
    return root


def state(path: Path):
    """What must never change about a user's file: bytes, mode, time."""
    st = path.stat()
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns


def relabel(data, row, label):
    """A copy of ``data`` with one row's class changed."""
    data = data.copy()
    var = data.domain.class_var
    with data.unlocked(data.Y):
        data.Y[row] = var.values.index(label)
    return data


def test_snapshot_verify_flip_clone_relabel_refreeze(photos, tmp_path):
    data = import_images(photos).data
    before = {p: state(p) for p in photos.rglob("*.jpg")}
    first = snapshots.snapshot(data, tmp_path / "sets", name="pets")

    assert len(first.version) == 16 and not first.reused and first.parent is None
    assert first.n_rows == 7 and first.n_images == 6  # the duplicate is stored once
    assert first.counts == {"cats": 3, "dogs": 4}
    assert set(os.listdir(first.path)) == {
        "datapackage.json", "labels.csv", "metadata.jsonl", "annotated-set.json", "images"}
    assert snapshots.verify(first.path).ok

    # originals: not moved, not altered, not made read-only (hard links share them)
    assert {p: state(p) for p in photos.rglob("*.jpg")} == before
    stored = Path(first.path, "images")
    assert all(p.stat().st_nlink >= 2 for p in stored.iterdir())
    # the snapshot's own files are closed
    assert not os.access(Path(first.path, "labels.csv"), os.W_OK) or os.geteuid() == 0
    assert stat.S_IMODE(Path(first.path, "labels.csv").stat().st_mode) & 0o222 == 0

    # one flipped byte is caught and named
    image = sorted(stored.iterdir())[2]
    image.chmod(0o644)
    original = image.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    image.write_bytes(bytes(flipped))
    report = snapshots.verify(first.path)
    assert not report.ok and report.changed == [f"images/{image.name}"]
    assert image.name in report.summary()
    image.write_bytes(original)
    assert snapshots.verify(first.path).ok

    # clone -> relabel -> snapshot: a new version whose parent is the first
    editable = snapshots.clone(first.path)
    assert tables.snapshot_info(editable) is None
    assert tables.parent_info(editable)["version"] == first.version
    assert len(editable) == 7
    row = list(editable.get_column("image name")).index("cats_1")
    second = snapshots.snapshot(relabel(editable, row, "dogs"), tmp_path / "sets", name="pets")
    assert second.version != first.version and second.parent == first.version
    manifest = json.loads(Path(second.path, "datapackage.json").read_text())
    assert manifest["parent"] == first.version
    assert manifest["imagelab"]["parent"]["version"] == first.version
    assert second.counts == {"cats": 2, "dogs": 5}
    # the second version's images are the first's files (no second copy)
    for path in Path(second.path, "images").iterdir():
        assert path.samefile(stored / path.name)
    assert [v.version for v in snapshots.list_snapshots(tmp_path / "sets")] == \
        [first.version, second.version]

    # a loaded version is marked and named by its version
    loaded = snapshots.load_snapshot(second.path)
    assert tables.snapshot_info(loaded)["version"] == second.version
    assert loaded.name == f"pets @ {second.version}"
    assert loaded.domain.class_var.values == data.domain.class_var.values


def test_same_content_is_the_same_version_and_writes_nothing(photos, tmp_path):
    data = import_images(photos).data
    first = snapshots.snapshot(data, tmp_path / "sets", name="pets")
    files = sorted(Path(first.path).rglob("*"))
    again = snapshots.snapshot(data[::-1], tmp_path / "sets", name="pets")  # other order
    assert again.version == first.version and again.reused
    assert sorted(Path(first.path).rglob("*")) == files
    assert os.listdir(Path(first.path).parent) == [first.version]
    changed = snapshots.snapshot(relabel(data, 0, "dogs"), tmp_path / "sets", name="pets")
    assert changed.version != first.version


def test_copy_mode_makes_read_only_copies_and_no_second_copy(photos, tmp_path):
    data = import_images(photos).data
    first = snapshots.snapshot(data, tmp_path / "sets", name="pets", link=False)
    for path in Path(first.path, "images").iterdir():
        assert path.stat().st_nlink == 1
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0
    second = snapshots.snapshot(relabel(data, 0, "dogs"), tmp_path / "sets", name="pets",
                                link=False)
    for path in Path(second.path, "images").iterdir():
        assert path.samefile(Path(first.path, "images", path.name))
    # the originals stay writable
    assert all(os.access(p, os.W_OK) for p in photos.rglob("*.jpg"))


def test_datapackage_follows_the_frictionless_spec(photos, tmp_path):
    import frictionless

    data = import_images(photos).data
    snap = snapshots.snapshot(data, tmp_path / "sets", name="My Pets",
                              description="two classes")
    path = Path(snap.path, "datapackage.json")
    manifest = json.loads(path.read_text())
    # required and recommended fields of the Data Package spec
    assert manifest["profile"] == "data-package" and manifest["name"] == "my-pets"
    assert manifest["title"] == "My Pets" and manifest["description"] == "two classes"
    assert manifest["version"] == snap.version and manifest["created"].endswith("+00:00")
    names = [r["name"] for r in manifest["resources"]]
    assert len(set(names)) == len(names)
    for resource in manifest["resources"]:
        assert resource["path"] and resource["hash"].startswith("sha256:")
        assert resource["bytes"] == Path(snap.path, resource["path"]).stat().st_size
    labels = next(r for r in manifest["resources"] if r["name"] == "labels")
    assert [f["name"] for f in labels["schema"]["fields"]] == \
        Path(snap.path, "labels.csv").read_text().splitlines()[0].split(",")
    # the version is the hash of the sorted (path, hash) pairs
    assert core._version((r["path"], r["hash"][7:]) for r in manifest["resources"]) \
        == snap.version
    report = frictionless.Package.validate_descriptor(str(path))
    assert report.valid, report.flatten(["type", "note"])
    package = frictionless.Package(str(path))
    assert package.get_resource("labels").validate().valid
    # Hugging Face ImageFolder's metadata: one line per row, file_name first
    lines = Path(snap.path, "metadata.jsonl").read_text().splitlines()
    assert len(lines) == 7 and all(json.loads(line)["file_name"].startswith("images/")
                                   for line in lines)


def test_annotated_set_reads_back_with_import_images(photos, tmp_path):
    snap = snapshots.snapshot(import_images(photos).data, tmp_path / "sets", name="pets")
    result = import_images(Path(snap.path, "annotated-set.json"))
    assert result.n_images == 6
    assert "category" in [var.name for var in result.data.domain.variables
                          + result.data.domain.metas]


def test_zip_export_imports_back_with_hashes_checked(photos, tmp_path):
    snap = snapshots.snapshot(import_images(photos).data, tmp_path / "sets", name="pets")
    archive = snapshots.export_zip(snap.path, tmp_path / "pets.zip")
    with pytest.raises(FileExistsError, match="never replaced"):
        snapshots.export_zip(snap.path, tmp_path / "pets.zip")
    with zipfile.ZipFile(archive) as z:
        assert "datapackage.json" in z.namelist()
    result = import_images(archive)
    assert not result.skipped and len(result.data) == 7
    assert tables.snapshot_info(result.data)["version"] == snap.version
    assert result.data.domain.class_var.name == "category"

    # the same folder imported directly
    direct = import_images(snap.path)
    assert len(direct.data) == 7 and tables.snapshot_info(direct.data)

    # a tampered archive: the changed image is named and left out, the rest comes in
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive) as z, zipfile.ZipFile(tampered, "w") as out:
        victim = sorted(n for n in z.namelist() if n.startswith("images/"))[0]
        for item in z.infolist():
            data = z.read(item)
            out.writestr(item, data[:-1] + bytes([data[-1] ^ 0xFF]) if item.filename == victim
                         else data)
    result = import_images(tampered)
    assert [s.path for s in result.skipped] == [victim]
    assert len(result.data) == 7 - sum(v == victim for v in
                                       import_images(archive).data.get_column("image"))
    assert tables.snapshot_info(result.data) is None


def test_bad_rows_are_reported_and_the_rest_is_frozen(photos, tmp_path):
    data = import_images(photos).data
    (photos / "dogs" / "dogs_2.jpg").unlink()
    snap = snapshots.snapshot(data, tmp_path / "sets", name="pets")
    assert snap.n_rows == 6
    assert [(Path(s.path).name, s.reason) for s in snap.skipped] == \
        [("dogs_2.jpg", "file not found")]
    with pytest.raises(ValueError, match="name"):
        snapshots.snapshot(data, tmp_path / "sets", name=" ")
    with pytest.raises(ValueError, match="boxes"):
        snapshots.snapshot(data, tmp_path / "sets", name="x", boxes=data)
    with pytest.raises(ValueError, match="parent"):
        snapshots.snapshot(data, tmp_path / "sets", name="x", parent=str(tmp_path))


def test_boxes_are_written_and_read_back(photos, tmp_path):
    data = import_images(photos).data
    image_var = tables.find_image_column(data.domain)
    images = list(data.get_column(image_var))
    boxes = tables.boxes_table(
        image_var, [images[0], images[0], "gone.jpg"], ["eye", "ear", "eye"],
        np.array([[1, 2, 10, 12], [3, 4, 20, 22], [0, 0, 5, 5]]),
        image_ids=["a", "a", "b"], box_ids=["1", "2", "3"])
    snap = snapshots.snapshot(data, tmp_path / "sets", name="pets", boxes=boxes)
    assert snap.n_boxes == 2
    assert [s.path for s in snap.skipped] == [f"box 3 of {photos / 'gone.jpg'}"]
    back = snapshots.load_boxes(snap.path)
    assert tables.is_boxes_table(back) and len(back) == 2
    assert sorted(back.get_column("label").astype(int)) == [0, 1]
    assert tables.box_coordinates(back)[0].tolist() in (
        [[1, 2, 10, 12], [3, 4, 20, 22]], [[3, 4, 20, 22], [1, 2, 10, 12]])
    assert snapshots.verify(snap.path).ok
    assert snapshots.load_boxes(snapshots.snapshot(
        data, tmp_path / "sets", name="plain").path) is None


def test_cancelled_snapshot_leaves_nothing(photos, tmp_path):
    data = import_images(photos).data

    def cancel_while_placing(fraction):
        if fraction > 0.7:
            raise Cancelled()

    with pytest.raises(Cancelled):
        snapshots.snapshot(data, tmp_path / "sets", name="pets", link=False,
                           callback=cancel_while_placing)
    assert os.listdir(tmp_path / "sets" / "pets") == []
    assert snapshots.list_snapshots(tmp_path / "sets") == []


KILLED_SNAPSHOT = """
import sys, time
sys.path[:0] = [sys.argv[1]]
from orangecontrib.imagelab.api.importing import import_images
from orangecontrib.imagelab.api.snapshots import snapshot
def slow(fraction):
    if fraction > 0.6:
        time.sleep(0.05)
snapshot(import_images(sys.argv[2]).data, sys.argv[3], name="pets", link=False, callback=slow)
"""


def test_a_killed_snapshot_is_never_listed_as_a_version(tmp_path):
    photos = tmp_path / "photos"
    for i in range(60):
        make_image(photos / f"p{i:02d}.png", size=(8, 8), color=(i, 2 * i, 3 * i))
    sets = tmp_path / "sets"
    process = subprocess.Popen([sys.executable, "-c", KILLED_SNAPSHOT, str(ROOT),
                                str(photos), str(sets)])
    try:
        deadline = time.monotonic() + 60
        partial = []
        while time.monotonic() < deadline and not partial:
            partial = list((sets / "pets").glob(".partial-*/images/*")) \
                if (sets / "pets").exists() else []
            time.sleep(0.02)
        assert partial, "the snapshot never started writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert snapshots.list_snapshots(sets) == []
    assert [p.name for p in (sets / "pets").iterdir() if not p.name.startswith(".")] == []
    # the next snapshot clears the dead run's partial folder and completes
    snap = snapshots.snapshot(import_images(photos).data, sets, name="pets", link=False)
    assert [p.name for p in (sets / "pets").iterdir()] == [snap.version]
    assert snapshots.verify(snap.path).ok


def test_table_files_are_what_csv_and_json_write():
    """The table files are written from texts computed once per cell (for
    speed); they must stay byte for byte what csv and json write, so that the
    same content keeps its version."""
    import csv
    import io
    import math
    import random

    rng = random.Random(3)
    texts = [None, "", "a", 'q"uo,te', "line\nbreak", "ünï ☃", "\t", "\\"]
    numbers = [None, math.nan, 0.0, 1.0, -3.0, 0.1, 1e20, 1e15, 2.5e-9, math.inf, 7]
    for _ in range(50):
        n = rng.randint(1, 20)
        columns = [core.Column("image", "image", "meta",
                               [f"images/{rng.randrange(9):064d}.jpg" for _ in range(n)])]
        for k in range(rng.randint(0, 4)):
            kind = rng.choice(["numeric", "text", "categorical"])
            pool = numbers if kind == "numeric" else texts
            columns.append(core.Column(f"{rng.choice(['c', 'ü', 'q'])}{k}", kind, "meta",
                                       [rng.choice(pool) for _ in range(n)]))
        rows = sorted(rng.sample(range(n), rng.randint(1, n)))
        table = core._TableText(columns)
        order = table.order(rows)
        cells = [[core._cell(c, c.values[i]) for c in columns] for i in range(n)]
        assert order == sorted(rows, key=lambda i: (cells[i], i))
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(
            [[c.name for c in columns]] + [cells[i] for i in order])
        assert table.csv(order) == out.getvalue().encode("utf-8")
        rows_json = [{c.name if j else "file_name": c.values[i] if not j else
                      core._json_value(c, c.values[i]) for j, c in enumerate(columns)}
                     for i in order]
        assert table.metadata_jsonl(order, 0) == "".join(
            json.dumps(r, ensure_ascii=False) + "\n" for r in rows_json).encode("utf-8")
        annotated = {"images_file": "images",
                     "new_fields": [{"name": c.name, "optype": c.kind} for c in columns[1:]],
                     "annotations": [dict({"file": r.pop("file_name").split("/", 1)[1]}, **r)
                                     for r in rows_json]}
        assert table.annotated_set(order, 0) == \
            json.dumps(annotated, indent=1, ensure_ascii=False).encode("utf-8")


def test_a_file_changed_between_hashing_and_placing_is_caught(photos, tmp_path):
    source = photos / "cats" / "cats_0.jpg"
    sha, size, identity = core._hash_one(str(source))
    for link in (True, False):
        folder = tmp_path / f"images-{link}"
        folder.mkdir()
        core._place_image(str(folder), f"{sha}.jpg", sha, str(source), identity, None, link)
        assert (folder / f"{sha}.jpg").read_bytes() == source.read_bytes()
        assert (folder / f"{sha}.jpg").samefile(source) == link
    original = source.read_bytes()
    source.write_bytes(original + b"more")  # after hashing, before placing
    for link in (True, False):
        folder = tmp_path / f"changed-{link}"
        folder.mkdir()
        with pytest.raises(core.SnapshotError, match="changed while"):
            core._place_image(str(folder), f"{sha}.jpg", sha, str(source), identity, None,
                              link)


def test_hashing_names_what_cannot_be_read_and_never_waits_on_a_pipe(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x" * 5000)
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "folder.jpg").mkdir()
    paths = [str(tmp_path / name) for name in ("a.jpg", "pipe.jpg", "folder.jpg", "gone.jpg")]
    results = core.digest_files(paths * 20)  # several batches, in threads
    assert [r[1] for r in results[:4]] == [5000, "not a regular file",
                                           "is a folder, not a file", "file not found"]
    assert results[4:8] == results[:4]
    assert results[0][0] == hashlib.sha256(b"x" * 5000).hexdigest()
    assert core.hash_files(paths[:1]) == [results[0][:2]]
