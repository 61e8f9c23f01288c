"""Cut object boxes out of images into files of their own, decoding each image once.

    >>> jobs = [CropJob("photos/cat.jpg", [BoxSpec(0, (20, 0, 430, 300))])]  # doctest: +SKIP
    >>> for done in crop_images(jobs, CropOptions(padding=0.1)):            # doctest: +SKIP
    ...     print(done.index, done.path, done.size)

The crops of one image are made from one decode of it: its bytes are read
and hashed once, its header gives its size and EXIF orientation, and only
the crops not already in the cache are cut. A crop is named by its content
address -- a hash of the source image's bytes, the pixel rectangle, the
orientation and the output options -- under ``cache_dir()/crops/``, so a
rerun (or another workflow cropping the same boxes) reuses it; a cached file
is checked (complete JPEG/PNG) before it is trusted. With ``folder``, each
crop is then copied into ``folder/<sub-folder>/<name>.<ext>`` under a free
name (``placing.place``: never overwriting, never half a file; the same
content already there is "already present").

Coordinates are pixels of the stored image (before EXIF rotation); a crop
is cut from the stored pixels and then turned upright by the image's
orientation, so it looks as the photo does in any viewer. With
``max_side``, crops are scaled down to at most that many pixels, and a JPEG
is decoded at 1/2, 1/4 or 1/8 scale (``Image.draft``) when every crop still
to be cut from it stays at least that large there.

Images are processed in a thread pool (``core.executors``); Pillow's
decoders and encoders release Python's lock, so the cores are used.
"""
import hashlib
import io
import math
import os
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

from PIL import Image

from . import decoding
from ..errors import ImageError, as_image_error, reason
from ..executors import bounded_map, cores, get_executor, shutdown_quietly
from ..paths import cache_dir

#: format name -> (Pillow format, file suffix)
CROP_FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg")}
CACHE_FOLDER = "crops"
#: Bumped when the way crops are cut changes, so old cached crops are not reused.
VERSION = 1

# Pillow's transpose per EXIF orientation (ImageOps.exif_transpose's table).
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class CropOptions:
    """How boxes become crops.

    ``padding``: a fraction of the box's width (height) added on the left
    and right (top and bottom); ``square``: the shorter side is grown to the
    longer, around the centre, shifted to stay inside the image where it
    can; ``min_size``: boxes narrower or lower than this many pixels (before
    padding) are skipped; ``max_side``: crops are scaled down to at most
    this; ``format``: "png" or "jpeg" (``quality`` for JPEG).
    """
    padding: float = 0.0
    square: bool = False
    min_size: float = 8
    max_side: Optional[int] = None
    format: str = "png"
    quality: int = 90

    def __post_init__(self):
        check_options(self)

    @property
    def suffix(self) -> str:
        return CROP_FORMATS[self.format][1]


def check_options(options: CropOptions) -> None:
    """Raise ValueError naming the option that makes no sense."""
    if options.format not in CROP_FORMATS:
        raise ValueError(f"format must be 'png' or 'jpeg', got {options.format!r}")
    if not isinstance(options.padding, (int, float)) or not math.isfinite(options.padding) \
            or not 0 <= options.padding <= 10:
        raise ValueError(f"padding must be a fraction of the box size between 0 and 10 "
                         f"(0.1 adds 10% on each side), got {options.padding!r}")
    if not isinstance(options.min_size, (int, float)) or not math.isfinite(options.min_size) \
            or options.min_size < 0:
        raise ValueError(f"min_size must be a number of pixels, 0 or more, "
                         f"got {options.min_size!r}")
    if options.max_side is not None and (not isinstance(options.max_side, int)
                                         or isinstance(options.max_side, bool)
                                         or options.max_side < 1):
        raise ValueError(f"max_side must be a positive number of pixels or None, "
                         f"got {options.max_side!r}")
    if not isinstance(options.quality, int) or not 1 <= options.quality <= 100:
        raise ValueError(f"quality must be between 1 and 100, got {options.quality!r}")


@dataclass(frozen=True)
class BoxSpec:
    """One box to crop: ``index`` (the caller's row), ``box`` = x min, y min,
    x max, y max (pixels, or fractions when ``normalized``), and where a
    copy goes in a chosen folder: ``subfolder``/``name`` (without suffix)."""
    index: int
    box: Tuple[float, float, float, float]
    normalized: bool = False
    name: str = "crop"
    subfolder: Optional[str] = None


@dataclass
class CropJob:
    """The boxes of one image (a path or URL)."""
    location: str
    boxes: List[BoxSpec] = field(default_factory=list)


@dataclass(frozen=True)
class Crop:
    """A crop made (or found in the cache): ``path`` of the file, its
    ``size`` (width, height), ``rect`` cut from the stored image, and
    ``status`` ("cut", "cached", and in a folder "saved"/"already present")."""
    index: int
    path: str
    size: Tuple[int, int]
    rect: Tuple[int, int, int, int]
    status: str


@dataclass(frozen=True)
class CropFailure:
    """A box that gave no crop, and why."""
    index: int
    reason: str


# ------------------------------------------------------------------ geometry

def crop_rect(box: Sequence[float], width: int, height: int, *, padding: float = 0.0,
              square: bool = False) -> Optional[Tuple[int, int, int, int]]:
    """The pixel rectangle (x0, y0, x1, y1; x1, y1 exclusive) to cut for a box.

    Padding and squaring grow the box; the result is clipped to the image
    (a square is first shifted inside where the image is large enough).
    None when nothing of it is inside the image.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    x0, x1 = x0 - padding * w, x1 + padding * w
    y0, y1 = y0 - padding * h, y1 + padding * h
    if square:
        side = math.ceil(max(x1 - x0, y1 - y0) - 1e-6)
        left = _place_inside(round((x0 + x1 - side) / 2), side, width)
        top = _place_inside(round((y0 + y1 - side) / 2), side, height)
        right, bottom = min(width, left + side), min(height, top + side)
    else:
        left, top = max(0, math.floor(x0 + 1e-6)), max(0, math.floor(y0 + 1e-6))
        right, bottom = min(width, math.ceil(x1 - 1e-6)), min(height, math.ceil(y1 - 1e-6))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def _place_inside(start: int, side: int, size: int) -> int:
    """Where a span of ``side`` pixels starts once shifted inside ``[0, size)``
    (at 0 when it is longer than the image, which then cuts it)."""
    if start + side > size:
        start = size - side
    return max(0, start)


def output_size(rect: Tuple[int, int, int, int], orientation: int,
                max_side: Optional[int]) -> Tuple[int, int]:
    """(width, height) of the crop file for ``rect``: upright, scaled to ``max_side``."""
    w, h = rect[2] - rect[0], rect[3] - rect[1]
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
    return w, h


def draft_reduction(rects: Sequence[Tuple[int, int, int, int]], max_side: Optional[int]
                    ) -> int:
    """1, 2, 4 or 8: how much smaller a JPEG may be decoded so that every
    crop still has at least ``max_side`` pixels on its longer side (or all of
    its pixels, when smaller)."""
    if not max_side or not rects:
        return 1
    room = min(max(r[2] - r[0], r[3] - r[1]) / max_side for r in rects)
    for reduction in (8, 4, 2):
        if room >= reduction:
            return reduction
    return 1


# ------------------------------------------------------------------- caching

def cache_folder() -> str:
    """Where crops are kept: ``cache_dir()/crops``."""
    return os.path.join(str(cache_dir()), CACHE_FOLDER)


def cache_key(source_digest: str, rect: Tuple[int, int, int, int], orientation: int,
              options: CropOptions) -> str:
    text = f"v{VERSION}|{source_digest}|{rect}|{orientation}|{options.format}|" \
           f"{options.max_side}|{options.quality if options.format == 'jpeg' else ''}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _cached_ok(path: str) -> bool:
    """A cached crop is used only if it is a complete JPEG or PNG."""
    from ..io.sources import quick_probe  # a header check without Pillow

    return quick_probe(path) is not None


def _write_atomic(data: bytes, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = f"{path}.{os.getpid()}-{uuid.uuid4().hex}.part"
    try:
        with open(temp, "xb") as f:
            f.write(data)
        os.replace(temp, path)  # the same content under the same name: a race is harmless
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _encode(image: Image.Image, options: CropOptions) -> bytes:
    buffer = io.BytesIO()
    if options.format == "jpeg":
        image.save(buffer, "JPEG", quality=options.quality)
    else:
        # Level 1: crops are cache files, written once, read a few times; the
        # default level 6 costs about three times the time for ~10% less space.
        image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


# ---------------------------------------------------------------------- jobs

def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # pylint: disable=broad-except
        # a broken EXIF block must not lose the image (as in decoding.load_rgb)
        return 1
    return value if value in _TRANSPOSE else 1


def crop_one(job: CropJob, options: CropOptions, folder: Optional[str] = None
             ) -> List[object]:
    """Crops (``Crop``) or failures (``CropFailure``) for the boxes of one image."""
    try:
        data = decoding.read_bytes(job.location)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        image = decoding.open_image(job.location, data)
    except ImageError as err:
        return [CropFailure(spec.index, f"image unreadable: {err.reason}") for spec in job.boxes]
    except Exception as err:  # pylint: disable=broad-except
        # any decoder error of one image must not stop the others
        why = as_image_error(job.location, err).reason
        return [CropFailure(spec.index, f"image unreadable: {why}") for spec in job.boxes]
    try:
        return _crop_open(job, image, digest, options, folder)
    finally:
        image.close()


def _crop_open(job, image, digest, options, folder):
    width, height = image.size
    orientation = _orientation(image)
    results: List[object] = [None] * len(job.boxes)
    wanted = []  # (position, spec, rect, cache path)
    for k, spec in enumerate(job.boxes):
        box = spec.box
        if spec.normalized:
            box = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
        bw, bh = box[2] - box[0], box[3] - box[1]
        if bw < options.min_size or bh < options.min_size:
            results[k] = CropFailure(spec.index, f"smaller than {options.min_size:g} px "
                                                 f"({bw:.4g}×{bh:.4g})")
            continue
        rect = crop_rect(box, width, height, padding=options.padding, square=options.square)
        if rect is None:
            results[k] = CropFailure(spec.index, f"outside the image ({width}×{height})")
            continue
        key = cache_key(digest, rect, orientation, options)
        path = os.path.join(cache_folder(), key[:2], key + options.suffix)
        wanted.append((k, spec, rect, path))
    to_cut = [item for item in wanted if not _cached_ok(item[3])]
    if to_cut:
        try:
            _cut(image, job.location, to_cut, orientation, options)
        except ImageError as err:
            for k, spec, _, _ in to_cut:
                results[k] = CropFailure(spec.index, f"image unreadable: {err.reason}")
        except OSError as err:  # writing the cache
            for k, spec, _, _ in to_cut:
                results[k] = CropFailure(spec.index, reason(err, writing=True))
    cut = {item[0] for item in to_cut}
    for k, spec, rect, path in wanted:
        if results[k] is not None:
            continue
        size = output_size(rect, orientation, options.max_side)
        status = "cut" if k in cut else "cached"
        if folder is not None:
            results[k] = _place(spec, path, size, rect, folder, options)
        else:
            results[k] = Crop(spec.index, path, size, rect, status)
    return results


def _cut(image, location, to_cut, orientation, options):
    width, _ = image.size
    reduction = 1
    if image.format == "JPEG":
        reduction = draft_reduction([rect for _, _, rect, _ in to_cut], options.max_side)
        if reduction > 1:
            image.draft("RGB", (math.ceil(image.size[0] / reduction),
                                math.ceil(image.size[1] / reduction)))
    decoding.decode_fully(image, location)
    scale = image.size[0] / width
    for _, _, rect, path in to_cut:
        box = rect if scale == 1 else (
            math.floor(rect[0] * scale), math.floor(rect[1] * scale),
            max(math.ceil(rect[2] * scale), math.floor(rect[0] * scale) + 1),
            max(math.ceil(rect[3] * scale), math.floor(rect[1] * scale) + 1))
        crop = decoding.to_rgb(image.crop(box))
        if orientation in _TRANSPOSE:
            crop = crop.transpose(_TRANSPOSE[orientation])
        size = output_size(rect, orientation, options.max_side)
        if crop.size != size:
            crop = crop.resize(size, Image.LANCZOS if scale == 1 else Image.BILINEAR)
        _write_atomic(_encode(crop, options), path)


def _place(spec: BoxSpec, path: str, size, rect, folder: str, options: CropOptions):
    from ..store.placing import PlaceError, PlaceJob, place

    directory = os.path.join(folder, spec.subfolder) if spec.subfolder else folder
    try:
        os.makedirs(directory, exist_ok=True)
        placed = place(PlaceJob(path, directory, spec.name + options.suffix))
    except OSError as err:
        return CropFailure(spec.index, reason(err, writing=True))
    except PlaceError as err:
        return CropFailure(spec.index, f"cached crop unreadable: {err.reason}"
                           if err.reading else err.reason)
    return Crop(spec.index, placed.destination, size, rect, placed.status)


def crop_images(jobs: Iterable[CropJob], options: CropOptions, *,
                folder: Optional[str] = None, workers: Optional[int] = None
                ) -> Iterator[List[object]]:
    """For each job, in order, the list of its ``Crop``/``CropFailure`` results.

    Jobs run in a thread pool of ``workers`` (default: one per core), a few
    at a time; closing the iterator (Cancel) abandons the rest at once.
    """
    check_options(options)
    workers = workers or cores()
    pool = get_executor("threads", max_workers=workers, name="imagelab-crop")
    try:
        yield from bounded_map(pool, lambda job: crop_one(job, options, folder), jobs,
                               window=2 * workers)
    finally:
        shutdown_quietly(pool)
