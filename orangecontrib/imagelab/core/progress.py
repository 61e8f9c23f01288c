"""Progress callbacks: ``callback(fraction in [0, 1])``; it may raise Cancelled."""
from typing import Callable, Optional

ProgressCallback = Optional[Callable[[float], None]]


def _ignore(_fraction: float) -> None:
    pass


def checked(callback: ProgressCallback) -> Callable[[float], None]:
    """Return ``callback`` or a no-op, so callers can call it unconditionally."""
    return callback if callback is not None else _ignore


def sub_range(callback: ProgressCallback, start: float, end: float
              ) -> Callable[[float], None]:
    """A callback for one step of a longer job, mapping [0, 1] onto [start, end]."""
    callback = checked(callback)
    span = end - start

    def report(fraction: float) -> None:
        callback(start + span * min(max(fraction, 0.0), 1.0))

    return report
