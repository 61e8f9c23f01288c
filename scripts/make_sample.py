"""Build the bundled sample of real photos (run by hand; the result is committed).

    .venv/bin/python scripts/make_sample.py

Sources, both installable offline:
- Fashion-MNIST (MIT; Debian package ``dataset-fashion-mnist``): 28×28 grey
  product photos, upscaled 4× to PNG. Five classes, 40 labelled images each
  (from the training split) and 40 unlabelled "new" images (test split).
- scikit-image's sample photos (shipped in its wheel; public domain / CC0):
  a cat, coffee, an astronaut and a rocket, plus crops and mirror images of
  them, as a small "scraped" set for the Image Labels workflow.
"""
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "orangecontrib" / "imagelab" / "sample"
FASHION = Path("/usr/share/datasets/fashion-mnist")

# index in Fashion-MNIST -> folder name (safe, no "/")
CLASSES = {0: "T-shirt", 1: "Trouser", 3: "Dress", 7: "Sneaker", 8: "Bag"}
PER_CLASS = 40
NEW_IMAGES = 40
SCALE = 4

PHOTOS = {  # file in skimage/data -> (name here, licence line)
    "chelsea.png": ("cat.jpg", "CC0, photographer Stefan van der Walt"),
    "coffee.png": ("coffee.jpg", "CC0, photographer Rachel Michetti"),
    "astronaut.png": ("astronaut.jpg", "public domain (NASA, Eileen Collins)"),
    "rocket.jpg": ("rocket.jpg", "public domain (SpaceX)"),
}


def read_idx(name: str, offset: int) -> np.ndarray:
    with gzip.open(FASHION / name, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def fashion_split(split: str):
    images = read_idx(f"{split}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = read_idx(f"{split}-labels-idx1-ubyte.gz", 8)
    return images, labels


def save_upscaled(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels, "L")
    image.resize((28 * SCALE, 28 * SCALE), Image.LANCZOS).save(path, optimize=True)


def make_fashion() -> None:
    images, labels = fashion_split("train")
    for index, name in CLASSES.items():
        rows = np.flatnonzero(labels == index)[:PER_CLASS]
        for i, row in enumerate(rows):
            save_upscaled(images[row],
                          SAMPLE / "fashion" / "labelled" / name / f"{name}-{i:03}.png")
    images, labels = fashion_split("t10k")
    rows = np.flatnonzero(np.isin(labels, list(CLASSES)))[:NEW_IMAGES]
    for i, row in enumerate(rows):
        save_upscaled(images[row], SAMPLE / "fashion" / "new" / f"new-{i:03}.png")


def make_photos() -> None:
    import skimage
    data = Path(skimage.__file__).parent / "data"
    out = SAMPLE / "photos"
    out.mkdir(parents=True, exist_ok=True)
    for source, (name, _) in PHOTOS.items():
        image = Image.open(data / source).convert("RGB")
        image.thumbnail((480, 480), Image.LANCZOS)
        stem = Path(name).stem
        image.save(out / name, quality=88)
        # A "scraped" set has near-duplicates: mirror images and crops.
        ImageOps.mirror(image).save(out / f"{stem}-mirrored.jpg", quality=88)
        w, h = image.size
        image.crop((w // 8, h // 8, w - w // 8, h - h // 8)).save(
            out / f"{stem}-crop.jpg", quality=88)


def write_licences() -> None:
    lines = [
        "# Sample images: sources and licences",
        "",
        "Built by `scripts/make_sample.py`; nothing here was downloaded.",
        "",
        "## fashion/",
        "Fashion-MNIST, Copyright (c) 2017 Zalando SE, MIT licence; taken from the Debian",
        "package `dataset-fashion-mnist` and upscaled 4x (28x28 -> 112x112) to PNG.",
        f"`labelled/<class>/`: {PER_CLASS} images of each of {', '.join(CLASSES.values())}"
        " (training split); `new/`: unlabelled images from the test split.",
        "",
        "## photos/",
        "Sample photos shipped in scikit-image's wheel (`skimage/data`), scaled to at most",
        "480 px, with a mirror image and a crop of each:",
    ]
    for source, (name, licence) in PHOTOS.items():
        lines.append(f"- `{name}` from `{source}`: {licence}")
    (SAMPLE / "LICENSES.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    if SAMPLE.exists():
        shutil.rmtree(SAMPLE)  # the sample is generated: rebuilding replaces it whole
    make_fashion()
    make_photos()
    write_licences()
    total = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    count = sum(1 for f in SAMPLE.rglob("*") if f.is_file())
    print(f"{count} files, {total / 1e6:.2f} MB in {os.path.relpath(SAMPLE, ROOT)}")


if __name__ == "__main__":
    main()
