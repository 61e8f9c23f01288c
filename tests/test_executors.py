"""core.executors: the one pool abstraction (no Qt)."""
import threading
import time

import pytest

from orangecontrib.imagelab.core.executors import (
    InlineExecutor, bounded_map, cores, get_executor, shutdown_quietly)


def test_kinds_and_options_are_checked():
    assert cores() >= 1
    assert isinstance(get_executor("inline"), InlineExecutor)
    with pytest.raises(ValueError, match="kind"):
        get_executor("gpu")
    with pytest.raises(ValueError, match="max_workers"):
        get_executor("threads", max_workers=0)
    with pytest.raises(ValueError, match="window"):
        list(bounded_map(InlineExecutor(), abs, [1], window=0))


@pytest.mark.parametrize("kind", ["inline", "threads"])
def test_bounded_map_keeps_order_and_window(kind):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.001 * (i % 3))
        with lock:
            in_flight[0] -= 1
        return i * i

    pool = get_executor(kind, max_workers=4)
    with pool:
        assert list(bounded_map(pool, work, range(50), window=3)) == [i * i for i in range(50)]
    assert peak[0] <= 3


def test_an_error_stops_the_map_and_cancels_the_rest():
    started = []

    def work(i):
        started.append(i)
        if i == 2:
            raise KeyError(i)
        return i

    with get_executor("inline") as pool:
        results = bounded_map(pool, work, range(100), window=4)
        with pytest.raises(KeyError):
            list(results)
    assert max(started) < 10


def test_closing_early_does_not_wait_for_running_calls():
    release = threading.Event()
    pool = get_executor("threads", max_workers=2)
    results = bounded_map(pool, lambda i: release.wait(10) and i, range(10), window=4)
    start = time.perf_counter()
    results.close()  # nothing consumed: as a Cancel would
    shutdown_quietly(pool)
    elapsed = time.perf_counter() - start
    release.set()
    assert elapsed < 5  # generous: the calls above would block for 10 s
