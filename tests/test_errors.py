"""core.errors and core.paths: one reason per exception, one summary, one URL rule."""
import errno

from orangecontrib.imagelab.core.errors import (
    ImageError, SkippedEntry, as_image_error, reason, skipped_summary)
from orangecontrib.imagelab.core.paths import is_remote, is_url, url_scheme, url_to_path


def test_reasons_read_and_write():
    assert reason(FileNotFoundError(errno.ENOENT, "x")) == "file not found"
    assert reason(OSError(errno.ENOSPC, "x"), writing=True) == "disk full"
    assert reason(PermissionError(errno.EACCES, "x"), writing=True) == \
        "cannot write: permission denied"
    assert reason(TimeoutError()) == "timed out"
    assert reason(ImageError("a.jpg", "truncated JPEG")) == "truncated JPEG"
    assert reason(MemoryError()).startswith("too large")
    assert "not valid" in reason(UnicodeEncodeError("utf-8", "\udce9", 0, 1, "surrogates"))


def test_image_errors_from_anything():
    assert as_image_error("a", ImageError("a", "x")).reason == "x"
    assert as_image_error("a", ValueError("odd")).reason == "cannot decode (ValueError: odd)"
    assert "decompression bomb" in as_image_error("a", UserWarning("big")).reason


def test_skipped_summary():
    entries = [SkippedEntry(f"f{i}.jpg", "truncated JPEG") for i in range(4)]
    assert skipped_summary(entries, 1204) == (
        "4 of 1,204 files skipped: f0.jpg (truncated JPEG), f1.jpg (truncated JPEG), "
        "f2.jpg (truncated JPEG), ...")
    assert skipped_summary([SkippedEntry("", "no image")], 2, noun="rows", verb="left out") \
        == "1 of 2 rows left out: (empty cell) (no image)"


def test_url_rules():
    assert is_url("http://a/b.jpg") and is_url("HTTPS://a") and is_url("file:///tmp/a.png")
    assert is_url("file:/tmp/a.png")
    assert not is_url("C:\\photos\\a.jpg") and not is_url("/tmp/a.jpg") and not is_url(None)
    assert not is_url("ftp://a/b.jpg") and url_scheme("ftp://a") is None
    assert is_remote("http://a") and not is_remote("file:///a")
    assert url_to_path("file:///tmp/a%20b.png") == "/tmp/a b.png"
    assert url_to_path("http://a/b") is None
