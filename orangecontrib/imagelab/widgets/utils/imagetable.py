"""Helpers shared by the image-showing widgets (no Qt here)."""
import hashlib
import os

import numpy as np
from Orange.data import Table

from orangecontrib.imagelab import tables


def selection_key(data: Table) -> str:
    """A short fingerprint of a table's rows, to recognise the same data again.

    Widgets store a selection as row indices together with this key and
    restore it only when data with the same key arrives (e.g. after the
    workflow is saved and reopened); table ids change between sessions, so
    the key hashes the row count and the image column (or, lacking one, X).
    """
    digest = hashlib.sha1(str(len(data)).encode())
    candidates = tables.image_column_candidates(data.domain)
    if candidates:
        digest.update("\0".join(map(str, data.get_column(candidates[0]))).encode())
    else:
        digest.update(np.ascontiguousarray(data.X, dtype=float).tobytes())
    return digest.hexdigest()[:16]


def skipped_message(failed: dict, total: int) -> str:
    """ "3 of 1,204 images cannot be shown: a.jpg (truncated JPEG), ..." """
    first = ", ".join(f"{os.path.basename(path) or path} ({reason})"
                      for path, reason in list(failed.items())[:3])
    more = ", ..." if len(failed) > 3 else ""
    return f"{len(failed):,} of {total:,} images cannot be shown: {first}{more}"
