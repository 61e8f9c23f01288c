"""``download_images``: a table with a URL column to local image files.

    >>> from orangecontrib.imagelab import download_images
    >>> result = download_images(table, "photos/")          # doctest: +SKIP
    >>> result.data       # the rows whose image is on disk: an images table
    >>> result.failed     # [SkippedEntry(url, "HTTP 404 (Not Found)"), ...]

``data`` keeps every input column and row order (failed rows skipped) and
adds, first among the metas, ``image`` (the local file, relative to the
folder: ``type=image``, ``origin=<folder>``), then at the end ``source url``,
``size`` (bytes), ``width`` and ``height`` (as shown, after the EXIF
orientation, like Import Images). The URL column
itself stays, without the ``type=image`` mark, so the local column is the
one image column. ``failed_data`` holds the failed input rows with a
``reason`` meta, to inspect or to feed back for another try.

With ``boxes`` (a boxes table whose image column holds the same URLs, e.g.
Dataset Subset's), ``result.boxes`` has the boxes of the downloaded images,
re-pointed at the local files and, if they were fractions, converted to
pixels of the downloaded images (the stored pixels, before any EXIF
rotation, as the boxes convention counts them); boxes of failed images are
skipped.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from Orange.data import ContinuousVariable, Domain, StringVariable, Table, Variable
from Orange.data.util import get_unique_names

from orangecontrib.imagelab import tables
from orangecontrib.imagelab.core.errors import SkippedEntry, UnsafePathError
from orangecontrib.imagelab.core.io.download import DownloadStats, download_urls
from orangecontrib.imagelab.core.paths import is_relative_file_url, is_url, resolve_file_url
from orangecontrib.imagelab.core.progress import ProgressCallback

__all__ = ["download_images", "DownloadResult", "DownloadStats", "url_column_candidates",
           "find_url_column", "find_id_column"]

_ID_NAMES = ("image id", "imageid", "image_id", "id")


@dataclass
class DownloadResult:
    """``data``: the rows whose image is in the folder (None if none is);
    ``failed``: ``SkippedEntry(url, reason)`` per failed row; ``failed_data``:
    those input rows with a ``reason`` meta (None if none failed);
    ``boxes``: the boxes of the downloaded images in pixels, if boxes were
    given; ``n_downloaded``/``n_present``: rows fetched now / found on disk."""
    data: Optional[Table]
    failed: List[SkippedEntry] = field(default_factory=list)
    failed_data: Optional[Table] = None
    boxes: Optional[Table] = None
    folder: str = ""
    n_downloaded: int = 0
    n_present: int = 0
    received: int = 0
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        return len(self.failed)


# ------------------------------------------------------------- columns

def _text_values(table: Table, var: Variable) -> List[Optional[str]]:
    column = table.get_column(var)
    if var.is_string:
        return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v == ""
                else str(v) for v in column]
    return [None if np.isnan(v) else var.str_val(v) for v in column]


def _looks_like_urls(values: List[Optional[str]], origin: Optional[str]) -> bool:
    sample = [v for v in values[:200] if v][:20]
    if not sample:
        return False
    if origin and is_url(origin):
        return True
    return sum("://" in v or v.lower().startswith("file:") for v in sample) * 2 >= len(sample)


def url_column_candidates(table: Table) -> List[Variable]:
    """Text (and categorical) columns whose values look like URLs, columns
    marked ``type=image`` first."""
    domain = table.domain
    found = []
    for var in tables.image_column_candidates(domain) + \
            [v for v in domain.variables + domain.metas if v.is_discrete]:
        if _looks_like_urls(_text_values(table[:200], var), var.attributes.get("origin")):
            found.append(var)
    return found


def find_url_column(table: Table) -> Optional[Variable]:
    candidates = url_column_candidates(table)
    return candidates[0] if candidates else None


def find_id_column(domain: Domain) -> Optional[Variable]:
    """A column named like an image ID ("image id", "ImageID", "id"), if any."""
    by_key = {var.name.lower().replace("_", " ").strip(): var
              for var in domain.variables + domain.metas
              if var.is_string or var.is_discrete}
    for key in _ID_NAMES:
        if key in by_key:
            return by_key[key]
        if key.replace(" ", "") in by_key:
            return by_key[key.replace(" ", "")]
    return None


def _resolve(value: Optional[str], origin: Optional[str]) -> Optional[str]:
    """A cell's URL: joined with a URL origin; a relative file URL resolved
    against a local origin folder."""
    if value is None:
        return None
    value = value.strip()
    if is_relative_file_url(value) and origin and not is_url(origin):
        try:
            return resolve_file_url(value, origin)
        except UnsafePathError:
            return value  # fails later as a bad URL, named
    if origin and is_url(origin) and "://" not in value and not value.startswith("file:"):
        return tables.resolve_location(value, origin)
    return value


def _urls(table: Table, column: Variable) -> List[Optional[str]]:
    origin = column.attributes.get("origin")
    return [_resolve(v, origin) for v in _text_values(table, column)]


def _as_variable(table: Table, column: Union[Variable, str, None]) -> Optional[Variable]:
    if column is None or isinstance(column, Variable):
        return column
    try:
        return table.domain[column]
    except (KeyError, IndexError):
        raise ValueError(f"url_column: no column {column!r} in the data") from None


# ---------------------------------------------------------------- main

def download_images(data: Table, folder, *,
                    url_column: Union[Variable, str, None] = None,
                    threads: int = 16, timeout: float = 30.0, retries: int = 3,
                    max_bytes: int = 50_000_000, skip_existing: bool = True,
                    id_column: Union[Variable, str, None, bool] = None,
                    boxes: Optional[Table] = None,
                    callback: ProgressCallback = None,
                    stats: Optional[DownloadStats] = None) -> DownloadResult:
    """Download the images named by ``data``'s URL column into ``folder``.

    ``url_column`` defaults to the first column whose values look like URLs
    (``http(s)://`` or ``file:``; columns marked ``type=image`` first).
    Files are named by ``id_column`` (default: a column called "image id",
    "ImageID" or "id", if any; ``False`` for names from the URLs). See
    ``core.io.download`` for names, resume and checks, and the module
    docstring for the tables. Raises ``ValueError`` for a table without a
    URL column or an option out of range.
    """
    column = _as_variable(data, url_column) or find_url_column(data)
    if column is None:
        raise ValueError("url_column: the data has no column of URLs "
                         "(http://, https:// or file:); choose one")
    if id_column is False:
        ids = None
    else:
        id_var = _as_variable(data, id_column) if id_column is not None \
            else find_id_column(data.domain)
        ids = _text_values(data, id_var) if id_var is not None else None
    urls = _urls(data, column)
    report = download_urls(urls, folder, names=ids, threads=threads, timeout=timeout,
                           retries=retries, max_bytes=max_bytes,
                           skip_existing=skip_existing, callback=callback, stats=stats)
    ok = np.array([s != "failed" for s in report.status], dtype=bool)
    result = DownloadResult(
        None, list(report.failed), folder=report.folder,
        n_downloaded=report.count("downloaded"), n_present=report.count("present"),
        received=report.received, seconds=report.seconds)
    if ok.any():
        result.data = _images_table(data, column, report, urls, ok)
    if report.failed_rows:
        result.failed_data = tables.append_columns(
            data[np.asarray(report.failed_rows)],
            metas=[(StringVariable("reason"),
                    np.array([e.reason for e in report.failed], dtype=object))])
        result.failed_data.name = "Failed"
    if boxes is not None:
        located = {url: (name, size) for url, name, size in
                   zip(urls, report.paths, report.sizes) if name is not None}
        result.boxes = boxes_at_files(boxes, located, report.folder)
    return result


def _plain(var: Variable) -> Variable:
    """``var`` without the image marks (its values stay as they were)."""
    if not var.is_string or "type" not in var.attributes:
        return var
    copy = StringVariable(var.name)
    copy.attributes = {k: v for k, v in var.attributes.items() if k not in ("type", "origin")}
    return copy


def _count(name: str) -> ContinuousVariable:
    return ContinuousVariable(name, number_of_decimals=0)


def _shown(size, orientation):
    """(width, height, bytes) as a viewer shows the image (EXIF orientation)."""
    width, height, n_bytes = size
    return (height, width, n_bytes) if orientation in (5, 6, 7, 8) else size


def _images_table(data: Table, column: Variable, report, urls, ok) -> Table:
    rows = np.flatnonzero(ok)
    domain = data.domain
    taken = [var.name for var in domain.variables + domain.metas]
    names = get_unique_names(taken, ["image", "source url", "size", "width", "height"])
    image_var = tables.image_variable(names[0], report.folder)
    extra = [StringVariable(names[1]), _count(names[2]), _count(names[3]), _count(names[4])]
    metas = [image_var] + [_plain(var) if var is column else var for var in domain.metas] \
        + extra
    sizes = [_shown(report.sizes[i], report.orientations[i]) for i in rows]
    new = np.empty((len(rows), len(metas)), dtype=object)
    new[:, 0] = [report.paths[i] for i in rows]
    new[:, 1:1 + len(domain.metas)] = data.metas[rows]
    base = 1 + len(domain.metas)
    new[:, base] = [urls[i] for i in rows]
    for j, k in enumerate((2, 0, 1), start=1):  # bytes, width, height
        new[:, base + j] = [float(size[k]) for size in sizes]
    table = Table.from_numpy(Domain(domain.attributes, domain.class_vars, metas),
                             data.X[rows], data.Y[rows], new, data.W[rows] if data.W.size
                             else None, ids=data.ids[rows])
    table.name = data.name or "Downloaded images"
    return table


def boxes_at_files(boxes: Table, located: Dict[str, Tuple[str, Tuple[int, int, int]]],
                   folder: str) -> Optional[Table]:
    """The boxes whose image URL is in ``located`` ({url: (file name,
    (width, height, bytes))}), with the image column pointing at the files
    in ``folder`` and coordinates in pixels; None if no box is left."""
    if not tables.is_boxes_table(boxes):
        raise ValueError("boxes: expected a boxes table (x min, y min, x max, y max "
                         "and an image column), e.g. from Dataset Subset")
    column = tables.find_image_column(boxes.domain)
    box_urls = _urls(boxes, column)
    keep = np.array([url in located for url in box_urls], dtype=bool)
    if not keep.any():
        return None
    rows = np.flatnonzero(keep)
    domain = boxes.domain
    taken = [var.name for var in domain.variables + domain.metas]
    image_var = tables.image_variable(column.name, folder)
    source_var = StringVariable(get_unique_names(taken, "source url"))
    metas = [image_var if var is column else var for var in domain.metas] + [source_var]
    new = np.empty((len(rows), len(metas)), dtype=object)
    new[:, :len(domain.metas)] = boxes.metas[rows]
    position = list(domain.metas).index(column)
    new[:, position] = [located[box_urls[i]][0] for i in rows]
    new[:, -1] = [box_urls[i] for i in rows]
    table = Table.from_numpy(Domain(domain.attributes, domain.class_vars, metas),
                             boxes.X[rows], boxes.Y[rows], new, ids=boxes.ids[rows])
    table.name = boxes.name or "Boxes"
    widths = np.array([located[box_urls[i]][1][0] for i in rows], dtype=float)
    heights = np.array([located[box_urls[i]][1][1] for i in rows], dtype=float)
    return tables.boxes_in_pixels(table, widths, heights)
