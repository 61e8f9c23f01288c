"""core.io.http against a real HTTP server on 127.0.0.1: statuses, retries,
deadlines, cancel, size limits, redirects, schemes and resume."""
import threading
import time

import pytest

from orangecontrib.imagelab.core.errors import Cancelled, FetchError, reason
from orangecontrib.imagelab.core.io.http import HttpClient
from orangecontrib.imagelab.core.pixels import decoding
from tests.httpserver import LocalServer

BODY = bytes(range(256)) * 400  # 102,400 bytes


@pytest.fixture(scope="module")
def server():
    with LocalServer(trickle_pause=1.0) as srv:
        srv.files["a.jpg"] = BODY
        yield srv


@pytest.fixture(scope="module")
def client():
    with HttpClient(backoff=0.01) as c:
        yield c


def fails(client, url, **kwargs) -> FetchError:
    with pytest.raises(FetchError) as info:
        client.get(url, **kwargs)
    assert info.value.path == url
    return info.value


def test_200_404_and_status_reasons(server, client):
    assert client.get(server.url("img/a.jpg")) == BODY
    err = fails(client, server.url("status/404"))
    assert err.reason == "HTTP 404 (Not Found)" and err.status == 404
    assert reason(err) == "HTTP 404 (Not Found)"
    assert fails(client, server.url("status/403")).reason == "HTTP 403 (Forbidden)"


def test_500_then_200_is_retried(server, client):
    assert client.get(server.url("flaky/2/a.jpg"), retries=2) == BODY
    assert [e[2] for e in server.requests_for("/flaky/2/a.jpg")] == [500, 500, 200]
    err = fails(client, server.url("flaky/5/a.jpg"), retries=1)
    assert err.reason == "HTTP 500 (Internal Server Error)"
    assert len(server.requests_for("/flaky/5/a.jpg")) == 2
    # a 404 is not retried
    fails(client, server.url("status/404?x=1"), retries=3)
    assert server.hits["status/404"] >= 1


def test_retry_after_is_respected(server, client):
    start = time.monotonic()
    # retries=2 and a long deadline: one spare attempt in case the loaded
    # machine drops a pooled connection; the 503 -> 200 sequence is checked
    assert client.get(server.url("busy/1/a.jpg"), retries=2, timeout=30) == BODY
    assert time.monotonic() - start >= 0.95  # it waited what the server asked
    assert [e[2] for e in server.requests_for("/busy/1/a.jpg")][:2] == [503, 200]
    assert client.get(server.url("busy/date2/a.jpg"), retries=2, timeout=30) == BODY
    # a wait longer than the request's deadline is not waited for
    err = fails(client, server.url("busy/600/a.jpg"), retries=3, timeout=5)
    assert "503" in err.reason and "600 s" in err.reason
    assert len(server.requests_for("/busy/600/a.jpg")) == 1


@pytest.mark.timeout(120)  # without the deadline this would hang: fail instead
def test_silent_and_trickling_servers_end_by_the_total_deadline(server, client):
    # Each of these never finishes by itself: without a total deadline the
    # call would hang (trickle: a byte a second keeps a per-read timeout happy).
    for path in ("silent/a.jpg", "trickle/a.jpg", "trickle-head/a.jpg"):
        err = fails(client, server.url(path), timeout=1.5)
        assert err.reason == "timed out" and err.retryable, path


@pytest.mark.timeout(120)
def test_cancel_ends_a_read_under_way(server, client):
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(Cancelled):
        client.get(server.url("silent/b.jpg"), timeout=60, cancel=cancel)
    with pytest.raises(Cancelled):  # set before the call
        client.get(server.url("img/a.jpg"), cancel=cancel)


def test_redirects_followed_other_schemes_refused(server, client):
    assert client.get(server.url("redirect/a.jpg")) == BODY
    err = fails(client, server.url("redirect-to?url=ftp://127.0.0.1/a.jpg"))
    assert err.reason.startswith("refused scheme 'ftp'")
    err = fails(client, server.url("redirect-to?url=file:///etc/passwd"))
    assert err.reason.startswith("refused scheme 'file'")
    for url, why in [("ftp://127.0.0.1/a.jpg", "refused scheme 'ftp'"),
                     ("javascript:alert(1)", "refused scheme 'javascript'"),
                     ("", "no URL"), ("http:///a.jpg", "bad URL"),
                     ("not a url", "bad URL")]:
        assert fails(client, url).reason.startswith(why), url


def test_too_big_by_header_and_by_stream(server, client):
    err = fails(client, server.url("img/a.jpg"), max_bytes=1000)
    assert err.reason == "too big (over 1,000 bytes)"
    # no Content-Length to go by: the limit is met while streaming
    server.files["big.bin"] = b"x" * 5000
    err = fails(client, server.url("nolength/big.bin"), max_bytes=4999)
    assert err.reason.startswith("too big")
    assert client.get(server.url("nolength/big.bin"), max_bytes=5000) == b"x" * 5000


def test_unreachable_port_cannot_connect(client):
    err = fails(client, "http://127.0.0.1:1/a.jpg", retries=1)
    assert err.reason.startswith("cannot connect")


def test_download_resumes_a_cut_connection(server, client, tmp_path):
    part = tmp_path / "a.part"
    got = client.download(server.url("cut/a.jpg"), str(part), retries=2)
    assert part.read_bytes() == BODY
    assert got.resumed and got.attempts == 2 and got.size == len(BODY)
    log = server.requests_for("/cut/a.jpg")
    assert [(r[1], r[2]) for r in log] == [("", 200), (f"bytes={len(BODY) // 2}-", 206)]
    assert sum(r[3] for r in log) == len(BODY)  # no byte came twice


def test_download_continues_an_earlier_part_and_restarts_on_200(server, client, tmp_path):
    part = tmp_path / "b.part"
    part.write_bytes(BODY[:1000])
    got = client.download(server.url("img/a.jpg"), str(part))
    assert part.read_bytes() == BODY and got.resumed and got.received == len(BODY) - 1000
    # a part already complete: the server answers 416, nothing is re-sent
    got = client.download(server.url("img/a.jpg"), str(part))
    assert part.read_bytes() == BODY and got.received == 0
    # a server that ignores Range (here /html) makes the part start over
    part.write_bytes(b"old bytes")
    client.download(server.url("html/a.jpg"), str(part))
    assert part.read_bytes().startswith(b"<!DOCTYPE html>")


def test_download_of_a_file_url(client, tmp_path):
    source = tmp_path / "s.bin"
    source.write_bytes(BODY)
    got = client.download(source.as_uri(), str(tmp_path / "c.part"))
    assert (tmp_path / "c.part").read_bytes() == BODY and got.size == len(BODY)
    with pytest.raises(FetchError, match="too big"):
        client.download(source.as_uri(), str(tmp_path / "d.part"), max_bytes=10)
    with pytest.raises(FetchError, match="file not found"):
        client.get((tmp_path / "missing.jpg").as_uri())


def test_options_are_checked(client):
    for kwargs in ({"timeout": 0}, {"timeout": -1}, {"max_bytes": 0}, {"retries": -1},
                   {"timeout": "5"}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            client.get("http://127.0.0.1:1/a.jpg", **kwargs)


@pytest.mark.timeout(120)
def test_read_bytes_has_a_total_deadline(server):
    """Embedding, features, labels and thumbnails read URLs through
    ``decoding.read_bytes``: a trickling server must not hold them."""
    assert decoding.read_bytes(server.url("img/a.jpg")) == BODY
    with pytest.raises(FetchError, match="timed out"):
        decoding.read_bytes(server.url("trickle/a.jpg"), timeout=1.0)
    with pytest.raises(FetchError, match="HTTP 404"):
        decoding.read_bytes(server.url("status/404"))
