"""The placing primitive (core.store.placing), which saving and snapshots share (no Qt)."""
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from orangecontrib.imagelab.core.executors import bounded_map, get_executor
from orangecontrib.imagelab.core.store import placing
from orangecontrib.imagelab.core.store.placing import PlaceError, PlaceJob, place


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(params=["unnamed", "temporary name"])
def staging(request, monkeypatch):
    """Both ways a copy is staged: an unnamed file (Linux), a temporary name (elsewhere)."""
    if request.param == "temporary name":
        monkeypatch.setattr(placing, "_unnamed_files_work", lambda directory: False)
    return request.param


def listing(folder):
    return sorted(os.listdir(folder))


def test_copy_rerun_clash_and_content_addressed_names(tmp_path, staging):
    a = tmp_path / "a.jpg"
    a.write_bytes(b"A" * 5000)
    b = tmp_path / "b" / "a.jpg"
    b.parent.mkdir()
    b.write_bytes(b"B" * 7000)
    out = tmp_path / "out"
    out.mkdir()
    first = place(PlaceJob(str(a), str(out), "a.jpg"))
    assert (first.status, first.destination, first.bytes) == ("saved", str(out / "a.jpg"), 5000)
    assert first.sha256 == sha(a) == sha(out / "a.jpg")
    assert place(PlaceJob(str(a), str(out), "a.jpg")).status == "already present"
    other = place(PlaceJob(str(b), str(out), "a.jpg"))
    assert other.destination == str(out / "a (2).jpg") and sha(out / "a (2).jpg") == sha(b)
    # content-addressed: a clash is damage, not a reason for a new name
    with pytest.raises(PlaceError, match="taken by other content"):
        place(PlaceJob(str(b), str(out), "a.jpg", numbered=False))
    assert place(PlaceJob(str(a), str(out), "a.jpg", numbered=False)).status == "already present"
    # a reserved name (a manifest's) is never taken
    reserved = place(PlaceJob(str(a), str(out), "Manifest.csv", reserved="manifest.csv"))
    assert os.path.basename(reserved.destination) == "Manifest (2).csv"
    assert listing(out) == ["Manifest (2).csv", "a (2).jpg", "a.jpg"]  # nothing else left


def test_errors_name_reading_or_writing_and_leave_nothing(tmp_path, staging):
    a = tmp_path / "a.jpg"
    a.write_bytes(b"x" * 100)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PlaceError) as missing:
        place(PlaceJob(str(tmp_path / "gone.jpg"), str(out), "gone.jpg"))
    assert missing.value.reason == "file not found" and not missing.value.disk_full
    with pytest.raises(PlaceError) as no_folder:
        place(PlaceJob(str(a), str(out / "nope"), "a.jpg"))
    assert no_folder.value.reason == "cannot write (No such file or directory)"
    with pytest.raises(PlaceError, match="is a folder"):
        place(PlaceJob(str(tmp_path), str(out), "t.jpg", how="link"))
    with pytest.raises(ValueError, match="how must be one of"):
        place(PlaceJob(str(a), str(out), "a.jpg", how="move it"))

    class Interrupted(BaseException):
        pass

    def interrupted_copy(source_fd, st, target_fd):
        os.write(target_fd, b"half")
        raise Interrupted()  # e.g. KeyboardInterrupt mid-file

    original = placing._copy_fd
    placing._copy_fd = interrupted_copy
    try:
        with pytest.raises(Interrupted):
            place(PlaceJob(str(a), str(out), "a.jpg"))
    finally:
        placing._copy_fd = original
    assert listing(out) == []  # no half file under the name, no temporary file


def test_a_name_that_is_a_symlink_is_never_written_through(tmp_path, staging):
    a = tmp_path / "a.jpg"
    a.write_bytes(b"same bytes")
    twin = tmp_path / "twin.jpg"
    twin.write_bytes(b"same bytes")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.jpg").symlink_to(twin)
    (out / "a (2).jpg").symlink_to(tmp_path / "dangling.jpg")
    for how in ("copy", "link"):
        placed = place(PlaceJob(str(a), str(out), "a.jpg", how=how))
        assert placed.destination == str(out / "a (3).jpg") and placed.status in (
            "saved", "already present")
    assert not (tmp_path / "dangling.jpg").exists() and twin.read_bytes() == b"same bytes"


def test_written_files_move_into_place(tmp_path, staging):
    out = tmp_path / "out"
    out.mkdir()
    for expected in ("saved", "already present"):
        staged = placing.write_staged(str(out), lambda f: f.write(b"converted bytes"))
        placed = placing.commit(PlaceJob("photo.tif", str(out), "photo.png", how="move"), staged)
        assert placed.status == expected and placed.sha256 == sha(out / "photo.png")
    assert listing(out) == ["photo.png"]
    staged = placing.write_staged(str(out), lambda f: f.write(b"never used"))
    placing.discard(staged)
    assert listing(out) == ["photo.png"]


def test_links_across_devices_are_copies(tmp_path):
    shm = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        source = shm / "far.jpg"
        source.write_bytes(b"far away" * 100)
        placed = place(PlaceJob(str(source), str(tmp_path), "far.jpg", how="link unhashed"))
        assert placed.status == "saved" and sha(tmp_path / "far.jpg") == sha(source)
        assert not os.path.samefile(source, tmp_path / "far.jpg")
        near = place(PlaceJob(str(tmp_path / "far.jpg"), str(shm), "near.jpg", how="link"))
        assert near.sha256 == sha(source)
    finally:
        shutil.rmtree(shm)


def test_bounded_map_discards_results_no_one_takes(tmp_path):
    """Temporary files staged ahead are removed when the consumer stops early."""
    release, running = threading.Event(), threading.Semaphore(0)
    discarded = []

    def slow(i):
        if i >= 2:
            running.release()
            release.wait(10)
        return i

    pool = get_executor("threads", max_workers=3)
    results = bounded_map(pool, slow, range(10), window=5, discard=discarded.append)
    assert next(results) == 0
    assert running.acquire(timeout=10) and running.acquire(timeout=10)
    results.close()  # as a Cancel: 1 is done, 2 and 3 are running, 4 waits
    release.set()
    pool.shutdown(wait=True)
    assert sorted(discarded) in ([1, 2, 3], [1, 2, 3, 4])
