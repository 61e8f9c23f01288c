"""Open, check, orient and decode images, turning every failure into ImageError.

All functions take a *location*: a local path, or a ``file://`` /
``http(s)://`` URL. They are thread-safe, so callers decode in thread pools
(Pillow and simplejpeg release the GIL while decoding).

Nothing here trusts Pillow's process-wide settings, which other add-ons
change (orange3-imageanalytics sets ``ImageFile.LOAD_TRUNCATED_IMAGES =
True`` when its widgets load): each call decides for itself.

- **Truncation** is detected from the file's structure (``truncation``):
  a JPEG must have its end-of-image marker after its first scan, a PNG must
  reach its ``IEND`` chunk, a GIF its trailer, a WebP its RIFF length, a TIFF
  the end of its last strip or tile, an uncompressed BMP the end of its
  pixel rows. Other formats rely on Pillow's own checks.
- **Decompression bombs**: the limit ``MAX_PIXELS`` applies to the pixels
  actually decoded. A JPEG is decoded at a reduced scale (1/2 ... 1/8, DCT
  scaling) when a small result is asked for, so a 12000×9000 phone photo
  becomes a 224×224 model input without ever holding 108 million pixels.
- **Big 16-bit images** are scaled to 8 bits in bands of rows and reduced in
  size before they are turned into RGB, so a 9000×9000 16-bit PNG costs its
  decoded 16-bit pixels (162 MB) plus a small fraction more.

Baseline JPEGs that are decoded to a small size go through ``simplejpeg``
(libjpeg-turbo's TurboJPEG API, MIT licence) with DCT scaling to the
nearest size at or above the target (n/8 steps, finer than Pillow's
1/2, 1/4, 1/8); progressive, CMYK and unusual JPEGs, and every other
format, go through Pillow. Both paths apply the EXIF orientation.
"""
import io
import math
import os
import struct
import threading
from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import ImageError, reason
from ..paths import is_url, url_to_path

try:  # optional speed-up; Pillow decodes everything without it
    import simplejpeg
except ImportError:  # pragma: no cover - declared in setup.py
    simplejpeg = None

Location = Union[str, os.PathLike]

#: Images that would decode to more pixels are refused as decompression
#: bombs. Pillow's default warning limit, as a constant of our own: Pillow's
#: ``Image.MAX_IMAGE_PIXELS`` is a global other add-ons change.
MAX_PIXELS = 89_478_485

#: Bytes read from a URL at most; a bigger download is refused.
MAX_URL_BYTES = 64 * 1024 * 1024

#: Seconds one attempt to read a URL may take in all (not per read).
URL_TIMEOUT = 10.0

#: Rows converted at a time when 16-bit or float pixels are scaled to 8 bits.
_BAND_PIXELS = 1 << 20

# EXIF orientation -> the transposition that undoes it (as ImageOps.exif_transpose).
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Orientations whose fix swaps width and height.
SWAPPED_ORIENTATIONS = frozenset((5, 6, 7, 8))


@dataclass(frozen=True)
class ImageInfo:
    """What the header of an image says. ``width`` and ``height`` are the
    stored pixels' (boxes are given in them); ``display_size`` is what a
    viewer shows after the EXIF ``orientation``."""
    width: int
    height: int
    format: str  # Pillow's name: "JPEG", "PNG", ...
    mode: str
    orientation: int = 1

    @property
    def display_size(self) -> Tuple[int, int]:
        if self.orientation in SWAPPED_ORIENTATIONS:
            return self.height, self.width
        return self.width, self.height


def read_bytes(location: Location, *, timeout: float = URL_TIMEOUT,
               cancel: Optional[threading.Event] = None) -> bytes:
    """Read a file or URL whole. Raises ImageError with a readable reason.

    An ``http(s)`` URL goes through the add-on's one HTTP client
    (``core.io.http``): ``timeout`` is a total deadline (a silent or
    trickling server cannot hold the caller longer), one retry on 5xx or a
    broken connection, at most ``MAX_URL_BYTES``; setting ``cancel`` ends a
    fetch under way within a fraction of a second (``Cancelled``).
    """
    location = str(location)
    local = url_to_path(location) if is_url(location) else location
    if local is not None:
        try:
            with open(local, "rb") as f:
                return f.read()
        except OSError as err:
            raise ImageError(location, reason(err)) from err
    from ..io.http import shared_client  # httpx only when a URL is read
    return shared_client().get(location, timeout=timeout, max_bytes=MAX_URL_BYTES,
                               retries=1, cancel=cancel)

# ---------------------------------------------------------------- JPEG structure

class JpegHeader(NamedTuple):
    """What the markers before a JPEG's first scan say."""
    width: int
    height: int
    components: int
    sof: int            # the start-of-frame marker: 0xC0 baseline, 0xC2 progressive, ...
    orientation: int    # EXIF orientation, 1 if none
    scan_start: int     # offset of the first SOS marker


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def exif_orientation(payload) -> Optional[int]:
    """The orientation tag (1-8) of an APP1 ``Exif\\0\\0`` payload; 1 if it
    has none or is not EXIF; None if the bytes end before IFD0 does (read more)."""
    if payload[:6] != b"Exif\x00\x00":
        return 1
    tiff = payload[6:]
    if len(tiff) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))
    if order is None:
        return 1
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if len(tiff) < ifd + 2:
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    end = ifd + 2 + 12 * count
    if len(tiff) < end:
        return None
    for entry in range(ifd + 2, end, 12):
        tag, kind = struct.unpack(order + "HH", tiff[entry:entry + 4])
        if tag == 0x0112 and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", tiff[entry + 8:entry + 10])
            return value if 1 <= value <= 8 else 1
    return 1


def jpeg_header(buf, *, until_scan: bool = True) -> Optional[JpegHeader]:
    """Walk the markers of JPEG bytes ``buf`` up to the first scan; None if
    they do not parse within ``buf`` (a short head, or not a JPEG).

    ``until_scan=False`` stops at the frame header (``scan_start`` is then
    -1): EXIF must come right after the start marker, so the orientation is
    known by then, and a large ICC profile between frame and scan need not
    be read."""
    if buf[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(buf)
    size = None
    orientation = 1
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker == 0xD9:
            return None
        if marker == 0xDA:
            if size is None:
                return None
            return JpegHeader(*size, orientation, i)
        length = (buf[i + 2] << 8) | buf[i + 3]
        if length < 2:
            return None
        if marker in _SOF_MARKERS and size is None:
            if i + 10 > n:
                return None
            height = (buf[i + 5] << 8) | buf[i + 6]
            width = (buf[i + 7] << 8) | buf[i + 8]
            size = (width, height, buf[i + 9], marker)
            if not until_scan:
                return JpegHeader(*size, orientation, -1)
        elif marker == 0xE1 and orientation == 1:
            payload = buf[i + 4:min(i + 2 + length, n)]
            found = exif_orientation(payload)
            if found is None:
                return None
            orientation = found
        i += 2 + length
    return None


# ---------------------------------------------------------------- truncation

def _file_size(source) -> int:
    return len(source) if isinstance(source, (bytes, bytearray)) else os.path.getsize(source)


def _read(source, offset: int, size: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[offset:offset + size])
    with open(source, "rb") as f:
        return os.pread(f.fileno(), size, offset)


def _whole(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return source
    with open(source, "rb") as f:
        return f.read()


def _jpeg_complete(source) -> bool:
    # The end-of-image marker must follow the first scan. Entropy-coded data
    # never holds 0xFF 0xD9 (0xFF is stuffed), so the last one found is the
    # real end unless the file is cut; an EXIF thumbnail's own end marker
    # lies before the first scan. Trailing data after the end is allowed.
    size = _file_size(source)
    window = 1 << 16
    head = _read(source, 0, min(size, 1 << 17))
    header = jpeg_header(head)
    if header is None:
        data = _whole(source)
        header = jpeg_header(data)
        if header is None:
            return False
        return data.rfind(b"\xff\xd9") > header.scan_start
    start = max(0, size - window)
    if _read(source, start, window).rfind(b"\xff\xd9") + start > header.scan_start:
        return True
    return _whole(source).rfind(b"\xff\xd9") > header.scan_start


def _png_complete(source) -> bool:
    # Walk the chunks by their lengths: a complete file reaches IEND.
    size = _file_size(source)
    if isinstance(source, (bytes, bytearray)):
        def head_at(pos):
            return source[pos:pos + 8]
        f = None
    else:
        f = open(source, "rb")  # pylint: disable=consider-using-with

        def head_at(pos):
            return os.pread(f.fileno(), 8, pos)
    try:
        pos = 8
        while pos + 12 <= size:
            chunk = head_at(pos)
            length = int.from_bytes(chunk[:4], "big")
            end = pos + 12 + length
            if end > size:
                return False
            if chunk[4:8] == b"IEND":
                return True
            pos = end
        return False
    finally:
        if f is not None:
            f.close()


def _gif_complete(source) -> bool:
    data = _whole(source)
    n = len(data)
    if n < 13:
        return False
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)

    def skip_sub_blocks(pos):
        while pos < n:
            length = data[pos]
            pos += 1 + length
            if length == 0:
                return pos
        return None

    while pos < n:
        block = data[pos]
        if block == 0x3B:  # trailer
            return True
        if block == 0x21:  # extension
            pos = skip_sub_blocks(pos + 2)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > n:
                return False
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)
            pos = skip_sub_blocks(pos + 1)  # after the LZW minimum code size
        else:
            return False
        if pos is None:
            return False
    return False


def _tiff_complete(source, image) -> bool:
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return True
    ends = []
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets is not None and counts is not None:
            offsets = offsets if isinstance(offsets, tuple) else (offsets,)
            counts = counts if isinstance(counts, tuple) else (counts,)
            ends.extend(o + c for o, c in zip(offsets, counts))
    return not ends or max(ends) <= _file_size(source)


def _raw_complete(source, image) -> bool:
    # Uncompressed rows (BMP and friends): offset + stride * rows.
    if len(image.tile) != 1 or image.tile[0][0] != "raw":
        return True
    _, extents, offset, args = image.tile[0]
    stride = args[1] if isinstance(args, tuple) and len(args) > 1 else 0
    if not stride:
        return True
    rows = extents[3] - extents[1]
    return offset + abs(stride) * rows <= _file_size(source)


def _webp_cut(source) -> bool:
    try:
        head = _read(source, 0, 12)
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP" and \
            int.from_bytes(head[4:8], "little") + 8 > _file_size(source)
    except OSError:
        return False


def truncation(image: Image.Image, source) -> Optional[str]:
    """"truncated <FORMAT>" if the file ``source`` (its bytes or a local path)
    behind the opened ``image`` is cut short, else None; see the module text."""
    fmt = image.format or ""
    if source is None:
        return None
    try:
        if fmt in ("JPEG", "MPO"):
            complete = _jpeg_complete(source)
        elif fmt == "PNG":
            complete = _png_complete(source)
        elif fmt == "GIF":
            complete = _gif_complete(source)
        elif fmt == "WEBP":
            complete = not _webp_cut(source)
        elif fmt == "TIFF":
            complete = _tiff_complete(source, image)
        elif fmt in ("BMP", "DIB"):
            complete = _raw_complete(source, image)
        else:
            complete = True
    except (OSError, ValueError, IndexError, TypeError, struct.error):
        complete = False
    return None if complete else f"truncated {fmt or 'image'}"


# ---------------------------------------------------------------- opening

def _open(location: Location, data: Optional[bytes] = None):
    """Open lazily (header only) -> (image, source); the caller must close the image.

    ``data``, if given, holds the file's bytes already read (``location`` then
    only names the image in errors). ``source`` is what the file's structure
    can be checked on: the bytes, or the local path.
    """
    location = str(location)
    if data is not None:
        if not data:
            raise ImageError(location, "empty file (0 bytes)")
        source = data
    elif is_url(location):
        local = url_to_path(location)
        source = local if local is not None else read_bytes(location)
    else:
        source = location
    opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        if isinstance(source, str) and os.path.getsize(source) == 0:
            raise ImageError(location, "empty file (0 bytes)")
        try:
            image = Image.open(opened)
        except Image.DecompressionBombError as err:
            # Pillow refuses by the header's size, by its global limit; a JPEG
            # may still be decoded at a reduced scale, so we decide later.
            head = _read(source, 0, 3)
            if head != b"\xff\xd8\xff":
                raise ImageError(
                    location, f"too many pixels (decompression bomb): {err}") from err
            from PIL import JpegImagePlugin
            image = JpegImagePlugin.JpegImageFile(
                io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except ImageError:
        raise
    except UnidentifiedImageError as err:
        raise ImageError(location, "not an image file") from err
    except OSError as err:
        if _webp_cut(source):  # libwebp reads the whole file when opening
            raise ImageError(location, "truncated WEBP") from err
        raise ImageError(location, reason(err)) from err
    except (ValueError, SyntaxError) as err:  # broken headers raise these too
        raise ImageError(location, f"corrupt header ({err})") from err
    width, height = image.size
    if width == 0 or height == 0:
        image.close()
        raise ImageError(location, "image has no pixels")
    return image, source


def smallest_decode(fmt: str, width: int, height: int) -> int:
    """Pixels of the smallest decode of an image: JPEGs decode at 1/8 scale."""
    if fmt in ("JPEG", "MPO"):
        return math.ceil(width / 8) * math.ceil(height / 8)
    return width * height


def _check_decoded_size(location: str, image: Image.Image) -> None:
    """The bomb limit, on the size that will be decoded (after ``draft``)."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            location, f"too many pixels: {width}×{height} exceeds the "
                      f"decompression-bomb limit of {MAX_PIXELS:,}")


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 if none). Before ``load``, a PNG's eXIf chunk
    counts only if it precedes the pixels (Pillow would decode them to look
    further)."""
    if image.format == "PNG" and image.tile and "exif" not in image.info:
        return 1
    try:
        value = image.getexif().get(0x0112, 1)
    except (ValueError, TypeError, OSError, SyntaxError, struct.error):
        return 1  # a broken EXIF block should not lose the image
    return value if value in _ORIENTATION_FIX else 1


def _orient(image: Image.Image, orientation: int) -> Image.Image:
    method = _ORIENTATION_FIX.get(orientation)
    return image if method is None else image.transpose(method)


def probe(location: Location, *, full: bool = False) -> ImageInfo:
    """Check an image and return its size, format and EXIF orientation;
    raise ImageError if bad.

    By default only the header is read, plus the file's structure for
    truncation (see ``truncation``). ``full=True`` also decodes every pixel
    (a large JPEG at the reduced scale that fits ``MAX_PIXELS``, which still
    reads all of its data).
    """
    location = str(location)
    image, source = _open(location)
    try:
        width, height = image.size
        if smallest_decode(image.format or "", width, height) > MAX_PIXELS:
            raise ImageError(
                location, f"too many pixels: {width}×{height} exceeds the "
                          f"decompression-bomb limit of {MAX_PIXELS:,}")
        info = ImageInfo(width, height, image.format or "", image.mode, _orientation(image))
        truncated = truncation(image, source)
        if truncated:
            raise ImageError(location, truncated)
        if full:
            if image.format == "JPEG" and image.width * image.height > MAX_PIXELS:
                for scale in (2, 4, 8):
                    if math.ceil(image.width / scale) * math.ceil(image.height / scale) \
                            <= MAX_PIXELS:
                        image.draft(image.mode, (image.width // scale,
                                                 image.height // scale))
                        break
            _check_decoded_size(location, image)
            _decode_fully(image, location, None)
    finally:
        image.close()
    return info


def open_image(location: Location, data: Optional[bytes] = None) -> Image.Image:
    """Open an image lazily (header only), with the checks of every decode here.

    Raises ImageError; the caller closes the image. ``data``: the file's
    bytes if already read. ``decode_fully`` then loads the pixels (after a
    ``draft``, if wanted).
    """
    image, source = _open(location, data)
    image.imagelab_source = source  # for decode_fully's truncation check
    return image


def decode_fully(image: Image.Image, location: Location) -> None:
    """Load the pixels of an image from ``open_image``; ImageError when
    damaged, truncated, or more pixels than ``MAX_PIXELS`` (after ``draft``)."""
    location = str(location)
    _check_decoded_size(location, image)
    _decode_fully(image, location, getattr(image, "imagelab_source", None))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB: 16-bit scaled, CMYK converted, alpha over white."""
    return _to_rgb(image)


def _decode_fully(image: Image.Image, location: str, source) -> None:
    """Load the pixels; a truncated file is refused whatever Pillow's global
    ``LOAD_TRUNCATED_IMAGES`` says (``source``: see ``truncation``; None if
    checked already)."""
    truncated = truncation(image, source)
    if truncated:
        raise ImageError(location, truncated)
    try:
        image.load()
    except OSError as err:
        what = f"truncated {image.format or 'image'}" \
            if "truncated" in str(err) or "broken data stream" in str(err) \
            else f"cannot decode ({err})"
        raise ImageError(location, what) from err
    except (ValueError, SyntaxError, MemoryError) as err:
        raise ImageError(location, f"cannot decode ({err})") from err


# ---------------------------------------------------------------- pixels

_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _grey_to_l(image: Image.Image, reduce: int = 1) -> Image.Image:
    """16-bit, 32-bit or float grey -> 8-bit "L", a band of rows at a time
    (a whole-image float copy of a 9000×9000 image would take 650 MB),
    averaged over ``reduce``×``reduce`` blocks on the way (as Pillow's
    ``resize(..., reducing_gap=)`` does) when only a small image is wanted."""
    width, height = image.size
    if image.mode.startswith("I;16"):
        low, top = 0.0, 65535.0
    else:
        low, high = image.getextrema()
        if image.mode == "F":
            low, high = float(low), float(high)
            if not (math.isfinite(low) and math.isfinite(high)):
                low, high = _finite_range(image)
            top = high - low or 1.0
        else:
            low, top = 0.0, max(float(high), 1.0)
    out = np.empty((-(-height // reduce), -(-width // reduce)), np.uint8)
    band = max(1, _BAND_PIXELS // max(width, 1) // reduce) * reduce
    for y in range(0, height, band):
        rows = image.crop((0, y, width, min(height, y + band)))
        if reduce > 1:  # "I;16" cannot be reduced by Pillow; "I" and "F" can
            rows = rows.convert("F").reduce(reduce)
        rows = np.asarray(rows, dtype=np.float32)
        if image.mode == "F":
            scaled = np.nan_to_num((rows - low) / top * 255.0)
            out[y // reduce:(y + band) // reduce] = np.clip(scaled, 0, 255).astype(np.uint8)
        else:
            out[y // reduce:(y + band) // reduce] = \
                np.clip(rows / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out, "L")


def _finite_range(image: Image.Image) -> Tuple[float, float]:
    width, height = image.size
    band = max(1, _BAND_PIXELS // max(width, 1))
    low, high = np.inf, -np.inf
    for y in range(0, height, band):
        rows = np.asarray(image.crop((0, y, width, min(height, y + band))))
        finite = rows[np.isfinite(rows)]
        if finite.size:
            low, high = min(low, finite.min()), max(high, finite.max())
    return (0.0, 0.0) if low > high else (float(low), float(high))


def _to_8bit(image: Image.Image, background=(255, 255, 255), reduce: int = 1
             ) -> Image.Image:
    """Any mode to 8-bit "RGB", or "L" for grey (turned to RGB after resizing,
    which gives the same pixels for a third of the work). ``reduce``: see
    ``_grey_to_l`` (deep grey images only)."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in _GREY_MODES:
        return _grey_to_l(image, reduce)
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "LA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        canvas = Image.new("RGB", image.size, background)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _to_rgb(image: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Any mode to 8-bit RGB: 16-bit scaled, CMYK converted, alpha over white."""
    image = _to_8bit(image, background)
    return image if image.mode == "RGB" else image.convert("RGB")


def _resized(image: Image.Image, size, max_side, resample) -> Image.Image:
    if size is not None:
        return image.resize(tuple(size), resample)
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        return image.resize((max(1, round(image.width * scale)),
                             max(1, round(image.height * scale))), resample)
    return image


def _reducing_factor(image_size, size, max_side) -> int:
    """A block size for averaging that keeps the image at least twice the
    target (Pillow's ``reducing_gap=2``), so the final resize looks the same."""
    width, height = image_size
    if size:
        return max(1, min(width, height) // (2 * max(size)))
    if max_side:
        return max(1, max(width, height) // (2 * max_side))
    return 1


def _jpeg_bytes(location: str, data: Optional[bytes]) -> Optional[bytes]:
    """The bytes of a JPEG for the fast path (read here for a local file), or None."""
    if data is not None:
        return data if data[:3] == b"\xff\xd8\xff" else None
    local = url_to_path(location) if is_url(location) else location
    if local is None:
        return None
    try:
        with open(local, "rb") as f:
            if f.read(3) != b"\xff\xd8\xff":
                return None
            return b"\xff\xd8\xff" + f.read()
    except OSError:
        return None  # Pillow's path gives the precise reason


def _fast_jpeg(location: str, data: bytes, target: int, size, max_side,
               resample) -> Optional[Image.Image]:
    """Decode a baseline JPEG with simplejpeg at the smallest DCT scale (n/8)
    whose sides are both >= ``target``; None if this path does not fit the
    file (progressive, CMYK, libjpeg warnings...): Pillow decides then."""
    header = jpeg_header(data[:1 << 17]) or jpeg_header(data)
    if header is None or header.sof not in (0xC0, 0xC1) or header.components not in (1, 3):
        return None
    if not _jpeg_complete(data):
        raise ImageError(location, "truncated JPEG")
    if header.width == 0 or header.height == 0:
        return None
    # Never above 1:1 (TurboJPEG can scale up): a small image is resized
    # from its own pixels, as on Pillow's path.
    min_width, min_height = min(target, header.width), min(target, header.height)
    eighths = next(n for n in range(1, 9) if math.ceil(header.width * n / 8) >= min_width
                   and math.ceil(header.height * n / 8) >= min_height)
    if math.ceil(header.width * eighths / 8) * math.ceil(header.height * eighths / 8) \
            > MAX_PIXELS:
        return None  # Pillow's path refuses it with the message
    try:
        pixels = simplejpeg.decode_jpeg(
            data, "GRAY" if header.components == 1 else "RGB",
            min_height=min_height, min_width=min_width)
    except ValueError:
        return None  # strict libjpeg warning: let Pillow decide, as it always did
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    image = _resized(_orient(image, header.orientation), size, max_side, resample)
    return image if image.mode == "RGB" else image.convert("RGB")


def load_rgb(location: Location, *,
             size: Optional[Tuple[int, int]] = None,
             max_side: Optional[int] = None,
             resample=Image.BILINEAR,
             data: Optional[bytes] = None) -> Image.Image:
    """Decode an image as 8-bit RGB, EXIF-oriented, optionally resized.

    ``size=(width, height)`` resizes to exactly that size; ``max_side`` scales
    down (never up) so the longest side is at most that, keeping the aspect
    ratio. JPEGs are decoded at a reduced scale (DCT scaling) when the target
    is small, which is several times faster than a full decode. ``data``: the
    file's bytes if the caller has read them already (e.g. to hash them).
    """
    location = str(location)
    target = max(size) if size else max_side
    if target and simplejpeg is not None:
        jpeg = _jpeg_bytes(location, data)
        if jpeg is not None:
            fast = _fast_jpeg(location, jpeg, target, size, max_side, resample)
            if fast is not None:
                return fast
            data = jpeg
    image, source = _open(location, data)
    try:
        if target and image.format == "JPEG":
            # (target, target) keeps draft's result large enough in any orientation.
            image.draft("RGB", (target, target))
        _check_decoded_size(location, image)
        _decode_fully(image, location, source)
        orientation = _orientation(image)
        # before orienting: a quarter of the bytes of "I"
        pixels = _to_8bit(image, reduce=_reducing_factor(image.size, size, max_side))
        pixels = _resized(_orient(pixels, orientation), size, max_side, resample)
        rgb = pixels if pixels.mode == "RGB" else pixels.convert("RGB")
        if rgb is image:
            rgb = rgb.copy()  # detach from the file handle we close below
        return rgb
    finally:
        image.close()


def load_array(location: Location, **kwargs) -> np.ndarray:
    """Like ``load_rgb``, but returns a ``(height, width, 3)`` uint8 array."""
    return np.asarray(load_rgb(location, **kwargs), dtype=np.uint8)


def load_image(location: Location, *, max_side: Optional[int] = None,
               keep_alpha: bool = True, resample=Image.LANCZOS) -> Image.Image:
    """Decode an image for re-encoding: EXIF-oriented, 8-bit RGB or RGBA.

    Like ``load_rgb``, but an image with transparency (an alpha channel or a
    transparent palette colour) comes back as RGBA when ``keep_alpha``.
    ``max_side`` scales down (never up), keeping the aspect ratio.
    """
    location = str(location)
    image, source = _open(location)
    try:
        if max_side and image.format == "JPEG":
            image.draft("RGB", (max_side, max_side))
        _check_decoded_size(location, image)
        _decode_fully(image, location, source)
        orientation = _orientation(image)
        has_alpha = image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or \
            image.mode == "P" and "transparency" in image.info
        if keep_alpha and has_alpha:
            out = image.convert("RGBA")
        else:
            out = _to_8bit(image)
        out = _resized(_orient(out, orientation), None, max_side, resample)
        if out.mode == "L":
            out = out.convert("RGB")
        if out is image:
            out = out.copy()
        return out
    finally:
        image.close()


@dataclass
class Reduced:
    """Result of ``decode_reduced``: one decode that serves all pixel checks.

    image: 8-bit RGB, EXIF-oriented, longest side at most ``max_side``
    width, height: the oriented size of the stored image (before any scaling)
    format, mode: what the file says (``mode`` before conversion: "L" for grey)
    full: the full-size 8-bit RGB image when it was decoded at full size anyway
        (every format but a JPEG that ``draft`` could shrink); None otherwise
    """
    image: Image.Image
    width: int
    height: int
    format: str
    mode: str
    full: Optional[Image.Image]


def decode_reduced(location: Location, *, max_side: int, data: Optional[bytes] = None,
                   keep_full: bool = True, resample=Image.BILINEAR) -> Reduced:
    """Decode an image small and fast (``load_rgb``'s reduced decoding), keeping
    what the pixel checks need: the stored size (EXIF-oriented), format and
    mode, and -- when ``keep_full`` and the image is no larger than
    ``max_side`` anyway -- its full-size RGB pixels, so that a caller can hash
    them without a second decode.
    """
    if not isinstance(max_side, int) or max_side < 1:
        raise ValueError(f"max_side must be a positive integer, got {max_side!r}")
    location = str(location)
    header = open_image(location, data)
    try:
        fmt, mode = header.format or "", header.mode
        width, height = header.size
        if _orientation(header) in (5, 6, 7, 8):   # a 90° turn swaps the sides
            width, height = height, width
    finally:
        header.close()
    small = load_rgb(location, max_side=max_side, data=data, resample=resample)
    full = small if keep_full and max(width, height) <= max_side \
        and small.size == (width, height) else None
    return Reduced(small, width, height, fmt, mode, full)
