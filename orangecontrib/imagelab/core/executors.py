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
  that holds the GIL). A Dask cluster is another kind of executor; see
  ``issue 16`` work in this module when it lands.
- ``bounded_map`` keeps at most ``window`` calls in flight, so memory stays
  bounded whatever the number of items, and yields results in input order.
  Closing it early (an exception, ``Cancelled`` from a progress callback)
  cancels the calls not yet started and does not wait for the running ones:
  cancelled work is abandoned, never joined, so a Cancel returns at once.
"""
import functools
import os
from collections import deque
from concurrent.futures import (
    Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait)
from typing import Callable, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")

KINDS = ("inline", "threads", "processes")


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
                 name: str = "imagelab") -> Executor:
    """A new executor of ``kind`` ("inline", "threads" or "processes").

    ``max_workers`` defaults to one per core. The caller shuts it down, best
    with ``shutdown_quietly`` (or a ``with`` block when it must wait).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
        raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}")
    workers = max_workers or cores()
    if kind == "inline" or (kind == "threads" and workers == 1 and max_workers == 1):
        return InlineExecutor()
    if kind == "threads":
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    return ProcessPoolExecutor(max_workers=workers)


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
