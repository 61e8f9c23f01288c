"""Checks of the options every public function takes, in one place.

Each check returns the value (converted where that is safe: a numpy scalar
to a Python number) or raises ``ValueError`` naming the option, the value
and what is expected, so that nonsense is never accepted silently and every
function words its refusals the same way.
"""
import math
import numbers
from typing import Iterable, Optional


def fraction(name: str, value, *, optional: bool = False) -> Optional[float]:
    """A number in [0, 1] (a probability, a confidence, a share); NaN refused."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


def count(name: str, value, *, minimum: int = 1, optional: bool = False) -> Optional[int]:
    """A whole number >= ``minimum`` (a top-k, a cap, a batch size)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        hint = " (or None)" if optional else ""
        raise ValueError(f"{name} must be a whole number >= {minimum}{hint}, got {value!r}")
    return int(value)


def positive(name: str, value, *, optional: bool = False) -> Optional[float]:
    """A finite number > 0 (a timeout, a size in pixels)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def choice(name: str, value, choices: Iterable):
    """One of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
    return value


def top_k(value) -> int:
    """The rule for every ``top_k``: a whole number >= 1; more than there are
    classes means all of them."""
    return count("top_k", value)
