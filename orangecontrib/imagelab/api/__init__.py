"""Scripting functions: core jobs wrapped to take and return Orange tables.

Each module here runs one core job and converts its result with ``tables``;
none imports Qt. Widgets reach the core only through this package; the
names below are the core's user-facing types and texts they need.
"""
from orangecontrib.imagelab.core.errors import (  # noqa: F401  (re-exported)
    Cancelled, ImageError, ImageLabError, SkippedEntry, UnknownLabelError, reason,
    skipped_summary)
