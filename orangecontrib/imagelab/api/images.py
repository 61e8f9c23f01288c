"""Single images for the views: a thumbnail decode that widgets call from worker threads.

    >>> from orangecontrib.imagelab.api.images import load_thumbnail
    >>> load_thumbnail("photos/cat.jpg", max_side=128).size    # doctest: +SKIP
    (128, 96)
"""
from typing import Optional

from PIL import Image

from orangecontrib.imagelab.core.pixels.decoding import load_rgb

__all__ = ["load_thumbnail"]


def load_thumbnail(location: str, max_side: Optional[int] = None) -> Image.Image:
    """``location`` (a path or URL) as an 8-bit RGB Pillow image, EXIF-oriented,
    scaled down (never up) so its longest side is at most ``max_side``.

    JPEGs decode at reduced scale (draft mode), so a thumbnail of a large photo
    costs a fraction of a full decode. Raises ``ImageError`` (``.reason``) for
    a file that cannot be read or decoded.
    """
    return load_rgb(location, max_side=max_side)
