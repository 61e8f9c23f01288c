"""Thumbnail loader: background decoding at thumbnail size, LRU by bytes, errors, retain."""
import time

from AnyQt.QtCore import QCoreApplication
from AnyQt.QtWidgets import QApplication

from orangecontrib.imagelab.widgets.utils.thumbnails import (
    ThumbnailLoader, size_step)
from tests.images import make_image, make_truncated_jpeg

app = QApplication.instance() or QApplication([])


def wait(loader, timeout=10.0):
    end = time.monotonic() + timeout
    while loader.pending() and time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.002)
    QCoreApplication.processEvents()
    assert loader.pending() == 0


def test_decodes_at_thumbnail_size_in_background(tmp_path):
    big = make_image(tmp_path / "big.jpg", size=(3000, 2000), noise=20)
    loader = ThumbnailLoader(max_workers=2)
    got = []
    loader.loaded.connect(lambda loc, size: got.append((loc, size)))
    assert loader.request(str(big), 128)
    assert not loader.request(str(big), 128)  # already queued
    wait(loader)
    image = loader.image(str(big), 128)
    assert (image.width(), image.height()) == (128, 85)
    assert got == [(str(big), 128)]
    assert not loader.request(str(big), 128)  # cached
    # Another size is decoded separately; best_image falls back meanwhile.
    assert loader.best_image(str(big), 256) is image
    loader.shutdown()


def test_errors_are_reported_once_with_a_reason(tmp_path):
    bad = make_truncated_jpeg(tmp_path / "bad.jpg")
    loader = ThumbnailLoader(max_workers=1)
    failures = []
    loader.failed.connect(lambda loc, reason: failures.append(reason))
    loader.request(str(bad), 64)
    loader.request(str(tmp_path / "nope.png"), 64)
    wait(loader)
    assert sorted(failures) == ["file not found", "truncated JPEG"]
    assert loader.error(str(bad)) == "truncated JPEG"
    assert not loader.request(str(bad), 128)  # known bad: not tried again
    loader.shutdown()


def test_cache_is_bounded_lru(tmp_path):
    paths = [str(make_image(tmp_path / f"{i}.png", size=(64, 64))) for i in range(6)]
    one = 64 * 64 * 3
    loader = ThumbnailLoader(max_workers=1, max_bytes=3 * one)
    for path in paths[:3]:
        loader.request(path, 64)
    wait(loader)
    loader.image(paths[0], 64)  # touch: most recently used
    for path in paths[3:5]:
        loader.request(path, 64)
    wait(loader)
    cached = [p for p in paths if loader.image(p, 64) is not None]
    assert cached == [paths[0], paths[3], paths[4]]
    loader.clear()
    assert loader.image(paths[0], 64) is None
    loader.shutdown()


def test_retain_drops_requests_scrolled_away(tmp_path):
    paths = [str(make_image(tmp_path / f"{i}.png", size=(200, 200), noise=30, seed=i))
             for i in range(40)]
    loader = ThumbnailLoader(max_workers=1)
    for path in paths:
        loader.request(path, 64)
    keep = [(p, 64) for p in paths[-5:]]
    loader.retain(keep)
    wait(loader)
    decoded = [p for p in paths if loader.image(p, 64) is not None]
    assert set(paths[-5:]) <= set(decoded)
    assert len(decoded) < 10  # at most those already being decoded, plus the kept
    loader.shutdown()


def test_size_steps():
    assert size_step(10) == 64 and size_step(64) == 64 and size_step(65) == 128
    assert size_step(10_000) == 2048


def test_workers_stop_when_the_loader_is_deleted_without_shutdown():
    from AnyQt import sip
    from orangecontrib.imagelab.widgets.utils import thumbnails
    loader = ThumbnailLoader(max_workers=2)
    threads = list(loader._threads)
    sip.delete(loader)                    # e.g. its parent view went first
    end = time.monotonic() + 10 * thumbnails.IDLE_CHECK + 5
    while any(t.is_alive() for t in threads) and time.monotonic() < end:
        time.sleep(0.05)
    assert not any(t.is_alive() for t in threads)


def test_prefetch_waits_behind_visible_requests_and_survives_retain(tmp_path):
    paths = [str(make_image(tmp_path / f"p{i}.png", size=(60, 40), seed=i)) for i in range(6)]
    loader = ThumbnailLoader(max_workers=1)
    idle = []
    loader.idle.connect(lambda: idle.append(True))
    assert loader.prefetch([(p, 64) for p in paths[:4]]) == 4
    assert loader.prefetch([(p, 64) for p in paths[:4]]) == 0      # already queued
    loader.retain([])                    # a repaint with nothing on screen
    loader.request(paths[5], 64)
    wait(loader)
    assert all(loader.is_ready(p, 64) for p in paths[:4] + [paths[5]])
    assert not loader.is_ready(paths[4], 64)
    assert idle
    loader.shutdown()
