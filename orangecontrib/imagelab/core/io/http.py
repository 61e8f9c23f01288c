"""The one way Image Lab reads from the network: pooled, bounded, resumable.

    >>> client = HttpClient()                                   # doctest: +SKIP
    >>> data = client.get("https://example.org/a.jpg", timeout=10)
    >>> client.download("https://example.org/b.jpg", "b.part")

Every URL the add-on reads goes through here: downloads, and
``decoding.read_bytes`` for embedding, features, labels and thumbnails.
Built on ``httpx`` (a connection pool, redirects), with what a desktop
application needs on top:

- a **total deadline per attempt** (``timeout``): connecting, sending and
  every read together end by it, so a server that trickles one byte a second
  or never answers cannot hold a thread longer. A per-read timeout alone
  does not do that, so the socket layer is wrapped (``_GuardedStream``):
  each read waits in slices of ``SLICE`` seconds and checks the deadline and
  the ``cancel`` event between slices;
- **cancellation**: pass a ``threading.Event``; once it is set, a read in
  progress ends within ``SLICE`` seconds and the call raises ``Cancelled``;
- ``max_bytes``: a bigger body is refused ("too big") as soon as it is
  known (Content-Length) or reached, never read whole into memory;
- **retries** with exponential backoff on 5xx, 408, 429, timeouts and broken
  connections, waiting what ``Retry-After`` asks (when it fits the deadline);
- **resume**: ``download`` appends to a ``.part`` file with a ``Range``
  request, and starts over when the server ignores the range;
- only ``http``, ``https`` and ``file`` URLs (``paths.check_url``); a
  redirect to any other scheme is refused.

Failures raise ``FetchError`` (``.path`` the URL, ``.reason`` from
``errors.reason``). Host name resolution is the one step no deadline can cut
short (the operating system's resolver does not take one); it has its own
timeouts.
"""
import contextlib
import email.utils
import os
import random
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import httpcore
import httpx

from ..errors import Cancelled, FetchError, reason, status_reason, too_big_reason
from ..paths import check_url, url_to_path

__all__ = ["HttpClient", "Fetched", "shared_client", "SLICE", "USER_AGENT"]

#: Seconds a blocked read waits before it looks at its deadline and cancel event.
SLICE = 0.2

USER_AGENT = "orange3-imagelab (https://github.com/biolab; image downloader)"

#: Statuses worth another try: the server is busy or failed for now.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


# ------------------------------------------------------------- the guard
# The deadline and cancel event of the request running in this thread. A
# sync httpx request runs wholly in its caller's thread (pool, connect,
# reads), so a thread-local reaches the socket layer without threading it
# through httpx.

class _Guard(threading.local):
    deadline: Optional[float] = None
    cancel: Optional[threading.Event] = None


_GUARD = _Guard()


@contextlib.contextmanager
def _guarded(deadline: float, cancel: Optional[threading.Event]) -> Iterator[None]:
    saved = _GUARD.deadline, _GUARD.cancel
    _GUARD.deadline, _GUARD.cancel = deadline, cancel
    try:
        yield
    finally:
        _GUARD.deadline, _GUARD.cancel = saved


def _bounded(timeout: Optional[float]) -> float:
    """``timeout`` cut to what is left of this thread's deadline."""
    deadline = _GUARD.deadline
    if deadline is None:
        return timeout if timeout is not None else 60.0
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's total deadline passed")
    return left if timeout is None else min(timeout, left)


def _left() -> float:
    """Seconds left to this thread's deadline (a little at least: the
    socket layer then raises the timeout)."""
    deadline = _GUARD.deadline
    return 60.0 if deadline is None else max(0.001, deadline - time.monotonic())


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose reads end by the guard's deadline or cancel."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            cancel = _GUARD.cancel
            if cancel is not None and cancel.is_set():
                raise httpcore.ReadError("cancelled")
            wait = _bounded(None if give_up is None else give_up - time.monotonic())
            if wait <= 0:
                raise httpcore.ReadTimeout("read timed out")
            try:
                return self._stream.read(max_bytes, min(wait, SLICE))
            except httpcore.ReadTimeout:
                if wait <= SLICE:
                    raise
                # A slice passed without data: look at the deadline and
                # cancel again (a timed-out recv loses no data).

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _GuardedStream(self._stream.start_tls(
            ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with deadline-bounded connects and reads."""

    def __init__(self):
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None,
                    socket_options=None):
        return _GuardedStream(self._backend.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _GuardedStream(self._backend.connect_unix_socket(
            path, _bounded(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# ------------------------------------------------------------ transport

_HTTPCORE_ERRORS = (
    # most specific first
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's exceptions as httpx's (as httpx's own transport does)."""
    try:
        yield
    except httpcore.TimeoutException as err:
        raise _as_httpx(err) from err
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError,
            httpcore.UnsupportedProtocol) as err:
        raise _as_httpx(err) from err


def _as_httpx(err: Exception) -> Exception:
    for core_class, httpx_class in _HTTPCORE_ERRORS:
        if isinstance(err, core_class):
            return httpx_class(str(err))
    return httpx.TransportError(str(err))


class _Body(httpx.SyncByteStream):
    def __init__(self, stream):
        self._stream = stream

    def __iter__(self):
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        if hasattr(self._stream, "close"):
            self._stream.close()


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


class _Transport(httpx.BaseTransport):
    """httpx's transport, rebuilt on the public httpcore API so that its
    sockets are guarded; proxies come from the environment (``http_proxy``,
    ``https_proxy``, ``no_proxy``) as with any other program, never for
    loopback addresses."""

    def __init__(self, connections: int):
        self._ssl = httpx.create_ssl_context()
        self._connections = connections
        self._pools = {}  # proxy URL or None -> httpcore pool
        self._proxies = {scheme: url for scheme, url in urllib.request.getproxies().items()
                         if scheme in ("http", "https")}
        self._lock = threading.Lock()

    def _pool(self, url: httpx.URL):
        proxy = self._proxies.get(url.scheme)
        host = url.host or ""
        if proxy and (_is_loopback(host) or urllib.request.proxy_bypass(host)):
            proxy = None
        with self._lock:
            pool = self._pools.get(proxy)
            if pool is None:
                options = dict(ssl_context=self._ssl, max_connections=self._connections,
                               max_keepalive_connections=self._connections,
                               network_backend=_GuardedBackend())
                if proxy is None:
                    pool = httpcore.ConnectionPool(**options)
                else:
                    pool = httpcore.HTTPProxy(proxy_url=proxy, **options)
                self._pools[proxy] = pool
            return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream,
            extensions=request.extensions)
        with _httpx_errors():
            response = self._pool(request.url).handle_request(core_request)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_Body(response.stream),
                              extensions=response.extensions)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


# --------------------------------------------------------------- client

@dataclass
class Fetched:
    """What ``HttpClient.download`` wrote.

    ``url``: the URL after redirects; ``size``: bytes in the file;
    ``received``: bytes that came over the network in this call (less than
    ``size`` when a ``.part`` file was resumed); ``resumed``: whether a range
    request continued an earlier part; ``content_type``: the server's (or
    "" for a file URL); ``attempts``: requests made.
    """
    url: str
    size: int
    received: int
    resumed: bool
    content_type: str
    attempts: int


class _Retry(Exception):
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, error: FetchError):
        super().__init__(error.reason)
        self.error = error


class HttpClient:
    """A pooled HTTP client for many threads at once (see the module docstring).

    ``connections``: the most open connections (per proxy); give at least
    as many as threads use it. ``backoff``: seconds before the first retry,
    doubled after each (at most ``max_backoff``, with some jitter).
    """

    def __init__(self, *, connections: int = 32, backoff: float = 0.5,
                 max_backoff: float = 8.0, max_redirects: int = 10,
                 user_agent: str = USER_AGENT):
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections!r}")
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._client = httpx.Client(
            transport=_Transport(connections), follow_redirects=True,
            max_redirects=max_redirects,
            headers={"User-Agent": user_agent, "Accept": "image/*,*/*;q=0.5",
                     # byte offsets must be those of the file, for Range
                     "Accept-Encoding": "identity"})

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------- public

    def get(self, url: str, *, timeout: float = 30.0, max_bytes: int = 50_000_000,
            retries: int = 0, cancel: Optional[threading.Event] = None) -> bytes:
        """The body of ``url`` (http, https or file), at most ``max_bytes``.

        ``timeout`` is the total deadline of each attempt in seconds;
        ``retries`` the attempts after the first. Raises ``FetchError`` or
        ``Cancelled``.
        """
        _check_options(timeout, max_bytes, retries)
        if check_url(url) == "file":
            return _read_file(url, max_bytes)
        parts = []

        def attempt() -> None:
            parts.clear()
            self._stream(url, {}, max_bytes, 0, parts.append)

        self._attempts(url, attempt, timeout, retries, cancel)
        return b"".join(parts)

    def download(self, url: str, part_path: str, *, timeout: float = 30.0,
                 max_bytes: int = 50_000_000, retries: int = 3,
                 cancel: Optional[threading.Event] = None,
                 on_bytes: Optional[Callable[[int], None]] = None) -> Fetched:
        """Fetch ``url`` into ``part_path``, continuing a partial file there.

        The caller decides what the part becomes (checks it, renames it);
        this only makes it complete. A broken connection is retried with a
        ``Range`` request from the bytes already written; a server that
        answers the range with the whole file (200) starts the file over.
        ``on_bytes(n)`` is called from this thread as bytes arrive (for
        MB/s). On ``Cancelled`` or a failure the part file stays as it is.
        """
        _check_options(timeout, max_bytes, retries)
        if check_url(url) == "file":
            return _copy_file(url, part_path, max_bytes, cancel, on_bytes)
        state = {"received": 0, "resumed": False, "type": "", "url": url, "attempts": 0}

        def attempt() -> None:
            state["attempts"] += 1
            have = os.path.getsize(part_path) if os.path.exists(part_path) else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            # Unbuffered: what arrived is on disk even if the process is
            # killed, so the next run resumes from there.
            with open(part_path, "ab", buffering=0) as f:
                def sink(chunk: bytes) -> None:
                    f.write(chunk)
                    state["received"] += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
                info = self._stream(url, headers, max_bytes, have, sink,
                                    restart=lambda: f.truncate(0))
            state["resumed"] |= info["resumed"]
            state["type"], state["url"] = info["type"], info["url"]

        self._attempts(url, attempt, timeout, retries, cancel)
        return Fetched(state["url"], os.path.getsize(part_path), state["received"],
                       state["resumed"], state["type"], state["attempts"])

    # ---------------------------------------------------------- private

    def _attempts(self, url: str, attempt: Callable[[], None], timeout: float,
                  retries: int, cancel: Optional[threading.Event]) -> None:
        for number in range(retries + 1):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            try:
                with _guarded(time.monotonic() + timeout, cancel):
                    attempt()
                return
            except _Retry as retry:
                error = retry.error
            except httpx.HTTPError as err:
                if cancel is not None and cancel.is_set():
                    raise Cancelled() from err
                error = FetchError(url, reason(err), retryable=_retryable(err))
                error.__cause__ = err
                if not error.retryable:
                    raise error from err
            if number == retries:
                raise error
            wait = error.retry_after
            if wait is None:
                wait = min(self.max_backoff, self.backoff * 2 ** number)
                wait *= random.uniform(0.8, 1.2)
            elif wait > timeout:
                raise FetchError(url, f"{error.reason}, and the server asks to wait "
                                      f"{wait:,.0f} s", status=error.status)
            if cancel is not None:
                if cancel.wait(wait):
                    raise Cancelled()
            else:
                time.sleep(wait)

    def _stream(self, url: str, headers: dict, max_bytes: int, have: int,
                sink: Callable[[bytes], None],
                restart: Optional[Callable[[], None]] = None) -> dict:
        """One GET; passes the body to ``sink``; -> {"resumed", "type", "url"}."""
        with self._client.stream("GET", url, headers=headers,
                                 timeout=httpx.Timeout(_left())) as response:
            status = response.status_code
            final_url = str(response.url)
            if have and status == 416 and _range_total(response) == have:
                return {"resumed": True, "type": "", "url": final_url}  # complete already
            if status in RETRY_STATUSES:
                raise _Retry(FetchError(url, status_reason(status), status=status,
                                        retryable=True,
                                        retry_after=_retry_after(response)))
            if status not in (200, 206) or (status == 206 and not have):
                raise FetchError(url, status_reason(status), status=status)
            resumed = status == 206 and _range_start(response) == have
            if status == 206 and not resumed:
                raise FetchError(url, f"the server sent a range other than the one "
                                      f"asked for ({response.headers.get('content-range')})")
            if have and not resumed:
                restart()  # the server sends the whole file again
                have = 0
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and have + int(length) > max_bytes:
                raise FetchError(url, too_big_reason(max_bytes))
            total = have
            for chunk in response.iter_bytes():  # as received: a cut keeps them
                total += len(chunk)
                if total > max_bytes:
                    raise FetchError(url, too_big_reason(max_bytes))
                sink(chunk)
            return {"resumed": resumed, "url": final_url,
                    "type": response.headers.get("content-type", "")}


def _check_options(timeout, max_bytes, retries) -> None:
    if not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")


def _retryable(err: Exception) -> bool:
    return isinstance(err, (httpx.TimeoutException, httpx.NetworkError,
                            httpx.RemoteProtocolError))


def _retry_after(response: httpx.Response) -> Optional[float]:
    """Seconds from a Retry-After header (seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _content_range(response: httpx.Response):
    """(start, total) of ``Content-Range: bytes start-end/total`` or ``bytes */total``."""
    value = response.headers.get("content-range", "")
    unit, _, spec = value.partition(" ")
    if unit.strip().lower() != "bytes":
        return None, None
    span, _, total = spec.partition("/")
    start = span.partition("-")[0].strip()
    return (int(start) if start.isdigit() else None,
            int(total) if total.strip().isdigit() else None)


def _range_start(response: httpx.Response) -> Optional[int]:
    return _content_range(response)[0]


def _range_total(response: httpx.Response) -> Optional[int]:
    return _content_range(response)[1]


def _file_path(url: str) -> str:
    path = url_to_path(url)
    if not os.path.isabs(path):
        raise FetchError(url, "bad URL (a relative file URL must be resolved "
                              "against its metadata folder first)")
    return path


def _read_file(url: str, max_bytes: int) -> bytes:
    path = _file_path(url)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise FetchError(url, reason(err)) from err
    if len(data) > max_bytes:
        raise FetchError(url, too_big_reason(max_bytes))
    return data


def _copy_file(url: str, part_path: str, max_bytes: int,
               cancel: Optional[threading.Event],
               on_bytes: Optional[Callable[[int], None]]) -> Fetched:
    """A file URL "downloaded": copied into the part file (whole, not resumed)."""
    path = _file_path(url)
    try:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            if size > max_bytes:
                raise FetchError(url, too_big_reason(max_bytes))
            with open(part_path, "wb") as target:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    chunk = source.read(1 << 20)
                    if not chunk:
                        break
                    target.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
                    if target.tell() > max_bytes:
                        raise FetchError(url, too_big_reason(max_bytes))
    except OSError as err:
        raise FetchError(url, reason(err)) from err
    size = os.path.getsize(part_path)
    return Fetched(url, size, size, False, "", 1)


_SHARED: Optional[HttpClient] = None
_SHARED_LOCK = threading.Lock()


def shared_client() -> HttpClient:
    """The process's client for reads that need no settings of their own
    (``decoding.read_bytes``): one pool, kept for the process's life."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = HttpClient(connections=64)
        return _SHARED

