"""Open, check, orient and decode images, turning every failure into ImageError.

All functions take a *location*: a local path, or a ``file://`` /
``http(s)://`` URL. They are thread-safe, so callers decode in thread pools
(Pillow releases the GIL while decoding).
"""
import io
import os
import threading
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError, reason
from ..paths import is_url, url_to_path

Location = Union[str, os.PathLike]

#: Images with more pixels are refused as decompression bombs (Pillow's own
#: warning limit; Pillow errors only at twice that).
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485

#: Bytes read from a URL at most; a bigger download is refused.
MAX_URL_BYTES = 64 * 1024 * 1024

#: Seconds one attempt to read a URL may take in all (not per read).
URL_TIMEOUT = 10.0

# Where a complete file of these formats ends, and how far from the end the
# marker may sit (some cameras append data after a JPEG's end marker).
_END_MARKERS = {"JPEG": (b"\xff\xd9", 1 << 16), "PNG": (b"IEND", 64)}


@dataclass(frozen=True)
class ImageInfo:
    """What the header of an image says."""
    width: int
    height: int
    format: str  # Pillow's name: "JPEG", "PNG", ...
    mode: str


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


def _open(location: Location, data: Optional[bytes] = None) -> Image.Image:
    """Open lazily (header only); the caller must close the image.

    ``data``, if given, holds the file's bytes already read (``location`` then
    only names the image in errors).
    """
    location = str(location)
    if data is not None:
        if not data:
            raise ImageError(location, "empty file (0 bytes)")
        source = io.BytesIO(data)
    elif is_url(location):
        local = url_to_path(location)
        source = local if local is not None else io.BytesIO(read_bytes(location))
    else:
        source = location
    try:
        if isinstance(source, str) and os.path.getsize(source) == 0:
            raise ImageError(location, "empty file (0 bytes)")
        image = Image.open(source)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(location, f"too many pixels (decompression bomb): {err}") from err
    except UnidentifiedImageError as err:
        raise ImageError(location, "not an image file") from err
    except OSError as err:
        raise ImageError(location, reason(err)) from err
    except (ValueError, SyntaxError) as err:  # broken headers raise these too
        raise ImageError(location, f"corrupt header ({err})") from err
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise ImageError(
            location, f"too many pixels: {width}×{height} exceeds the "
                      f"decompression-bomb limit of {MAX_PIXELS:,}")
    if width == 0 or height == 0:
        image.close()
        raise ImageError(location, "image has no pixels")
    return image


def open_image(location: Location, data: Optional[bytes] = None) -> Image.Image:
    """Open an image lazily (header only), with the checks of every decode here.

    Raises ImageError; the caller closes the image. ``data``: the file's
    bytes if already read. ``decode_fully`` then loads the pixels.
    """
    return _open(location, data)


def decode_fully(image: Image.Image, location: Location) -> None:
    """Load the pixels of an image from ``open_image``; ImageError when damaged."""
    _decode_fully(image, str(location))


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB: 16-bit scaled, CMYK converted, alpha over white."""
    return _to_rgb(image)


def _ends_properly(location: str, fmt: str) -> bool:
    """Cheap truncation check: does the file contain its format's end marker?"""
    marker, window = _END_MARKERS.get(fmt, (None, 0))
    if marker is None or is_url(location):
        return True
    try:
        with open(location, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - window))
            return marker in f.read()
    except OSError:
        return False


def probe(location: Location, *, full: bool = False) -> ImageInfo:
    """Check an image and return its size and format; raise ImageError if bad.

    By default only the header is read, plus a look at the file's last bytes
    for the format's end marker; a file without it is decoded fully to tell a
    truncated file from one with unusual trailing data. ``full=True`` always
    decodes every pixel.
    """
    location = str(location)
    image = _open(location)
    try:
        info = ImageInfo(*image.size, image.format or "", image.mode)
        if full or not _ends_properly(location, info.format):
            _decode_fully(image, location)
    finally:
        image.close()
    return info


def _decode_fully(image: Image.Image, location: str) -> None:
    try:
        image.load()
    except OSError as err:
        what = f"truncated {image.format or 'image'}" \
            if "truncated" in str(err) or "broken data stream" in str(err) \
            else f"cannot decode ({err})"
        raise ImageError(location, what) from err
    except (ValueError, SyntaxError, MemoryError) as err:
        raise ImageError(location, f"cannot decode ({err})") from err


def _to_rgb(image: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Any mode to 8-bit RGB: 16-bit scaled, CMYK converted, alpha over white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(pixels.max(), 1.0)
        grey = np.clip(pixels / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        low, high = np.nanmin(pixels), np.nanmax(pixels)
        scaled = (pixels - low) / (high - low or 1.0) * 255.0
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info or image.mode in ("PA", "LA", "La"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        canvas = Image.new("RGB", image.size, background)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB")


def load_rgb(location: Location, *,
             size: Optional[Tuple[int, int]] = None,
             max_side: Optional[int] = None,
             resample=Image.BILINEAR,
             data: Optional[bytes] = None) -> Image.Image:
    """Decode an image as 8-bit RGB, EXIF-oriented, optionally resized.

    ``size=(width, height)`` resizes to exactly that size; ``max_side`` scales
    down (never up) so the longest side is at most that, keeping the aspect
    ratio. JPEGs are decoded at a reduced scale (``draft``) when the target is
    small, which is several times faster than a full decode. ``data``: the
    file's bytes if the caller has read them already (e.g. to hash them).
    """
    location = str(location)
    image = _open(location, data)
    try:
        target = max(size) if size else max_side
        if target and image.format == "JPEG":
            # (target, target) keeps draft's result large enough in any orientation.
            image.draft("RGB", (target, target))
        _decode_fully(image, location)
        try:
            oriented = ImageOps.exif_transpose(image)
        except (ValueError, TypeError, OSError, SyntaxError):
            oriented = image  # a broken EXIF block should not lose the image
        rgb = _to_rgb(oriented)
        if size is not None:
            rgb = rgb.resize(tuple(size), resample)
        elif max_side and max(rgb.size) > max_side:
            scale = max_side / max(rgb.size)
            rgb = rgb.resize((max(1, round(rgb.width * scale)),
                              max(1, round(rgb.height * scale))), resample)
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
    image = _open(location)
    try:
        if max_side and image.format == "JPEG":
            image.draft("RGB", (max_side, max_side))
        _decode_fully(image, location)
        try:
            oriented = ImageOps.exif_transpose(image)
        except (ValueError, TypeError, OSError, SyntaxError):
            oriented = image
        has_alpha = oriented.mode in ("RGBA", "RGBa", "LA", "La", "PA") or \
            oriented.mode == "P" and "transparency" in oriented.info
        if keep_alpha and has_alpha:
            out = oriented.convert("RGBA")
        else:
            out = _to_rgb(oriented)
        if max_side and max(out.size) > max_side:
            scale = max_side / max(out.size)
            out = out.resize((max(1, round(out.width * scale)),
                              max(1, round(out.height * scale))), resample)
        if out is image:
            out = out.copy()
        return out
    finally:
        image.close()
