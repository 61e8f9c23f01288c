"""Small images made on the fly for tests (Pillow), so no binary fixtures are needed."""
import os
from pathlib import Path
from typing import Tuple

import numpy as np
from PIL import Image


def make_image(path, size: Tuple[int, int] = (64, 48), color=(200, 30, 30),
               fmt=None, noise: int = 0, seed: int = 0, mode: str = "RGB", **save_kw) -> Path:
    """Write a solid (optionally noisy) image; the format follows the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.empty((size[1], size[0], 3), dtype=np.uint8)
    pixels[:] = color
    if noise:
        rng = np.random.default_rng(seed)
        pixels = np.clip(pixels.astype(int) + rng.integers(-noise, noise + 1, pixels.shape),
                         0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, format=fmt, **save_kw)
    return path


def make_truncated_jpeg(path, size=(64, 48)) -> Path:
    """A JPEG cut in the middle of its pixel data."""
    path = make_image(path, size=size, noise=40, quality=95)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    return path


def make_zero_byte(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def make_text_file(path, text="this is not an image\n") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_class_folders(root, classes=("cats", "dogs"), per_class=3, size=(64, 48)) -> Path:
    """root/<class>/<class>_<i>.jpg with a distinct colour per class."""
    root = Path(root)
    palette = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (230, 200, 40), (160, 40, 200)]
    for c, name in enumerate(classes):
        for i in range(per_class):
            make_image(root / name / f"{name}_{i}.jpg", size=size,
                       color=palette[c % len(palette)], noise=10, seed=c * 100 + i)
    return root


def skimage_sample(name: str) -> Path:
    """Path of a real photo shipped in scikit-image's wheel, e.g. 'chelsea.png'."""
    import skimage  # only some tests need it; they import it lazily
    return Path(os.path.dirname(skimage.__file__)) / "data" / name
