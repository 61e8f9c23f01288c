"""core.io.sources: walking folders and zip archives safely (no Qt)."""
import hashlib
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from orangecontrib.imagelab.core.errors import ArchiveError, Cancelled
from orangecontrib.imagelab.core.paths import cache_dir
from orangecontrib.imagelab.core.io.sources import (
    extract_archive, quick_probe, scan_archive, scan_folder)
from tests.images import (
    make_class_folders, make_image, make_text_file, make_truncated_jpeg,
    make_zero_byte)


def reasons(result):
    return {s.path: s.reason for s in result.skipped}


def test_labels_from_innermost_folder_and_root_images_unlabelled(tmp_path):
    make_class_folders(tmp_path, ("cats", "dogs"), per_class=2)
    make_image(tmp_path / "zoo" / "birds" / "b.png")
    make_image(tmp_path / "root.jpg")
    result = scan_folder(tmp_path)
    labels = {r.path: r.label for r in result.records}
    assert labels["cats/cats_0.jpg"] == "cats"
    assert labels["zoo/birds/b.png"] == "birds"
    assert labels["root.jpg"] is None
    assert result.labels == ["birds", "cats", "dogs"]
    assert result.origin == str(tmp_path)
    rec = next(r for r in result.records if r.path == "cats/cats_0.jpg")
    assert (rec.width, rec.height, rec.format) == (64, 48, "JPEG")
    assert rec.size == os.path.getsize(tmp_path / "cats" / "cats_0.jpg")


def test_bad_files_are_skipped_with_reasons(tmp_path):
    make_image(tmp_path / "good.jpg")
    make_truncated_jpeg(tmp_path / "cut.jpg", size=(256, 256))
    make_zero_byte(tmp_path / "empty.jpg")
    make_text_file(tmp_path / "fake.jpg")
    make_image(tmp_path / "raw.bin", fmt="JPEG")  # no image suffix: still checked
    result = scan_folder(tmp_path)
    assert sorted(r.path for r in result.records) == ["good.jpg", "raw.bin"]
    why = reasons(result)
    assert "truncated" in why["cut.jpg"]
    assert "empty file" in why["empty.jpg"]
    assert why["fake.jpg"] == "not an image file"


def test_side_files_are_ignored_not_reported(tmp_path):
    make_image(tmp_path / "a.jpg")
    make_text_file(tmp_path / "notes.txt")
    make_text_file(tmp_path / "labels.csv", "file,label\na.jpg,x\n")
    result = scan_folder(tmp_path)
    assert [r.path for r in result.records] == ["a.jpg"]
    assert result.skipped == []


def test_check_full_finds_damage_headers_do_not_show(tmp_path):
    # A PNG whose pixel data is corrupt but whose header and end are intact.
    path = make_image(tmp_path / "bad.png", size=(64, 64), noise=50)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 40
    data[start:start + 200] = bytes(200)
    path.write_bytes(bytes(data))
    make_image(tmp_path / "good.png")
    assert len(scan_folder(tmp_path).records) == 2
    full = scan_folder(tmp_path, check_full=True)
    assert [r.path for r in full.records] == ["good.png"]
    assert "bad.png" in reasons(full)


def _png_with_size(path, width, height):
    """A tiny PNG whose header claims width×height pixels."""
    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_a_skipped_entry(tmp_path):
    _png_with_size(tmp_path / "bomb.png", 100_000, 100_000)
    _png_with_size(tmp_path / "big.png", 12_000, 9_000)  # 108 MP: Pillow only warns
    make_image(tmp_path / "ok.png")
    result = scan_folder(tmp_path)
    assert [r.path for r in result.records] == ["ok.png"]
    why = reasons(result)
    assert "decompression bomb" in why["bomb.png"]
    assert "decompression" in why["big.png"]


def test_hidden_files_and_folders_are_ignored(tmp_path):
    make_image(tmp_path / "a" / "x.jpg")
    make_image(tmp_path / "a" / ".hidden.jpg")
    make_image(tmp_path / ".thumbs" / "y.jpg")
    make_text_file(tmp_path / ".DS_Store")
    result = scan_folder(tmp_path)
    assert [r.path for r in result.records] == ["a/x.jpg"]
    assert result.skipped == []


def test_unicode_and_spaces(tmp_path):
    make_image(tmp_path / "mačke in psi" / "Čajna skodelica 1.jpg")
    make_image(tmp_path / "日本" / "写真 2.png")
    result = scan_folder(tmp_path)
    assert {r.path for r in result.records} == {
        "mačke in psi/Čajna skodelica 1.jpg", "日本/写真 2.png"}
    assert {r.label for r in result.records} == {"mačke in psi", "日本"}


def test_symlinks_out_of_root_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    make_image(outside / "secret.jpg")
    root = tmp_path / "root"
    make_image(root / "in" / "a.jpg")
    os.symlink(outside, root / "link_dir")
    os.symlink(outside / "secret.jpg", root / "in" / "link.jpg")
    os.symlink(root / "in" / "a.jpg", root / "inside_link.jpg")  # inside: fine
    os.symlink(root, root / "in" / "loop")  # a loop back to the root
    result = scan_folder(root)
    paths = {r.path for r in result.records}
    assert paths == {"in/a.jpg", "inside_link.jpg"}
    why = reasons(result)
    assert "outside" in why["link_dir"] and "outside" in why["in/link.jpg"]


def test_source_files_are_not_modified(tmp_path):
    make_class_folders(tmp_path / "src", per_class=2)
    make_truncated_jpeg(tmp_path / "src" / "cut.jpg")
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        for p in (tmp_path / "src").rglob("*.jpg"):
            zf.write(p, p.relative_to(tmp_path / "src").as_posix())

    def snapshot():
        return {p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
                for p in tmp_path.rglob("*") if p.is_file()}

    before = snapshot()
    scan_folder(tmp_path / "src", check_full=True)
    scan_archive(tmp_path / "a.zip", check_full=True)
    assert snapshot() == before


def test_cancel_via_callback(tmp_path):
    make_class_folders(tmp_path, per_class=5)
    calls = []

    def callback(fraction):
        calls.append(fraction)
        if fraction > 0.1:
            raise Cancelled()

    with pytest.raises(Cancelled):
        scan_folder(tmp_path, callback=callback)
    with pytest.raises(Cancelled):
        scan_folder(tmp_path, check_full=True, callback=callback)
    assert calls and all(0 <= f <= 1 for f in calls)


def test_progress_reaches_one(tmp_path):
    make_class_folders(tmp_path, per_class=2)
    calls = []
    scan_folder(tmp_path, callback=calls.append)
    assert calls[-1] == 1.0 and calls == sorted(calls)


def test_quick_probe_agrees_with_pillow(tmp_path):
    cases = [make_image(tmp_path / "a.jpg", size=(33, 17)),
             make_image(tmp_path / "g.jpg", size=(20, 10), mode="L"),
             make_image(tmp_path / "a.png", size=(31, 7)),
             make_image(tmp_path / "p.png", size=(5, 9), mode="P"),
             make_image(tmp_path / "e.jpg", size=(40, 30),
                        exif=b"Exif\x00\x00" + b"\x00" * 30000)]
    for path in cases:
        info = quick_probe(str(path))
        with Image.open(path) as im:
            assert info is not None, path
            assert (info.width, info.height, info.format, info.mode) == \
                (*im.size, im.format, im.mode), path
    assert quick_probe(str(make_truncated_jpeg(tmp_path / "t.jpg"))) is None
    assert quick_probe(str(make_image(tmp_path / "x.gif"))) is None


# ---------------------------------------------------------------- archives


def _zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _jpeg_bytes(tmp_path, color=(10, 200, 30)):
    return make_image(tmp_path / f"_{color}.jpg", color=color).read_bytes()


def test_zip_is_extracted_once_into_cache(tmp_path):
    jpg = _jpeg_bytes(tmp_path)
    archive = _zip(tmp_path / "set.zip", {
        "cats/a.jpg": jpg, "dogs/b.jpg": jpg, "c.jpg": jpg,
        "__MACOSX/cats/._a.jpg": b"junk", "cats/.hidden.jpg": jpg})
    result = scan_archive(archive)
    origin = Path(result.origin)
    assert origin.parent == cache_dir() / "archives"
    assert sorted(r.path for r in result.records) == ["c.jpg", "cats/a.jpg", "dogs/b.jpg"]
    assert {r.path: r.label for r in result.records}["cats/a.jpg"] == "cats"
    assert not (origin / "__MACOSX").exists()
    mtime = (origin / "cats" / "a.jpg").stat().st_mtime_ns
    again = scan_archive(archive)
    assert again.origin == result.origin
    assert (origin / "cats" / "a.jpg").stat().st_mtime_ns == mtime  # not re-extracted
    assert not [p for p in origin.parent.iterdir() if p.name.startswith(".tmp")]


def test_zip_slip_entries_are_refused_and_reported(tmp_path):
    jpg = _jpeg_bytes(tmp_path)
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/a.jpg", jpg)
        zf.writestr(zipfile.ZipInfo("../../escaped.jpg"), jpg)
        zf.writestr(zipfile.ZipInfo("/tmp/absolute.jpg"), jpg)
        zf.writestr(zipfile.ZipInfo("ok/../../up.jpg"), jpg)
        link = zipfile.ZipInfo("ok/link.jpg")
        link.create_system = 3
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    before = set(tmp_path.parent.rglob("*"))
    result = scan_archive(archive)
    assert [r.path for r in result.records] == ["ok/a.jpg"]
    why = reasons(result)
    assert "'..'" in why["../../escaped.jpg"] and "'..'" in why["ok/../../up.jpg"]
    assert "absolute" in why["/tmp/absolute.jpg"]
    assert "link" in why["ok/link.jpg"]
    assert not Path("/tmp/absolute.jpg").exists()
    new = set(tmp_path.parent.rglob("*")) - before
    assert all(str(p).startswith(str(cache_dir())) for p in new), new


def test_zip_bomb_ratio_is_stopped(tmp_path):
    archive = _zip(tmp_path / "bomb.zip", {"a/zeros.jpg": b"\0" * (50 * 1024 ** 2)})
    with pytest.raises(ArchiveError, match="compressed .*:1"):
        extract_archive(archive)
    assert not [p for p in (cache_dir() / "archives").iterdir()
                if p.name.startswith(".tmp")]


def test_zip_total_size_limit(tmp_path):
    jpg = _jpeg_bytes(tmp_path)
    archive = _zip(tmp_path / "big.zip", {f"a/{i}.jpg": jpg for i in range(5)})
    with pytest.raises(ArchiveError, match="more than the limit"):
        extract_archive(archive, max_bytes=2 * len(jpg))


def test_zip_lying_about_sizes_is_stopped(tmp_path):
    # Declared file_size says 10 bytes; the data is much bigger.
    archive = _zip(tmp_path / "liar.zip", {"x.jpg": b"A" * 5000}, zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    # patch uncompressed size in the local header (offset 22) and central directory
    struct.pack_into("<I", data, 22, 10)
    cd = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, 10)
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        extract_archive(archive)


def test_broken_zip_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        extract_archive(path)


def test_unicode_names_in_zip(tmp_path):
    jpg = _jpeg_bytes(tmp_path)
    archive = _zip(tmp_path / "u.zip", {"mačke/čaj 1.jpg": jpg, "犬/写真.jpg": jpg})
    result = scan_archive(archive)
    assert {r.label for r in result.records} == {"mačke", "犬"}


# ------------------------------------------------- import limits (issue 17, item 5)


def test_entries_starting_with_dot_slash_import_like_the_rest(tmp_path):
    jpg = _jpeg_bytes(tmp_path)
    archive = _zip(tmp_path / "dots.zip", {"./cats/a.jpg": jpg, "./dogs/./b.jpg": jpg,
                                           "./c.jpg": jpg})
    result = scan_archive(archive)
    assert sorted(r.path for r in result.records) == ["c.jpg", "cats/a.jpg", "dogs/b.jpg"]
    assert not result.skipped


def test_duplicates_and_file_folder_clashes_are_named(tmp_path):
    jpg = _jpeg_bytes(tmp_path)
    other = _jpeg_bytes(tmp_path, color=(200, 0, 0))
    archive = tmp_path / "clash.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cats/a.jpg", jpg)
        zf.writestr("./cats/a.jpg", other)      # the same name a second time
        zf.writestr("dogs", jpg)                # a file ...
        zf.writestr("dogs/b.jpg", jpg)          # ... that is also a folder
    result = scan_archive(archive)
    assert sorted(r.path for r in result.records) == ["cats/a.jpg", "dogs/b.jpg"]
    why = reasons(result)
    assert "second entry with the same name" in why["./cats/a.jpg"]
    assert "share this name" in why["dogs"]
    first = Path(result.origin, "cats", "a.jpg").read_bytes()
    assert first == jpg  # the first entry is kept


def test_many_small_entries_are_a_bomb_too(tmp_path):
    # each entry is under the per-entry check (< 1 MiB); together they expand
    # 1000:1 from a few KB
    archive = _zip(tmp_path / "many.zip",
                   {f"a/{i}.jpg": b"\0" * (1024 ** 2 - 1) for i in range(3)})
    with pytest.raises(ArchiveError, match="entries unpack to .*:1"):
        extract_archive(archive)


def test_nfc_and_nfd_spellings_are_one_category(tmp_path):
    import unicodedata
    for i, form in enumerate(("NFC", "NFD")):
        folder = tmp_path / unicodedata.normalize(form, "Café")
        folder.mkdir(exist_ok=True)
        make_image(folder / f"{i}.jpg")
    make_image(tmp_path / "Tea" / "t.jpg")
    labels = {r.label for r in scan_folder(tmp_path).records}
    assert labels == {unicodedata.normalize("NFC", "Café"), "Tea"}
