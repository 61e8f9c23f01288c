"""Downloading images (core.io.download, api.download) from a real local
HTTP server: every outcome named, each file once, resume, kill and rerun,
cancel, 1,000 URLs, and the tables that come out."""
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from Orange.data import Domain, StringVariable, Table
from PIL import Image

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.api.download import download_images, find_url_column
from orangecontrib.imagelab.core.errors import Cancelled, ImageError
from orangecontrib.imagelab.core.io.download import (
    DownloadStats, check_image, download_urls, safe_stem)
from orangecontrib.imagelab.core.io.http import HttpClient
from tests.httpserver import LocalServer
from tests.images import make_truncated_jpeg

ROOT = Path(__file__).resolve().parent.parent


def jpeg(i: int, size=(24, 16)) -> bytes:
    rng = np.random.default_rng(i)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png(i: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (10 + i, 7), (i % 255, 9, 9)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def server():
    with LocalServer(trickle_pause=1.0, half_pause=0.05) as srv:
        yield srv


@pytest.fixture(scope="module")
def client():
    with HttpClient(backoff=0.01) as c:
        yield c


def complete(folder: Path, name: str, data: bytes) -> bool:
    return (folder / name).read_bytes() == data


def test_every_outcome_is_named(server, client, tmp_path):
    """Item 5: 200, 404, 500 then 200, slow, redirect, HTML, too big, cut."""
    for i in range(4):
        server.files[f"p{i}.jpg"] = jpeg(i)
    server.files["p.png"] = png(1)
    server.files["big.jpg"] = jpeg(9, size=(300, 300))
    cases = {
        "img/p0.jpg": ("downloaded", None),
        "status/404": ("failed", "HTTP 404 (Not Found)"),
        "flaky/1/p1.jpg": ("downloaded", None),
        "silent/p0.jpg": ("failed", "timed out"),
        "redirect/p2.jpg": ("downloaded", None),
        "html/p0.jpg": ("failed", "not an image (an HTML page)"),
        "img/big.jpg": ("failed", "too big (over 5,000 bytes)"),
        "cut/p3.jpg": ("downloaded", None),
        "img/p.png": ("downloaded", None),
        "status/500": ("failed", "HTTP 500 (Internal Server Error)"),
    }
    urls = [server.url(path) for path in cases] + \
        ["ftp://127.0.0.1/a.jpg", "", None, "not a url", "http://127.0.0.1:1/x.jpg"]
    report = download_urls(urls, tmp_path, timeout=1.0, retries=1, max_bytes=5000,
                           client=client)
    for (path, (status, why)), got, name in zip(cases.items(), report.status, report.paths):
        assert got == status, path
        if status == "downloaded":
            assert name.endswith(".png" if path.endswith("png") else ".jpg")
    reasons = dict(zip(report.failed_rows, (e.reason for e in report.failed)))
    for row, (path, (status, why)) in enumerate(cases.items()):
        if why:
            assert reasons[row] == why, path
    tail = [reasons[row] for row in range(len(cases), len(urls))]
    assert tail[0].startswith("refused scheme 'ftp'")
    assert tail[1:3] == ["no URL", "no URL"]
    assert tail[3].startswith("bad URL") and tail[4].startswith("cannot connect")
    assert report.failed[-1].path == "http://127.0.0.1:1/x.jpg"
    # the cut download was resumed with a range, not fetched again whole
    cut = server.requests_for("/cut/p3.jpg")
    assert [r[1].startswith("bytes=") for r in cut] == [False, True]
    name = report.paths[list(cases).index("cut/p3.jpg")]
    assert complete(tmp_path, name, server.files["p3.jpg"])
    # nothing half-written is left: failures leave no part file behind
    assert not list(tmp_path.glob("*.part"))
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".jpg"] * 4 + [".png"]


def test_names_from_ids_and_urls_never_collide_or_escape(server, client, tmp_path):
    server.files["a.jpg"] = jpeg(1)
    server.files["b.jpg"] = jpeg(2)
    urls = [server.url("img/a.jpg"), server.url("img/b.jpg"), server.url("img/a.jpg"),
            server.url("img/a.jpg?v=2")]
    report = download_urls(urls, tmp_path, names=["../../etc/x", "../../etc/x", None, None],
                           client=client)
    assert report.status == ["downloaded"] * 4
    assert report.paths[0] != report.paths[1]           # one ID, two URLs: two files
    assert report.paths[2] == report.paths[0] != report.paths[3]  # one URL, one file
    assert all("/" not in p and not p.startswith(".") for p in report.paths)
    assert len(server.requests_for("/img/a.jpg")) == 2  # a.jpg and a.jpg?v=2, not 3
    assert set(os.listdir(tmp_path)) == set(report.paths)
    assert safe_stem("http://x/CON.jpg").startswith("_CON-")
    assert safe_stem("http://x/a.jpg", "000a1249af2bc5f0") == "000a1249af2bc5f0"
    assert len(safe_stem("http://x/" + "z" * 500 + ".jpg")) <= 90
    assert safe_stem("http://x/photo.jpg") != safe_stem("http://y/photo.jpg")
    assert safe_stem("http://x/", None).startswith("image-")


def test_rerun_keeps_present_files_and_never_overwrites(server, client, tmp_path):
    for i in range(3):
        server.files[f"p{i}.jpg"] = jpeg(i)
    urls = [server.url(f"img/p{i}.jpg") for i in range(3)]
    first = download_urls(urls, tmp_path, names=["a", "b", "c"], client=client)
    assert first.status == ["downloaded"] * 3
    hits = sum(server.hits.values())
    (tmp_path / "a.part").write_bytes(b"x")  # a run killed between link and unlink
    second = download_urls(urls, tmp_path, names=["a", "b", "c"], client=client)
    assert second.status == ["present"] * 3 and second.paths == first.paths
    assert not (tmp_path / "a.part").exists()
    assert sum(server.hits.values()) == hits            # nothing fetched again
    # a file in the way that is not an image: left alone, the row names it
    (tmp_path / "a.jpg").write_bytes(b"my notes")
    third = download_urls(urls, tmp_path, names=["a", "b", "c"], client=client)
    assert third.status[0] == "failed" and "a.jpg is in the way" in third.failed[0].reason
    assert (tmp_path / "a.jpg").read_bytes() == b"my notes"
    # skip_existing=False fetches again; new content goes to a free name
    server.files["p1.jpg"] = jpeg(11)
    fourth = download_urls(urls[1:], tmp_path, names=["b", "c"], client=client,
                           skip_existing=False)
    assert fourth.status == ["downloaded", "present"]
    assert fourth.paths == ["b (2).jpg", "c.jpg"]
    assert complete(tmp_path, "b.jpg", jpeg(1)) and complete(tmp_path, "b (2).jpg", jpeg(11))


def test_a_thousand_urls_in_one_run(server, client, tmp_path):
    n = 1000
    for i in range(n):
        server.files[f"{i}.png"] = png(i % 50)
    urls = [server.url(f"img/{i}.png") for i in range(n)]
    stats = DownloadStats()
    report = download_urls(urls, tmp_path, threads=16, client=client, stats=stats)
    assert report.count("downloaded") == n and not report.failed
    assert stats.done == n and stats.received == sum(len(server.files[f"{i}.png"])
                                                     for i in range(n))
    assert all(server.hits[f"img/{i}.png"] == 1 for i in range(n))
    assert len(os.listdir(tmp_path)) == n


def test_cancel_leaves_no_half_written_file(server, client, tmp_path):
    server.half_pause = 0.5
    for i in range(40):
        server.files[f"{i}.jpg"] = jpeg(i, size=(64, 64))
    urls = [server.url(f"halves/{i}.jpg") for i in range(40)]
    calls = []

    def callback(fraction):
        calls.append(fraction)
        if len(calls) > 3:  # after the first results, with downloads under way
            raise Cancelled()

    with pytest.raises(Cancelled):
        download_urls(urls, tmp_path, threads=8, client=client, callback=callback)
    names = os.listdir(tmp_path)
    assert not [n for n in names if n.endswith(".part")]
    for name in names:  # what is there is whole
        check_image(str(tmp_path / name))
        assert (tmp_path / name).read_bytes() in server.files.values()


KILLED_RUN = """
import sys
from orangecontrib.imagelab.core.io.download import download_urls
urls = sys.argv[2:]
download_urls(urls, sys.argv[1], threads=8, timeout=30)
"""


def test_kill_mid_way_then_rerun_fetches_nothing_twice(server, tmp_path):
    """A run killed with SIGKILL leaves part files; the rerun completes every
    file, asks only for what is missing, and continues the parts by range."""
    server.half_pause = 0.3
    n = 60
    for i in range(n):
        server.files[f"{i}.jpg"] = jpeg(i, size=(80, 60))
    urls = [server.url(f"halves/{i}.jpg") for i in range(n)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path), *urls],
                               env=env, cwd=ROOT)
    try:
        def half_way():  # some files done, and some part files half written
            return len(server.log) >= 16 and any(
                p.stat().st_size and not p.with_suffix(".jpg").exists()
                for p in tmp_path.glob("*.part"))

        deadline = time.monotonic() + 60
        while not half_way() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert half_way(), "the first run did not get half way"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(server.log) < n, "the first run ended before it was killed"
    first = {name for name in os.listdir(tmp_path) if not name.endswith(".part")}
    parts = {name[:-len(".part")]: (tmp_path / name).stat().st_size
             for name in os.listdir(tmp_path) if name.endswith(".part")}
    # (a part beside its finished file: killed between linking and removing it)
    resumable = {stem for stem, size in parts.items()
                 if size and stem + ".jpg" not in first}
    assert first and resumable, (first, parts)
    with HttpClient(backoff=0.01, user_agent="rerun") as client:
        report = download_urls(urls, tmp_path, threads=8, client=client)
    assert report.count("failed") == 0, report.failed
    for i, name in enumerate(report.paths):
        assert complete(tmp_path, name, server.files[f"{i}.jpg"])
    assert not list(tmp_path.glob("*.part"))
    # Nothing on disk was fetched again: complete files not at all, part
    # files from the byte where they ended.
    rerun = [entry for entry in server.log if entry[4] == "rerun"]
    assert len(rerun) == n - len(first)
    resumed = set()
    for path, byte_range, status, sent, _ in rerun:
        stem = safe_stem(server.url(path.lstrip("/")))
        assert stem + ".jpg" not in first, f"{path} was complete and fetched again"
        have = parts.get(stem, 0)
        assert byte_range == (f"bytes={have}-" if have else ""), (path, have, byte_range)
        resumed |= {stem} if have else set()
    assert resumed == resumable


def test_file_urls_and_options(tmp_path, client):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.png").write_bytes(png(3))
    report = download_urls([(source / "a.png").as_uri(), (source / "none.png").as_uri(),
                            "file:relative/a.png"], tmp_path / "out", client=client)
    assert report.status == ["downloaded", "failed", "failed"]
    assert report.failed[0].reason == "file not found"
    assert report.failed[1].reason.startswith("bad URL")
    assert report.sizes[0] == (13, 7, len(png(3)))
    for kwargs, option in [({"threads": 0}, "threads"), ({"timeout": 0}, "timeout"),
                           ({"retries": -1}, "retries"), ({"max_bytes": 0}, "max_bytes")]:
        with pytest.raises(ValueError, match=option):
            download_urls([], tmp_path, **kwargs)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="folder"):
        download_urls([], tmp_path / "file")


def test_sizes_are_stored_pixels_as_boxes_count_them(tmp_path):
    image = Image.new("RGB", (40, 20), (9, 9, 9))
    exif = image.getexif()
    exif[0x0112] = 6  # shown rotated, 20 wide and 40 high; stored 40 x 20
    path = tmp_path / "r.jpg"
    image.save(path, exif=exif)
    info = check_image(str(path))
    assert (info.format, info.width, info.height, info.display_size) == \
        ("JPEG", 40, 20, (20, 40))
    truncated = make_truncated_jpeg(tmp_path / "t.jpg", size=(200, 150))
    with pytest.raises(ImageError, match="truncated JPEG"):
        check_image(str(truncated))


# ------------------------------------------------------------------ api

def url_table(urls, ids=None, extra=None):
    url_var = tables.image_variable("url")
    metas = [url_var] + ([StringVariable("image id")] if ids else []) + \
        ([StringVariable("note")] if extra else [])
    columns = [urls] + ([ids] if ids else []) + ([extra] if extra else [])
    M = np.array(list(zip(*columns)), dtype=object).reshape(len(urls), len(metas))
    return Table.from_numpy(Domain([], metas=metas), np.empty((len(urls), 0)), metas=M)


def test_download_images_table_in_table_out(server, tmp_path):
    for i in range(3):
        server.files[f"p{i}.jpg"] = jpeg(i)
    data = url_table([server.url("img/p0.jpg"), server.url("status/404"),
                      server.url("img/p2.jpg")], ids=["i0", "i1", "i2"],
                     extra=["x", "y", "z"])
    assert find_url_column(data).name == "url"
    result = download_images(data, tmp_path / "out", timeout=5, retries=0)
    out = result.data
    assert len(out) == 2 and result.n_downloaded == 2 and result.n_failed == 1
    image = tables.find_image_column(out.domain)
    assert image.name == "image" and image.attributes["origin"] == str(tmp_path / "out")
    assert list(out.get_column(image)) == ["i0.jpg", "i2.jpg"]
    assert list(out.get_column("note")) == ["x", "z"]       # input columns kept
    assert "type" not in out.domain["url"].attributes       # one image column
    assert list(out.get_column("source url")) == [server.url("img/p0.jpg"),
                                                  server.url("img/p2.jpg")]
    assert list(out.get_column("width")) == [24, 24]
    assert tables.image_locations(out)[0] == str(tmp_path / "out" / "i0.jpg")
    assert list(result.failed_data.get_column("reason")) == ["HTTP 404 (Not Found)"]
    assert result.failed[0].path == server.url("status/404")
    with pytest.raises(ValueError, match="url_column"):
        download_images(Table.from_numpy(Domain([], metas=[StringVariable("t")]),
                                         np.empty((1, 0)),
                                         metas=np.array([["hello"]], dtype=object)),
                        tmp_path)


def test_boxes_follow_the_downloaded_files_in_pixels(server, tmp_path):
    server.files["a.jpg"] = jpeg(1, size=(200, 100))
    urls = [server.url("img/a.jpg"), server.url("status/404")]
    data = url_table(urls, ids=["a", "b"])
    boxes = tables.boxes_table(
        tables.image_variable("url"), [urls[0], urls[0], urls[1]], ["Cat", "Dog", "Cat"],
        np.array([[0.1, 0.2, 0.5, 1.0], [0, 0, 1, 1], [0, 0, 0.5, 0.5]]),
        image_ids=["a", "a", "b"], box_ids=["a-0", "a-1", "b-0"], normalized=True)
    result = download_images(data, tmp_path, boxes=boxes, retries=0)
    out = result.boxes
    assert len(out) == 2 and tables.is_boxes_table(out)
    coords, normalized = tables.box_coordinates(out)
    assert not normalized
    np.testing.assert_allclose(coords, [[20, 20, 100, 100], [0, 0, 200, 100]])
    assert tables.image_locations(out) == [str(tmp_path / "a.jpg")] * 2
    assert list(out.get_column("source url")) == [urls[0]] * 2
    assert list(out.get_column("box id")) == ["a-0", "a-1"]


def test_rotated_photos_show_their_shown_size_and_boxes_use_stored_pixels(tmp_path):
    image = Image.new("RGB", (40, 20), (9, 9, 9))
    exif = image.getexif()
    exif[0x0112] = 6
    source = tmp_path / "src.jpg"
    image.save(source, exif=exif)
    data = url_table([source.as_uri()], ids=["r"])
    boxes = tables.boxes_table(tables.image_variable("url"), [source.as_uri()], ["x"],
                               np.array([[0.5, 0.5, 1, 1]]), image_ids=["r"],
                               box_ids=["r-0"], normalized=True)
    result = download_images(data, tmp_path / "out", boxes=boxes)
    assert (result.data.get_column("width")[0], result.data.get_column("height")[0]) == (20, 40)
    coords, _ = tables.box_coordinates(result.boxes)
    np.testing.assert_allclose(coords, [[20, 10, 40, 20]])
