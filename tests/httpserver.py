"""A real HTTP server on 127.0.0.1 for network tests and the download benchmark.

    with LocalServer() as server:
        server.files["a.jpg"] = jpeg_bytes
        url = server.url("img/a.jpg")

Routes (``<name>`` is a key of ``server.files``; every response to a GET
is logged in ``server.log`` as ``(path, range header or "", status,
body bytes sent, user agent)``, before its last bytes are written):

    /img/<name>          the file, with Range support (206 / 416)
    /status/<code>       that status, a short text body
    /flaky/<n>/<name>    500 for the first n requests of this path, then the file
    /busy/<secs>/<name>  503 with Retry-After: secs the first time, then the file
    /silent/<name>       reads the request and never answers
    /trickle/<name>      headers, then the body one byte a second
    /trickle-head/<name> the status line and headers themselves one byte a second
    /redirect/<name>     302 to /img/<name>
    /redirect-to?url=U   302 to U (any scheme)
    /html/<name>         an HTML page (200, text/html) instead of the image
    /cut/<name>          first request: half the body, then the connection
                         closes; later requests: as /img (Range honoured)
    /nolength/<name>     the file without a Content-Length (ends at close)
    /halves/<name>       the body in two halves, ``half_pause`` seconds apart

``latency`` (seconds) is added before every answer. Threads that wait (silent,
trickle) end when the server stops.
"""
import email.utils
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ImageLabTest/1.0"

    def log_message(self, *args):  # keep test output clean
        pass

    @property
    def owner(self) -> "LocalServer":
        return self.server.owner

    def do_GET(self):  # noqa: N802 (http.server's name)
        owner = self.owner
        path = urllib.parse.urlsplit(self.path).path.lstrip("/")
        with owner.lock:
            owner.hits[path] += 1
            hit = owner.hits[path]
        if owner.latency:
            time.sleep(owner.latency)
        route, _, rest = path.partition("/")
        handler = getattr(self, "route_" + route.replace("-", "_"), None)
        if handler is None:
            return self.reply(404, b"no such route")
        try:
            handler(rest, hit)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -------------------------------------------------------------- parts

    def record(self, status: int, sent: int):
        with self.owner.lock:
            self.owner.log.append((urllib.parse.urlsplit(self.path).path,
                                   self.headers.get("Range", ""), status, sent,
                                   self.headers.get("User-Agent", "")))

    def reply(self, status: int, body: bytes = b"", content_type="text/plain",
              headers=(), send_body=True):
        # logged before anything goes out: a client that has the answer (or
        # gave up on it after the status line) finds it in the log
        self.record(status, len(body) if send_body else 0)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def file(self, name: str) -> bytes:
        return self.owner.files[urllib.parse.unquote(name)]

    def serve_file(self, name: str):
        try:
            data = self.file(name)
        except KeyError:
            return self.reply(404, b"not found")
        content_type = self.owner.types.get(name, "image/jpeg")
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes=") and spec.endswith("-"):
            start = int(spec[6:-1])
            if start >= len(data):
                return self.reply(416, b"", headers=[("Content-Range", f"bytes */{len(data)}")])
            body = data[start:]
            return self.reply(206, body, content_type, headers=[
                ("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")])
        self.reply(200, data, content_type)

    def wait(self, seconds: float) -> bool:
        """Sleep; False once the server is stopping."""
        return not self.owner.stopping.wait(seconds)

    # ------------------------------------------------------------- routes

    def route_img(self, name, hit):
        self.serve_file(name)

    def route_status(self, code, hit):
        self.reply(int(code), f"status {code}".encode())

    def route_flaky(self, rest, hit):
        n, _, name = rest.partition("/")
        if hit <= int(n):
            return self.reply(500, b"try again")
        self.serve_file(name)

    def route_busy(self, rest, hit):
        seconds, _, name = rest.partition("/")
        if hit == 1:
            value = seconds
            if seconds.startswith("date"):  # Retry-After as an HTTP date
                value = email.utils.formatdate(time.time() + int(seconds[4:]), usegmt=True)
            return self.reply(503, b"busy", headers=[("Retry-After", value)])
        self.serve_file(name)

    def route_silent(self, name, hit):
        while self.wait(0.5):
            pass
        self.record(0, 0)

    def route_trickle(self, name, hit):
        data = self.file(name)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        sent = 0
        for byte in data:
            if not self.wait(self.owner.trickle_pause):
                break
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            sent += 1
        self.record(200, sent)

    def route_trickle_head(self, name, hit):
        data = self.file(name)
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(data)}\r\n" + "X-Padding: " + "x" * 200 + "\r\n\r\n")
        for byte in head.encode():
            if not self.wait(self.owner.trickle_pause):
                break
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
        self.record(0, 0)
        self.close_connection = True

    def route_redirect(self, name, hit):
        self.reply(302, b"", headers=[("Location", f"/img/{name}")])

    def route_redirect_to(self, rest, hit):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        self.reply(302, b"", headers=[("Location", query["url"][0])])

    def route_html(self, name, hit):
        self.reply(200, b"<!DOCTYPE html><html><body>Sign in to see this photo"
                        b"</body></html>", "text/html; charset=utf-8")

    def route_cut(self, name, hit):
        if hit > 1:
            return self.serve_file(name)
        data = self.file(name)
        half = data[:len(data) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        self.record(200, len(half))
        self.close_connection = True

    def route_nolength(self, name, hit):
        data = self.file(name)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Connection", "close")
        self.end_headers()
        self.record(200, len(data))
        self.wfile.write(data)
        self.close_connection = True

    def route_halves(self, name, hit):
        data = self.file(name)
        spec = self.headers.get("Range", "")
        start = int(spec[6:-1]) if spec.startswith("bytes=") and spec.endswith("-") else 0
        if start >= len(data):
            return self.reply(416, b"", headers=[("Content-Range", f"bytes */{len(data)}")])
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        middle = len(body) // 2
        self.wfile.write(body[:middle])
        self.wfile.flush()
        if self.wait(self.owner.half_pause):
            self.record(206 if start else 200, len(body))
            self.wfile.write(body[middle:])
        else:
            self.record(206 if start else 200, middle)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (a free port), for a ``with`` block."""

    def __init__(self, *, latency: float = 0.0, trickle_pause: float = 1.0,
                 half_pause: float = 0.05):
        self.files = {}
        self.types = {}
        self.log = []
        self.hits = Counter()
        self.lock = threading.Lock()
        self.latency = latency
        self.trickle_pause = trickle_pause
        self.half_pause = half_pause
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def start(self) -> "LocalServer":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def requests_for(self, path: str):
        """Logged responses whose path is ``path`` (e.g. "/img/a.jpg")."""
        with self.lock:
            return [entry for entry in self.log if entry[0] == path]


def serve_forever_in_process(files_dir: str, port_file: str, latency: float = 0.0):
    """Serve every file of ``files_dir`` under /img/ until killed (a separate
    process for the benchmark, so the server does not share our GIL); writes
    its port to ``port_file``."""
    import os
    server = LocalServer(latency=latency)
    for name in os.listdir(files_dir):
        with open(os.path.join(files_dir, name), "rb") as f:
            server.files[name] = f.read()
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.port))
    os.replace(port_file + ".tmp", port_file)
    threading.Event().wait()
