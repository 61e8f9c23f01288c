"""Hand-made image features: no model, just numpy on the pixels.

Every image is first decoded as RGB (EXIF-oriented) and scaled so its
longest side is at most ``MAX_SIDE`` (512) px. Feature sets, selectable
together (columns in this order):

==========================  =======  ==================================================
name                        columns  what
==========================  =======  ==================================================
``dimensions``              4        file size (bytes), width, height (px, as stored in
                                     the file), aspect ratio (width / height)
``average_pixels``          78       mean R, G, B (0-255) over the whole image, then
                                     over each cell of a 3x3 and a 4x4 grid (3 x 26)
``level_histogram``         48       16 bins (0-15, 16-31, ...) per R, G, B channel,
                                     each channel's bins sum to 1
``histogram_of_gradients``  234      9 unsigned orientation bins (0-180°, 20° each)
                                     of luminance gradients, weighted by magnitude,
                                     for 1x1, 3x3 and 4x4 cells (26 cells); each
                                     cell's histogram is L2-normalised
``wavelet_subbands``        10(3n+1) n-level Haar transform (orthonormal) of the
                                     luminance (0-1); for each subband (LH, HL, HH
                                     of every level, then the last LL) the mean and
                                     variance over the whole subband and over each
                                     cell of a 2x2 grid. n = 5 by default: 160
==========================  =======  ==================================================

Luminance is ``0.299 R + 0.587 G + 0.114 B``. Gradients are central
differences ``L[y, x+1] - L[y, x-1]`` (zero on the border). Grid cells split
rows and columns as evenly as possible (``floor(i * size / n)``), and are at
least one pixel wide, so tiny images still give finite values.
"""
import io
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .decoding import load_array, read_bytes
from ..errors import ImageError, as_image_error
from ..executors import bounded_map, get_executor
from ..progress import ProgressCallback, checked

MAX_SIDE = 512
WAVELET_LEVELS = 5
HOG_BINS = 9
GRIDS = (1, 3, 4)


@dataclass
class FeatureArrays:
    """Result of ``extract_features``: like ``EmbeddingArrays`` plus names.

    vectors: (n, k) float64, NaN rows where ``ok`` is False; names: k column names.
    """
    vectors: np.ndarray
    ok: np.ndarray
    names: List[str]
    errors: list = field(default_factory=list)
    error_rows: list = field(default_factory=list)


# -- helpers ------------------------------------------------------------------

def luminance(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 -> (h, w) float64 in [0, 1]."""
    rgb = np.asarray(rgb, dtype=np.float64) / 255.0
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def grid_slices(size: int, n: int) -> List[slice]:
    """``n`` slices covering ``range(size)`` evenly, each at least one element."""
    slices = []
    for i in range(n):
        start = min(i * size // n, max(size - 1, 0))
        stop = max((i + 1) * size // n, start + 1)
        slices.append(slice(start, stop))
    return slices


def _cells(height: int, width: int, n: int):
    for r, rows in enumerate(grid_slices(height, n)):
        for c, cols in enumerate(grid_slices(width, n)):
            yield r, c, rows, cols


def _cell_names(n: int) -> List[str]:
    return ["" if n == 1 else f" {n}x{n} r{r + 1}c{c + 1}"
            for r in range(n) for c in range(n)]


# -- feature sets ---------------------------------------------------------------

def dimensions(rgb, *, file_size: int, original_size: Tuple[int, int], **_) -> np.ndarray:
    width, height = original_size
    return np.array([file_size, width, height, width / height], dtype=np.float64)


def dimensions_names(**_) -> List[str]:
    return ["file size", "width", "height", "aspect ratio"]


def average_pixels(rgb, **_) -> np.ndarray:
    pixels = np.asarray(rgb, dtype=np.float64)
    height, width = pixels.shape[:2]
    return np.concatenate([pixels[rows, cols].mean(axis=(0, 1))
                           for n in GRIDS for _, _, rows, cols in _cells(height, width, n)])


def average_pixels_names(**_) -> List[str]:
    return [f"avg {ch}{cell}" for n in GRIDS for cell in _cell_names(n) for ch in "RGB"]


def level_histogram(rgb, **_) -> np.ndarray:
    pixels = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
    counts = [np.bincount(pixels[:, ch] >> 4, minlength=16) for ch in range(3)]
    return np.concatenate(counts).astype(np.float64) / max(len(pixels), 1)


def level_histogram_names(**_) -> List[str]:
    return [f"{ch} level {16 * b}-{16 * b + 15}" for ch in "RGB" for b in range(16)]


def histogram_of_gradients(rgb, **_) -> np.ndarray:
    lum = luminance(rgb)
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, 1:-1] = lum[:, 2:] - lum[:, :-2]
    gy[1:-1, :] = lum[2:, :] - lum[:-2, :]
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / (np.pi / HOG_BINS)).astype(int), HOG_BINS - 1)
    height, width = lum.shape
    out = []
    for n in GRIDS:
        for _, _, rows, cols in _cells(height, width, n):
            hist = np.bincount(bins[rows, cols].ravel(), magnitude[rows, cols].ravel(),
                               minlength=HOG_BINS)
            norm = np.sqrt((hist ** 2).sum())
            out.append(hist / norm if norm > 1e-12 else hist)
    return np.concatenate(out)


def histogram_of_gradients_names(**_) -> List[str]:
    step = 180 // HOG_BINS
    return [f"hog{cell or ' 1x1'} {b * step}-{(b + 1) * step}°"
            for n in GRIDS for cell in _cell_names(n) for b in range(HOG_BINS)]


def haar_level(x: np.ndarray):
    """One level of the orthonormal 2-D Haar transform -> (LL, (LH, HL, HH)).

    Odd sizes are padded by repeating the last row/column.
    """
    if x.shape[0] % 2:
        x = np.vstack([x, x[-1:]])
    if x.shape[1] % 2:
        x = np.hstack([x, x[:, -1:]])
    a, b = x[0::2, 0::2], x[0::2, 1::2]
    c, d = x[1::2, 0::2], x[1::2, 1::2]
    ll = (a + b + c + d) / 2
    lh = (a + b - c - d) / 2   # horizontal edges (differences between rows)
    hl = (a - b + c - d) / 2   # vertical edges (differences between columns)
    hh = (a - b - c + d) / 2
    return ll, (lh, hl, hh)


def wavelet_subbands(rgb, *, wavelet_levels: int = WAVELET_LEVELS, **_) -> np.ndarray:
    ll = luminance(rgb)
    bands = []
    for _level in range(wavelet_levels):
        ll, details = haar_level(ll)
        bands.extend(details)
    bands.append(ll)
    out = []
    for band in bands:
        height, width = band.shape
        for n in (1, 2):
            for _, _, rows, cols in _cells(height, width, n):
                cell = band[rows, cols]
                out.extend((cell.mean(), cell.var()))
    return np.array(out, dtype=np.float64)


def wavelet_subbands_names(*, wavelet_levels: int = WAVELET_LEVELS, **_) -> List[str]:
    bands = [f"L{level + 1} {kind}" for level in range(wavelet_levels)
             for kind in ("LH", "HL", "HH")] + [f"L{wavelet_levels} LL"]
    return [f"haar {band}{cell or ' 1x1'} {stat}" for band in bands
            for n in (1, 2) for cell in _cell_names(n) for stat in ("mean", "var")]


#: name -> (compute(rgb, **context) -> 1-d array, names(**options) -> list, description)
FEATURE_SETS: Dict[str, Tuple[Callable, Callable, str]] = {
    "dimensions": (dimensions, dimensions_names,
                   "file size, width, height, aspect ratio (4)"),
    "average_pixels": (average_pixels, average_pixels_names,
                       "mean R, G, B overall and on 3×3 and 4×4 grids (78)"),
    "level_histogram": (level_histogram, level_histogram_names,
                        "16-bin histogram of each of R, G, B (48)"),
    "histogram_of_gradients": (histogram_of_gradients, histogram_of_gradients_names,
                               "9 gradient orientations on 1×1, 3×3, 4×4 cells (234)"),
    "wavelet_subbands": (wavelet_subbands, wavelet_subbands_names,
                         "Haar wavelet subband means and variances (160 for 5 levels)"),
}


def feature_names(features: Sequence[str], *, wavelet_levels: int = WAVELET_LEVELS
                  ) -> List[str]:
    _check(features)
    return [name for feature in features
            for name in FEATURE_SETS[feature][1](wavelet_levels=wavelet_levels)]


def _check(features):
    unknown = [f for f in features if f not in FEATURE_SETS]
    if unknown or not features:
        raise ValueError(f"unknown feature set(s) {unknown}; choose from "
                         f"{', '.join(FEATURE_SETS)}" if unknown else
                         "no feature set chosen; pass e.g. features=['level_histogram']")


def image_features(rgb: np.ndarray, features: Sequence[str], *, file_size: int = 0,
                   original_size: Optional[Tuple[int, int]] = None,
                   wavelet_levels: int = WAVELET_LEVELS) -> np.ndarray:
    """Features of one decoded image: ``rgb`` (h, w, 3) uint8 -> (k,) float64.

    The image is used as given (``extract_features`` scales it to 512 px first).
    """
    _check(features)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (h, w, 3), got {rgb.shape}")
    context = dict(file_size=file_size, wavelet_levels=wavelet_levels,
                   original_size=original_size or (rgb.shape[1], rgb.shape[0]))
    return np.concatenate([FEATURE_SETS[f][0](rgb, **context) for f in features])


def _one(location, features, wavelet_levels, stop=None):
    if location is None:
        raise ImageError("", "no image")
    data = read_bytes(location, cancel=stop)
    pixels = load_array(location, max_side=MAX_SIDE, data=data)
    try:
        with Image.open(io.BytesIO(data)) as header:
            original = header.size
    except Exception:  # load_array succeeded, so this cannot really fail
        original = (pixels.shape[1], pixels.shape[0])
    return image_features(pixels, features, file_size=len(data), original_size=original,
                          wavelet_levels=wavelet_levels)


def extract_features(locations: Sequence[Optional[str]], features: Sequence[str], *,
                     wavelet_levels: int = WAVELET_LEVELS,
                     callback: ProgressCallback = None,
                     threads: Optional[int] = None) -> FeatureArrays:
    """Hand-made features of images given as paths or URLs.

    Returns ``FeatureArrays`` with ``vectors`` (n, k) (k = sum of the chosen
    sets' column counts), NaN rows for images that failed, and their errors.
    Runs in a thread pool with at most a few dozen images in flight.
    """
    from ..vectors.embedding import decode_threads
    names = feature_names(features, wavelet_levels=wavelet_levels)
    callback = checked(callback)
    n = len(locations)
    vectors = np.full((n, len(names)), np.nan)
    ok = np.zeros(n, dtype=bool)
    errors = {}
    threads = threads or decode_threads()
    stop = threading.Event()  # set when this call ends: URL reads under way stop

    def one(index):
        if stop.is_set():
            return ImageError(locations[index] or "", "cancelled")
        try:
            return _one(locations[index], features, wavelet_levels, stop)
        except Exception as err:  # pylint: disable=broad-except
            # one bad image must not stop the run (see as_image_error)
            return as_image_error(locations[index] or "", err)

    callback(0.0)
    pool = get_executor("threads", max_workers=threads, name="imagelab-features")
    try:
        done = 0
        for index, result in enumerate(bounded_map(
                pool, one, range(n), window=4 * threads,
                poll=lambda: callback(done / n))):
            done = index + 1
            if isinstance(result, ImageError):
                errors[index] = result
            else:
                vectors[index] = result
                ok[index] = True
            callback((index + 1) / n)
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    rows = sorted(errors)
    return FeatureArrays(vectors, ok, names, [errors[i] for i in rows], rows)
