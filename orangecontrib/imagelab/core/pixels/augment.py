"""Augmentation: random flips, affine warps and brightness changes, seeded, in memory.

    >>> augment = Augment(rotate=30, shift=0.2, seed=0)
    >>> transform = augment.transform(image_hash, copy=2)   # the same every time
    >>> warped = transform.apply(pixels)                     # (h, w, 3) uint8 -> same shape
    >>> transform.text()     # canonical parameters: part of the cache key of the result

The ranges are those of Keras' ``ImageDataGenerator`` in the Open Images
recipe (rotation 30°, shifts 0.2, zoom 0.5, shear 0.2, brightness 0.2,
horizontal flips). What each means here:

- ``rotate``: the angle is uniform in [-rotate, rotate] degrees;
- ``shift``: the horizontal and vertical shifts are uniform in
  [-shift, shift] times the width and height;
- ``zoom``: the content is scaled by factors uniform in [1 - zoom, 1 + zoom],
  drawn separately for x and y (as Keras does); above 1 enlarges;
- ``shear``: the shear angle is uniform in [-shear, shear] *radians* (0.2 is
  about 11°). Keras 1 read the recipe's ``shear_range=0.2`` as radians; Keras 2
  reads the same number as degrees, which makes it almost a no-op, so the
  recipe's intent is kept;
- ``brightness``: pixel values are multiplied by a factor uniform in
  [1 - brightness, 1 + brightness] (Keras' ``brightness_range`` as a width);
- ``flip_h`` / ``flip_v``: each flip happens with probability 1/2.

Pixels that a warp brings in from outside the image repeat the nearest edge
pixel (Keras' default ``fill_mode="nearest"``).

A copy's parameters depend only on (seed, the image's content hash, the copy
index), so the same training image gets the same copies in every
cross-validation fold, and their embeddings are computed once and cached.
Nothing is written anywhere: the transforms work on arrays and Pillow images.
"""
import json
import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Union

import numpy as np
from PIL import Image

#: Bump when ``Transform.apply`` changes what it produces: the version is
#: part of ``Transform.text()`` and so of the cache key of augmented images.
AUGMENT_VERSION = 1

ImageLike = Union[np.ndarray, Image.Image]


def _number(name: str, value, low: float, high: float, *, high_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) \
            or value < low or value > high or (high_open and value == high):
        bracket = ")" if high_open else "]"
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}{bracket}, "
                         f"got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Transform:
    """One concrete augmentation: the parameters drawn for one copy of one image."""
    flip_h: bool = False
    flip_v: bool = False
    angle: float = 0.0       # degrees, counter-clockwise
    shift_x: float = 0.0     # fraction of the width, to the right
    shift_y: float = 0.0     # fraction of the height, down
    zoom_x: float = 1.0
    zoom_y: float = 1.0
    shear: float = 0.0       # radians
    brightness: float = 1.0  # factor

    def text(self) -> str:
        """Canonical text of the parameters (6 decimals) and ``AUGMENT_VERSION``;
        the cache keys an augmented image's embedding by (image hash, this)."""
        values = {f.name: (round(getattr(self, f.name), 6)
                           if isinstance(getattr(self, f.name), float)
                           else getattr(self, f.name)) for f in fields(self)}
        values["version"] = AUGMENT_VERSION
        return json.dumps(values, sort_keys=True, separators=(",", ":"))

    def is_identity(self) -> bool:
        return self == Transform()

    def inverse_matrix(self, width: int, height: int) -> np.ndarray:
        """The 3×3 matrix mapping output pixel coordinates to input coordinates."""
        cx, cy = width / 2.0, height / 2.0
        theta = math.radians(self.angle)
        # forward, about the centre: flip, zoom, shear, rotate, then shift.
        # y points down in images, so a counter-clockwise turn uses -theta.
        flip = np.diag([-1.0 if self.flip_h else 1.0, -1.0 if self.flip_v else 1.0, 1.0])
        zoom = np.diag([self.zoom_x, self.zoom_y, 1.0])
        shear = np.array([[1.0, -math.sin(self.shear), 0.0],
                          [0.0, math.cos(self.shear), 0.0],
                          [0.0, 0.0, 1.0]])
        rotate = np.array([[math.cos(theta), math.sin(theta), 0.0],
                           [-math.sin(theta), math.cos(theta), 0.0],
                           [0.0, 0.0, 1.0]])
        to_centre = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
        back = np.array([[1.0, 0.0, cx + self.shift_x * width],
                         [0.0, 1.0, cy + self.shift_y * height], [0.0, 0.0, 1.0]])
        forward = back @ rotate @ shear @ zoom @ flip @ to_centre
        return np.linalg.inv(forward)

    def apply(self, image: ImageLike) -> ImageLike:
        """The transformed image, of the same size and type as ``image``.

        ``image``: a Pillow image (any mode Pillow can warp; L, RGB, RGBA) or a
        uint8 array (h, w) or (h, w, channels). Returns the same type.
        """
        if isinstance(image, Image.Image):
            return self._apply_pil(image)
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or \
                (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
            raise ValueError(
                "image must be a Pillow image or a uint8 array (h, w) or (h, w, 1|3|4), "
                f"got {array.dtype} {array.shape}: convert with np.asarray(pil_image) "
                "or (x * 255).astype(np.uint8)")
        squeeze = array.ndim == 3 and array.shape[2] == 1
        pil = Image.fromarray(array[:, :, 0] if squeeze else array)
        out = np.asarray(self._apply_pil(pil))
        return out[:, :, None] if squeeze else out

    def _apply_pil(self, image: Image.Image) -> Image.Image:
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        width, height = image.size
        if not self._geometry_is_identity():
            image = self._warp(image)
        if self.brightness != 1.0:
            pixels = np.asarray(image).astype(np.float32)
            colour = pixels if image.mode != "RGBA" else pixels[:, :, :3]
            colour *= self.brightness
            image = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8),
                                    image.mode)
        assert image.size == (width, height)
        return image

    def _geometry_is_identity(self) -> bool:
        return (not self.flip_h and not self.flip_v and self.angle == 0 and self.shift_x == 0
                and self.shift_y == 0 and self.zoom_x == 1 and self.zoom_y == 1
                and self.shear == 0)

    def _warp(self, image: Image.Image) -> Image.Image:
        width, height = image.size
        inverse = self.inverse_matrix(width, height)
        # Where the output's corners come from: pad the input with its edge
        # pixels just enough that every sample lands on real or repeated pixels.
        corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]],
                           dtype=float).T
        source = inverse @ corners
        left = max(0, math.ceil(-source[0].min()) + 2)
        top = max(0, math.ceil(-source[1].min()) + 2)
        right = max(0, math.ceil(source[0].max() - width) + 2)
        bottom = max(0, math.ceil(source[1].max() - height) + 2)
        pixels = np.asarray(image)
        pad = ((top, bottom), (left, right)) + (((0, 0),) if pixels.ndim == 3 else ())
        padded = Image.fromarray(np.pad(pixels, pad, mode="edge"), image.mode)
        shifted = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]]) @ inverse
        coefficients = tuple(shifted[:2].ravel())
        return padded.transform((width, height), Image.AFFINE, coefficients,
                                resample=Image.BILINEAR)


@dataclass(frozen=True)
class Augment:
    """Ranges of random augmentations (see the module's doc for each one).

    ``copies`` of an image are ``augment.transform(image_hash, copy=k)`` for
    k = 0, 1, ...: reproducible for a given ``seed``.
    """
    flip_h: bool = True
    flip_v: bool = False
    rotate: float = 30.0
    shift: float = 0.2
    zoom: float = 0.5
    shear: float = 0.2
    brightness: float = 0.2
    seed: int = 0

    def __post_init__(self):
        for name in ("flip_h", "flip_v"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        checks = {"rotate": (0, 180, False), "shift": (0, 1, False),
                  "zoom": (0, 1, True), "shear": (0, 1.2, False), "brightness": (0, 1, True)}
        for name, (low, high, high_open) in checks.items():
            object.__setattr__(self, name, _number(name, getattr(self, name), low, high,
                                                   high_open=high_open))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) \
                or self.seed < 0:
            raise ValueError(f"seed must be a whole number >= 0, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))

    def to_dict(self) -> dict:
        """Literals only (for settings, metadata and reports)."""
        return {key: (bool(value) if isinstance(value, (bool, np.bool_)) else value)
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "Augment":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown augmentation options {unknown}; known: {sorted(known)}")
        return cls(**values)

    def transform(self, image_key: bytes = b"", copy: int = 0) -> Transform:
        """The parameters of copy ``copy`` of the image whose content hash is
        ``image_key``: a function of (seed, image_key, copy) only."""
        if isinstance(copy, bool) or not isinstance(copy, numbers.Integral) or copy < 0:
            raise ValueError(f"copy must be a whole number >= 0, got {copy!r}")
        words = np.frombuffer(bytes(image_key)[:16].ljust(16, b"\0"), dtype="<u4")
        rng = np.random.default_rng([self.seed, int(copy), *map(int, words)])
        u = rng.random(9)  # always nine draws, so each parameter has its own stream position

        def spread(value: float, width: float) -> float:
            return float((2.0 * value - 1.0) * width)

        return Transform(
            flip_h=bool(self.flip_h and u[0] < 0.5),
            flip_v=bool(self.flip_v and u[1] < 0.5),
            angle=spread(u[2], self.rotate),
            shift_x=spread(u[3], self.shift),
            shift_y=spread(u[4], self.shift),
            zoom_x=1.0 + spread(u[5], self.zoom),
            zoom_y=1.0 + spread(u[6], self.zoom),
            shear=spread(u[7], self.shear),
            brightness=1.0 + spread(u[8], self.brightness))

    def __call__(self, image: ImageLike, *, image_key: bytes = b"", copy: int = 0
                 ) -> ImageLike:
        """``self.transform(image_key, copy).apply(image)``."""
        return self.transform(image_key, copy).apply(image)
