"""Core saving: never delete, never overwrite, safe names, honest manifest (no Qt)."""
import csv
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from orangecontrib.imagelab.core.store import placing as filecopy, saving
from orangecontrib.imagelab.core.errors import Cancelled
from orangecontrib.imagelab.core.store.saving import (
    TargetFolderError, folder_names, safe_name, save_files)
from tests.images import make_image, make_text_file, make_zero_byte


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest_rows(folder):
    with open(Path(folder) / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def files_under(folder):
    """Relative paths of all regular files, without the manifest and temp files."""
    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*")
                  if p.is_file() and p.name != "manifest.csv")


@pytest.fixture
def photos(tmp_path):
    src = tmp_path / "src"
    return [make_image(src / f"img{i}.jpg", color=(20 * i, 100, 50), noise=5, seed=i)
            for i in range(4)]


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("label", [
    "../../etc", "..", ".", "a/b", "a\\b", "CON", "con.txt", "LPT9", "com1.jpg",
    "", "   ", "trail. . ", "tab\there", "nul\x00byte", "new\nline", "x" * 300,
    "é" * 300, "日本語の" * 50, "<>:\"|?*", "\u202eevil"])
def test_safe_name_is_a_single_harmless_component(label, tmp_path):
    name = safe_name(label)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert not name.endswith((" ", "."))
    assert len(name.encode("utf-8")) <= saving.MAX_NAME_BYTES
    assert name.split(".")[0].upper() not in ("CON", "PRN", "AUX", "NUL", "COM1", "LPT9")
    assert all(ord(ch) >= 32 for ch in name)
    (tmp_path / name).mkdir()  # really usable as a folder name here
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_safe_name_keeps_ordinary_and_unicode_names():
    assert safe_name("cats") == "cats"
    assert safe_name("Čebelica 🐝") == "Čebelica 🐝"
    assert safe_name("photo.2024.jpg", keep_suffix=True) == "photo.2024.jpg"
    long = safe_name("y" * 300 + ".jpeg", keep_suffix=True)
    assert long.endswith(".jpeg") and len(long.encode()) <= saving.MAX_NAME_BYTES


def test_distinct_labels_that_clash_stay_distinct():
    labels = ["a/b", "a_b", "A_B", "a\\b", None, "_unlabeled", "", "CON", "_CON"]
    names = folder_names(labels)
    assert len(set(n.casefold() for n in names.values())) == len(set(labels))
    assert names["A_B"] == "A_B"          # an already-safe label keeps its name
    assert names["a_b"] == "a_b (2)"      # ... unless it differs only in case
    assert names["a/b"] not in ("a_b", "A_B")
    assert names[None] == "_unlabeled"
    assert names["_unlabeled"] != "_unlabeled"
    assert names["_CON"] == "_CON" and names["CON"] != "_CON"
    # the same labels give the same names on a rerun
    assert folder_names(list(reversed(labels))) == names


def test_hostile_labels_write_nothing_outside(tmp_path, photos):
    out = tmp_path / "out"
    labels = ["../../etc", "CON", "a/b", "", "ü" * 300, None, "/abs/path", ".."]
    sources = [photos[i % len(photos)] for i in range(len(labels))]
    report = save_files(sources, out, labels=labels)
    assert not report.skipped
    assert len(report.saved) == len(labels)
    before = set(os.listdir(tmp_path))
    assert before == {"src", "out"}
    for saved in report.saved:
        dest = Path(saved.destination).resolve()
        assert dest.parent.parent == out.resolve()
        assert sha(dest) == sha(saved.source)
    assert len({Path(s.destination).parent for s in report.saved}) == len(labels)


# ----------------------------------------------------- never overwrite

def test_existing_name_with_other_content_is_kept(tmp_path, photos):
    out = tmp_path / "out"
    make_text_file(out / "img0.jpg", "my precious notes")
    report = save_files([photos[0]], out)
    assert (out / "img0.jpg").read_text() == "my precious notes"
    assert [Path(s.destination).name for s in report.saved] == ["img0 (2).jpg"]
    assert report.renamed and sha(out / "img0 (2).jpg") == sha(photos[0])


def test_existing_file_with_same_content_is_already_present(tmp_path, photos):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copyfile(photos[1], out / "img1.jpg")
    report = save_files([photos[1]], out)
    assert not report.saved and len(report.already_present) == 1
    assert files_under(out) == ["img1.jpg"]


def test_rerun_is_idempotent_and_dotted_names_stay_whole(tmp_path):
    src = tmp_path / "src"
    sources = [make_image(src / "photo.2024.jpg", color=(1, 2, 3)),
               make_image(src / "photo.2025.jpg", color=(9, 8, 7)),
               make_image(src / "archive.tar.gz.png", color=(5, 5, 5))]
    out = tmp_path / "out"
    first = save_files(sources, out, labels=["x", "x", "y"])
    assert len(first.saved) == 3 and not first.renamed
    assert files_under(out) == ["x/photo.2024.jpg", "x/photo.2025.jpg", "y/archive.tar.gz.png"]
    second = save_files(sources, out, labels=["x", "x", "y"])
    assert not second.saved and len(second.already_present) == 3
    assert files_under(out) == ["x/photo.2024.jpg", "x/photo.2025.jpg", "y/archive.tar.gz.png"]


def test_same_name_from_two_folders_both_survive_and_rerun(tmp_path):
    a = make_image(tmp_path / "a" / "IMG_1.jpg", color=(255, 0, 0))
    b = make_image(tmp_path / "b" / "IMG_1.jpg", color=(0, 0, 255))
    out = tmp_path / "out"
    for _ in range(2):
        report = save_files([a, b], out)
        assert not report.skipped
    assert files_under(out) == ["IMG_1 (2).jpg", "IMG_1.jpg"]
    assert {sha(out / "IMG_1.jpg"), sha(out / "IMG_1 (2).jpg")} == {sha(a), sha(b)}


def test_source_named_like_the_manifest_does_not_touch_it(tmp_path):
    src = make_text_file(tmp_path / "manifest.csv", "a,b\n")
    out = tmp_path / "out"
    save_files([src], out)
    rows = manifest_rows(out)
    assert rows[0]["destination"] == "manifest (2).csv"
    assert (out / "manifest (2).csv").read_text() == "a,b\n"


# ------------------------------------------------------------ errors

def test_missing_unreadable_and_empty_sources_are_skipped(tmp_path, photos):
    out = tmp_path / "out"
    folder_as_source = tmp_path / "a_folder"
    folder_as_source.mkdir()
    sources = [photos[0], tmp_path / "gone.jpg", None, folder_as_source,
               make_zero_byte(tmp_path / "zero.jpg"), photos[1]]
    report = save_files(sources, out)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["gone.jpg"] == "file not found"
    assert reasons["a_folder"] == "is a folder, not a file"
    assert reasons[""] == "no image location (missing value)"
    assert len(report.saved) == 3   # copy mode copies bytes, even an empty file
    assert "1 of 6" not in report.summary() and "3 of 6 skipped" in report.summary()
    assert report.destinations[1] is None and report.destinations[5] is not None


def test_unreadable_source_is_skipped(tmp_path, photos):
    """A normal user gets EACCES from a chmod-0 file. Root reads any file
    whatever its mode, so there the source is /proc/self/mem, which exists
    but whose first page cannot be read (EIO): a real unreadable file."""
    if os.geteuid() != 0:
        Path(photos[2]).chmod(0)
        source, reason = photos[2], "permission denied"
    else:
        source, reason = "/proc/self/mem", "unreadable (Input/output error)"
    report = save_files([source, photos[0]], tmp_path / "out")
    assert [s.reason for s in report.skipped] == [reason]
    assert len(report.saved) == 1
    assert not [p for p in (tmp_path / "out").rglob("*.part")]


def _read_only_folder(path: Path):
    """Make ``path`` a folder the current process really cannot write to.

    Non-root: chmod 555. Root ignores modes, so use the immutable attribute
    (chattr +i) or, failing that, a read-only tmpfs mount. Returns an undo."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    if shutil.which("chattr") and subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                   check=True, capture_output=True)
    return lambda: subprocess.run(["umount", str(path)], check=True)


def test_read_only_target_folder_is_a_clear_error(tmp_path, photos):
    target = tmp_path / "readonly"
    undo = _read_only_folder(target)
    try:
        with pytest.raises(TargetFolderError, match="cannot write into"):
            save_files(photos, target)
        assert os.listdir(target) == []
    finally:
        undo()


def test_read_only_label_folder_skips_only_its_files(tmp_path, photos):
    out = tmp_path / "out"
    out.mkdir()
    undo = _read_only_folder(out / "locked")
    try:
        report = save_files(photos[:2], out, labels=["locked", "open"])
    finally:
        undo()
    assert [s.reason for s in report.skipped] in (
        ["cannot write: permission denied"], ["cannot write: read-only file system"])
    assert len(report.saved) == 1 and files_under(out) == ["open/img1.jpg"]
    statuses = [r["status"] for r in manifest_rows(out)]
    assert sorted(statuses) == ["saved", "skipped"]


def test_target_that_is_a_file_is_a_clear_error(tmp_path, photos):
    make_text_file(tmp_path / "out")
    with pytest.raises(TargetFolderError, match="not a folder"):
        save_files(photos, tmp_path / "out")
    assert (tmp_path / "out").read_text() == "this is not an image\n"


def test_disk_full_skips_with_reason_and_goes_on(tmp_path):
    """A real full disk: a 256 KiB tmpfs (needs mount rights, which root has
    here); elsewhere the write raises the real ENOSPC that /dev/full gives."""
    src = tmp_path / "src"
    small = [make_image(src / f"s{i}.png", size=(8, 8), color=(i, 0, 0)) for i in range(3)]
    big = make_image(src / "big.bmp", size=(400, 400), noise=100)  # ~480 KB
    target = tmp_path / "tiny"
    target.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(target)],
        capture_output=True).returncode == 0
    original = filecopy._copy_fd
    if not mounted:
        def copy_to_full_disk(source_fd, st, out):
            if os.readlink(f"/proc/self/fd/{source_fd}").endswith("big.bmp"):
                with open("/dev/full", "wb") as full:
                    full.write(b"x" * 4096)
                    full.flush()
            return original(source_fd, st, out)
        filecopy._copy_fd = copy_to_full_disk
    try:
        report = save_files([str(small[0]), str(big), str(small[1]), str(small[2])], target)
        assert [(Path(s.path).name, s.reason) for s in report.skipped] == [("big.bmp", "disk full")]
        assert len(report.saved) == 3
        assert not [n for n in os.listdir(target) if n.endswith(".part")]
    finally:
        filecopy._copy_fd = original
        if mounted:
            subprocess.run(["umount", str(target)], check=True)


# ---------------------------------------------------- cancel and rerun

def test_cancel_midway_then_rerun_loses_and_duplicates_nothing(tmp_path):
    src = tmp_path / "src"
    sources = [make_image(src / f"p{i:02}.jpg", color=(i * 9, 0, 0), noise=3, seed=i)
               for i in range(20)]
    labels = ["odd" if i % 2 else "even" for i in range(20)]
    out = tmp_path / "out"
    calls = []

    def stop_halfway(fraction):
        calls.append(fraction)
        if fraction >= 0.4:
            raise Cancelled()

    with pytest.raises(Cancelled):
        save_files(sources, out, labels=labels, callback=stop_halfway, threads=3)
    partial = files_under(out)
    assert 0 < len(partial) < 20
    assert not [p for p in Path(out).rglob("*.part")]
    assert len(manifest_rows(out)) == len(partial)

    report = save_files(sources, out, labels=labels)
    assert len(report.already_present) == len(partial)
    assert len(report.saved) == 20 - len(partial)
    final = files_under(out)
    assert len(final) == 20 and not [f for f in final if "(2)" in f]
    for i, source in enumerate(sources):
        assert sha(out / labels[i] / source.name) == sha(source)


# ------------------------------------------------------------ modes

def test_link_mode_makes_hard_links(tmp_path, photos):
    out = tmp_path / "out"
    report = save_files(photos, out, mode="link", labels=["a", "b", "a", "b"])
    assert len(report.saved) == 4
    for saved in report.saved:
        assert os.path.samefile(saved.source, saved.destination)
        assert saved.sha256 == sha(saved.source)
    again = save_files(photos, out, mode="link", labels=["a", "b", "a", "b"])
    assert len(again.already_present) == 4


def test_convert_scales_keeping_aspect_and_transparency(tmp_path):
    src = tmp_path / "src"
    wide = make_image(src / "wide.jpg", size=(400, 100), color=(10, 200, 10))
    tall = make_image(src / "tall.png", size=(60, 240), color=(0, 0, 200), mode="RGBA")
    with Image.open(tall) as im:
        rgba = im.copy()
    rgba.paste((0, 0, 0, 0), (0, 0, 30, 120))  # a transparent quarter
    rgba.save(tall)
    out = tmp_path / "out"
    report = save_files([wide, tall], out, mode="convert", format="png", max_size=80)
    assert not report.skipped
    with Image.open(out / "wide.png") as im:
        assert im.size == (80, 20) and im.format == "PNG"
    with Image.open(out / "tall.png") as im:
        assert im.size == (20, 80) and im.mode == "RGBA"
        assert im.getpixel((0, 0))[3] == 0
    jpeg = save_files([tall], out, mode="convert", format="jpeg", max_size=120)
    with Image.open(jpeg.saved[0].destination) as im:
        assert im.format == "JPEG" and im.size == (30, 120) and im.mode == "RGB"
    again = save_files([wide, tall], out, mode="convert", format="png", max_size=80)
    assert len(again.already_present) == 2
    bigger = save_files([wide], out, mode="convert", format="png", max_size=100)
    assert [Path(f.destination).name for f in bigger.saved] == ["wide (2).png"]
    with Image.open(out / "wide.png") as im:
        assert im.size == (80, 20)  # the first one untouched
    assert not [p for p in out.rglob("*.part")]


def test_convert_skips_what_is_not_an_image(tmp_path, photos):
    junk = make_text_file(tmp_path / "notes.jpg")
    report = save_files([junk, photos[0]], tmp_path / "out", mode="convert", format="webp")
    assert [s.reason for s in report.skipped] == ["not an image file"]
    assert Path(report.saved[0].destination).name == "img0.webp"


def test_bad_options_name_the_parameter(tmp_path, photos):
    with pytest.raises(ValueError, match="mode"):
        save_files(photos, tmp_path, mode="move")
    with pytest.raises(ValueError, match="format"):
        save_files(photos, tmp_path, mode="convert", format="gif")
    with pytest.raises(ValueError, match="convert"):
        save_files(photos, tmp_path, max_size=100)
    with pytest.raises(ValueError, match="labels"):
        save_files(photos, tmp_path, labels=["a"])


# ---------------------------------------------------------- manifest

def test_manifest_matches_files_on_disk_and_is_appended(tmp_path, photos):
    out = tmp_path / "out"
    save_files(photos[:2], out, labels=["x", "y"])
    save_files(photos, out, labels=["x", "y", "x", None])
    rows = manifest_rows(out)
    assert len(rows) == 6
    assert [r["status"] for r in rows] == ["saved", "saved", "already present",
                                           "already present", "saved", "saved"]
    on_disk = files_under(out)
    assert sorted({r["destination"] for r in rows}) == on_disk
    for row in rows:
        path = out / row["destination"]
        assert sha(path) == row["sha256"] and path.stat().st_size == int(row["bytes"])
        assert row["time"] and row["source"]
    assert rows[-1]["label"] == "" and rows[-1]["destination"].startswith("_unlabeled/")



def test_manifest_rows_are_what_csv_writer_writes(tmp_path):
    """Plain rows take a fast path; a comma, quote or line break in a name or
    label goes through csv.writer. Either way csv.reader reads back the fields."""
    src = tmp_path / "src"
    plain = make_image(src / "plain.jpg", seed=1)
    odd = make_image(src / 'odd, "quoted".jpg', seed=2)
    labels = ["cats", 'a, "b"\nc']
    out = tmp_path / "out"
    report = save_files([plain, odd], out, labels=labels)
    raw = (out / "manifest.csv").read_bytes().decode("utf-8")
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(saving.MANIFEST_FIELDS)
    assert [r[1] for r in rows[1:]] == [str(plain), str(odd)]
    assert [r[3] for r in rows[1:]] == labels
    assert [r[2] for r in rows[1:]] == [
        os.path.relpath(f.destination, out) for f in report.saved]
    # the file is exactly what csv.writer would have written for these rows
    import io
    expected = io.StringIO()
    csv.writer(expected).writerows(rows)
    assert raw == expected.getvalue()


def test_copy_keeps_bytes_and_modification_time(tmp_path, photos):
    os.utime(photos[0], ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    report = save_files([photos[0]], tmp_path / "out")
    copied = report.saved[0].destination
    assert Path(copied).read_bytes() == Path(photos[0]).read_bytes()
    assert os.stat(copied).st_mtime_ns == 1_500_000_000_987_654_321


def test_fifo_source_is_skipped_without_waiting_for_a_writer(tmp_path, photos):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    report = save_files([fifo, photos[0]], tmp_path / "out")
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("pipe.jpg", "unreadable (not a regular file)")]
    assert len(report.saved) == 1 and files_under(tmp_path / "out") == ["img0.jpg"]

def test_core_runs_without_orange(tmp_path, photos):
    code = ("import sys; from orangecontrib.imagelab.core.store.saving import save_files;"
            "r = save_files(sys.argv[1:-1], sys.argv[-1]); print(len(r.saved));"
            "assert 'Orange' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code, *map(str, photos), str(tmp_path / "o")],
                         capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "4"


def test_link_across_devices_falls_back_to_copy(tmp_path):
    """/dev/shm is a tmpfs, another device than the test's temporary folder."""
    import tempfile
    shm = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        assert os.stat(shm).st_dev != os.stat(tmp_path).st_dev
        source = make_image(shm / "far.jpg")
        report = save_files([source], tmp_path / "out", mode="link")
        saved = report.saved[0]
        assert not os.path.samefile(saved.source, saved.destination)
        assert sha(saved.destination) == sha(source) == saved.sha256
        again = save_files([source], tmp_path / "out", mode="link")
        assert len(again.already_present) == 1
    finally:
        shutil.rmtree(shm)
