"""The one way Image Lab runs work in parallel: inline, threads, processes or Dask.

    >>> with get_executor("threads", max_workers=4) as pool:      # doctest: +SKIP
    ...     for vector in bounded_map(pool, embed_one, paths, window=8):
    ...         ...

Every parallel job asks here for its pool instead of making its own, so that
the rules are the same everywhere:

- ``get_executor`` returns a ``concurrent.futures.Executor``: ``"inline"``
  (runs each call at once in the caller's thread; for one core, tests and
  debugging), ``"threads"`` (Pillow, onnxruntime, hashing and sockets release
  the GIL, so threads are the default), or ``"processes"`` (pure-Python work
  that holds the GIL), or ``"dask"``: a Dask cluster (``client=`` a
  ``distributed.Client``, or ``scheduler=`` ``"local"`` or an address),
  whose futures behave like the others (see ``DaskExecutor``). Dask is an
  optional extra (``pip install orange3-imagelab[cluster]``) and is imported
  only when a cluster is asked for.
- ``bounded_map`` keeps at most ``window`` calls in flight, so memory stays
  bounded whatever the number of items, and yields results in input order.
  Closing it early (an exception, ``Cancelled`` from a progress callback)
  cancels the calls not yet started and does not wait for the running ones:
  cancelled work is abandoned, never joined, so a Cancel returns at once.
"""
import contextlib
import functools
import os
import threading
from collections import deque
from concurrent.futures import (
    CancelledError, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait)
from typing import Callable, Dict, Iterable, Iterator, Optional, TypeVar

from . import options
from .errors import ClusterError

T = TypeVar("T")
R = TypeVar("R")

KINDS = ("inline", "threads", "processes", "dask")
#: Seconds to wait for a Dask scheduler to answer, and for its first worker.
CONNECT_TIMEOUT = 10.0
INSTALL_HINT = "pip install orange3-imagelab[cluster]"


def cores() -> int:
    """CPU cores this process may use (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class InlineExecutor(Executor):
    """Runs each submitted call at once, in the caller's thread."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # pylint: disable=broad-except
            # delivered through the future, as a pool would
            future.set_exception(err)
        return future


def get_executor(kind: str = "threads", *, max_workers: Optional[int] = None,
                 name: str = "imagelab", client=None, scheduler: Optional[str] = None,
                 timeout: float = CONNECT_TIMEOUT) -> Executor:
    """A new executor of ``kind`` ("inline", "threads", "processes" or "dask").

    ``max_workers`` defaults to one per core. The caller shuts it down, best
    with ``shutdown_quietly`` (or a ``with`` block when it must wait).

    For ``"dask"`` give either ``client`` (a ``distributed.Client``, which
    stays open) or ``scheduler``: ``"local"`` starts a ``LocalCluster`` of
    one single-threaded worker process per core, an address such as
    ``"tcp://10.0.0.5:8786"`` connects to a running ``dask scheduler``
    (within ``timeout`` seconds, and waits as long for a worker); the
    executor closes what it started when it is shut down.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if kind == "dask":
        return DaskExecutor.open(client=client, scheduler=scheduler, timeout=timeout)
    if client is not None or scheduler is not None:
        raise ValueError(f"client and scheduler are options of kind='dask', not {kind!r}")
    if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
        raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}")
    workers = max_workers or cores()
    if kind == "inline" or (kind == "threads" and workers == 1 and max_workers == 1):
        return InlineExecutor()
    if kind == "threads":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    return ProcessPoolExecutor(max_workers=workers)


@contextlib.contextmanager
def cluster_executor(client=None, scheduler: Optional[str] = None, *,
                     timeout: float = CONNECT_TIMEOUT) -> Iterator[Optional["DaskExecutor"]]:
    """``with cluster_executor(client, scheduler) as executor:`` for the
    ``client=`` / ``scheduler=`` options of public functions.

    ``executor`` is None when both are None (the work runs on this
    computer), else ``get_executor("dask", ...)``. On leaving normally,
    what the executor started (a client, a LocalCluster) is closed; on an
    exception (``Cancelled`` included) the tasks still pending are cancelled
    and the closing happens in the background, so a Cancel returns at once.
    """
    if client is None and scheduler is None:
        yield None
        return
    executor = get_executor("dask", client=client, scheduler=scheduler, timeout=timeout)
    try:
        yield executor
    except BaseException:
        shutdown_quietly(executor)
        raise
    executor.shutdown(wait=True)


def runs_elsewhere(executor: Optional[Executor]) -> bool:
    """Whether ``executor``'s calls may run on other machines (a Dask cluster):
    then nothing of this computer (a cache, a local path) may be handed to
    them, and they return what this computer should store."""
    return isinstance(executor, DaskExecutor)


def worker_name() -> str:
    """"Dask worker tcp://10.0.0.7:40331" when called in a task on a Dask
    worker, else "this computer"; for reasons such as "file not found on
    Dask worker ..."."""
    import sys
    distributed = sys.modules.get("distributed")  # never import Dask just to ask
    if distributed is not None:
        try:
            return f"Dask worker {distributed.get_worker().address}"
        except (AttributeError, ValueError):
            pass
    return "this computer"


def check_scheduler(scheduler) -> str:
    """``"local"`` or a scheduler address (``tcp://host:8786``, ``host:8786``)."""
    if not isinstance(scheduler, str) or not scheduler.strip() or \
            any(ch.isspace() for ch in scheduler.strip()):
        raise ValueError("scheduler must be 'local' or the address of a Dask scheduler, "
                         f"e.g. 'tcp://10.0.0.5:8786', got {scheduler!r}")
    return scheduler.strip()


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise ClusterError("Computing on a Dask cluster needs Dask's distributed "
                           f"package: {INSTALL_HINT}") from err
    return distributed


class DaskExecutor(Executor):
    """A ``distributed.Client`` as a ``concurrent.futures.Executor``.

    ``submit`` sends the call to the cluster and returns a plain
    ``concurrent.futures.Future``, so ``bounded_map``, ``wait`` and Cancel
    work as with the other kinds: cancelling the future cancels the task on
    the cluster (in the background, so a Cancel never waits on the network).
    The function must be importable on the workers (a module-level function
    of this package) and its arguments must pickle; whatever it reads must
    be readable on the workers. A worker that dies is Dask's business: it
    runs the task again elsewhere. If the scheduler goes away, the pending
    futures fail with ``ClusterError``.
    """

    def __init__(self, client, *, owned: tuple = ()):
        self.client = client
        self._owned = owned  # what this executor started, closed on shutdown
        self._lock = threading.Lock()
        self._remote = set()  # the cluster's futures not finished yet
        self._to_cancel = []
        self._cancelling = False
        self._closed = False
        try:
            self.address = str(client.scheduler.address)
        except AttributeError:
            self.address = "the Dask scheduler"

    @classmethod
    def open(cls, *, client=None, scheduler: Optional[str] = None,
             timeout: float = CONNECT_TIMEOUT, min_workers: int = 1) -> "DaskExecutor":
        """See ``get_executor``; ``min_workers=0`` does not wait for a worker
        (to ask a scheduler what it has)."""
        if (client is None) == (scheduler is None):
            raise ValueError("give either client (a distributed.Client) or scheduler "
                             "('local' or an address), not both or neither")
        timeout = options.positive("timeout", timeout)
        distributed = _distributed()
        if client is not None:
            if not isinstance(client, distributed.Client):
                raise ValueError(f"client must be a distributed.Client, got {client!r}")
            return cls(client)
        scheduler = check_scheduler(scheduler)
        owned = []
        try:
            if scheduler == "local":
                cluster = distributed.LocalCluster(
                    n_workers=cores(), threads_per_worker=1, processes=True,
                    dashboard_address=None)
                owned.append(cluster)
                target = cluster
            else:
                target = scheduler
            try:
                client = distributed.Client(target, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise ClusterError(
                    f"Cannot connect to the Dask scheduler at {scheduler} within "
                    f"{timeout:g} s ({err}). Is `dask scheduler` running there, and is "
                    "the address right?") from err
            owned.insert(0, client)
            try:
                if min_workers:
                    client.wait_for_workers(min_workers, timeout=timeout)
            except (OSError, TimeoutError) as err:
                raise ClusterError(
                    f"The Dask scheduler at {scheduler} has no workers; start some with "
                    f"`dask worker {scheduler}` on the machines that should compute."
                ) from err
        except BaseException:
            _close_all(owned)
            raise
        return cls(client, owned=tuple(owned))

    # -- what the cluster has ---------------------------------------------
    def nthreads(self) -> Dict[str, int]:
        """Worker address -> its threads."""
        return dict(self.client.nthreads())

    def workers(self) -> int:
        return len(self.nthreads())

    def capacity(self) -> int:
        """Calls that can run at once: the workers' threads together."""
        return max(1, sum(self.nthreads().values()))

    # -- Executor -----------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self._closed:
            raise RuntimeError("cannot submit to a DaskExecutor after shutdown")
        remote = self.client.submit(fn, *args, pure=False, **kwargs)
        local = Future()
        with self._lock:
            self._remote.add(remote)
        local.add_done_callback(functools.partial(self._cancel_remote, remote))
        remote.add_done_callback(functools.partial(self._relay, local))
        return local

    def _relay(self, local: Future, remote) -> None:
        """In Dask's callback thread: the remote outcome into ``local``."""
        with self._lock:
            self._remote.discard(remote)
        if local.cancelled():
            return
        value, error = None, None
        try:
            if remote.status == "error":
                error = remote.exception()
            else:
                value = remote.result()  # fetched from the worker now
        except Exception as err:  # pylint: disable=broad-except
            # cancelled by the scheduler as it lost us, or the result's
            # connection closed: either way the cluster is gone
            why = getattr(err, "reason", None) if isinstance(err, CancelledError) else None
            error = ClusterError(
                f"The Dask scheduler at {self.address} went away or dropped the work "
                f"({why or f'{type(err).__name__}: {err}'}). Results that came back "
                "before are kept (cached): run again when the cluster is back, or "
                "compute on this computer.")
        if not local.set_running_or_notify_cancel():
            return
        if error is not None:
            local.set_exception(error)
        else:
            local.set_result(value)

    def _cancel_remote(self, remote, local: Future) -> None:
        if not local.cancelled():
            return
        with self._lock:
            self._remote.discard(remote)
            self._to_cancel.append(remote)
            start = not self._cancelling
            self._cancelling = True
        if start:
            threading.Thread(target=self._drain_cancels, daemon=True,
                             name="imagelab-dask-cancel").start()

    def _drain_cancels(self) -> None:
        # Client.cancel waits for the scheduler's answer: never on the caller's
        # thread, so that Cancel returns at once even if the scheduler is gone.
        while True:
            with self._lock:
                batch, self._to_cancel = self._to_cancel, []
                if not batch:
                    self._cancelling = False
                    return
            try:
                self.client.cancel(batch)
            except Exception:  # pylint: disable=broad-except
                pass  # the client or the scheduler is gone: nothing runs there any more

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel the tasks not finished (if ``cancel_futures``) and close what
        this executor started; ``wait=False`` returns at once and closes in
        the background. A client given to ``open`` stays open."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            remote = list(self._remote)
        if cancel_futures and remote:
            with self._lock:
                self._to_cancel.extend(remote)
                start = not self._cancelling
                self._cancelling = True
            if start:
                threading.Thread(target=self._drain_cancels, daemon=True,
                                 name="imagelab-dask-cancel").start()
        elif wait and remote:
            try:
                _distributed().wait(remote)
            except Exception:  # pylint: disable=broad-except
                pass  # each future reports its own failure
        if not self._owned:
            return
        if wait:
            _close_all(self._owned)
        else:
            threading.Thread(target=_close_all, args=(self._owned,), daemon=True,
                             name="imagelab-dask-close").start()


def _close_all(things) -> None:
    """Close clients and clusters, each on its own, whatever the others do."""
    for thing in things:
        try:
            thing.close()
        except Exception:  # pylint: disable=broad-except
            pass  # closing what is already gone


def shutdown_quietly(executor: Executor) -> None:
    """Cancel what has not started and return without waiting for the rest."""
    executor.shutdown(wait=False, cancel_futures=True)


def bounded_map(executor: Executor, fn: Callable[[T], R], items: Iterable[T], *,
                window: int, poll: Optional[Callable[[], None]] = None,
                poll_interval: float = 0.2,
                discard: Optional[Callable[[R], object]] = None) -> Iterator[R]:
    """``fn(item)`` for each item, at most ``window`` in flight, in input order.

    An exception raised by ``fn`` is raised here when its result is reached;
    the calls still queued are then cancelled. So is everything pending when
    the consumer stops iterating (closes the generator).

    ``poll()``, if given, is called every ``poll_interval`` seconds while the
    next result is not ready, e.g. the job's progress callback: a Cancel then
    raises ``Cancelled`` here at once, even while a call waits on a silent
    server, instead of after that call ends.

    ``discard``, if given, is called with the result of each call still
    pending when the map stops early (at once if it is done, else when it
    completes, in its worker), e.g. to remove a temporary file no one will
    use; shutting the executor down with ``wait=True`` waits for those too.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window!r}")
    if isinstance(executor, InlineExecutor):
        # Nothing runs ahead in the caller's thread: each call when its result
        # is wanted, without a Future (which costs more than copying a small file).
        for item in items:
            yield fn(item)
        return
    pending: deque = deque()
    iterator = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(executor.submit(fn, item))
            if not pending:
                return
            if poll is not None:
                while not pending[0].done():
                    wait([pending[0]], timeout=poll_interval)
                    if not pending[0].done():
                        poll()
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
            if discard is not None:
                future.add_done_callback(functools.partial(_discard_result, discard))


def _discard_result(discard: Callable[[R], object], future: Future) -> None:
    if not future.cancelled() and future.exception() is None:
        discard(future.result())
