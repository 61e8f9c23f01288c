"""Build the bundled sample of real photos (run by hand; the result is committed).

    .venv/bin/python scripts/make_sample.py

Sources, both installable offline:
- Fashion-MNIST (MIT; Debian package ``dataset-fashion-mnist``): 28×28 grey
  product photos, upscaled 4× to PNG. Five classes, 40 labelled images each
  (from the training split) and 40 unlabelled "new" images (test split).
- scikit-image's sample photos (shipped in its wheel; public domain / CC0):
  a cat, coffee, an astronaut and a rocket, plus crops and mirror images of
  them, as a small "scraped" set for the Image Labels workflow.
- ``boxes/``: small scenes of several Fashion-MNIST products each (other
  images of the training split than ``fashion/``), with their object boxes
  in a COCO JSON, for the "crop boxes and train" workflow.

    .venv/bin/python scripts/make_sample.py boxes    # rebuild one part only
"""
import gzip
import json
import os
import shutil
import sys
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


BOX_SCENES = 30
BOX_SCENE_SIZE = (320, 240)
BOX_ITEMS = 3


def _background(rng, size) -> np.ndarray:
    """A table-top: a warm gradient with grain, different in each scene."""
    w, h = size
    base = np.array(rng.choice([(196, 170, 140), (180, 190, 200), (205, 200, 180),
                                (160, 175, 160)]), dtype=float)
    ramp = np.linspace(-25, 25, w)[None, :, None] * rng.choice([-1, 1])
    grain = rng.normal(0, 3, (h, w, 1))
    return np.clip(base + ramp + grain, 0, 255)


def make_boxes() -> None:
    """Scenes of three products each, boxes in ``annotations/instances.json``."""
    rng = np.random.default_rng(11)
    images, labels = fashion_split("train")
    pools = {index: list(np.flatnonzero(labels == index)[PER_CLASS:PER_CLASS + 60])
             for index in CLASSES}
    out = SAMPLE / "boxes"
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    w, h = BOX_SCENE_SIZE
    coco = {"info": {"description": "Image Lab sample: Fashion-MNIST products on a table"},
            "images": [], "annotations": [],
            "categories": [{"id": k + 1, "name": name} for k, name in
                           enumerate(CLASSES.values())]}
    category = {index: k + 1 for k, index in enumerate(CLASSES)}
    for n in range(BOX_SCENES):
        scene = _background(rng, BOX_SCENE_SIZE)
        taken = []
        classes = rng.choice(list(CLASSES), size=BOX_ITEMS, replace=False)
        for index in classes:
            pixels = images[pools[index].pop()]
            side = int(rng.integers(64, 104))
            item = np.asarray(Image.fromarray(pixels, "L").resize((side, side), Image.LANCZOS),
                              dtype=float) / 255
            for _ in range(200):   # a free place: boxes may touch, not overlap
                x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
                if all(x + side <= a or a + s <= x or y + side <= b or b + s <= y
                       for a, b, s in taken):
                    break
            taken.append((x, y, side))
            tint = np.array(rng.choice([(60, 60, 70), (30, 60, 120), (120, 40, 40),
                                        (40, 90, 50), (20, 20, 20)]), dtype=float)
            alpha = np.clip(item * 1.6, 0, 1)[..., None]
            colour = tint + item[..., None] * (255 - tint) * 0.9
            region = scene[y:y + side, x:x + side]
            scene[y:y + side, x:x + side] = region * (1 - alpha) + colour * alpha
            ys, xs = np.nonzero(item > 0.08)
            box = [x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1,
                   y + int(ys.max()) + 1]
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": n + 1,
                "category_id": category[index],
                "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]],
                "area": (box[2] - box[0]) * (box[3] - box[1]), "iscrowd": 0})
        name = f"scene-{n:02}.jpg"
        Image.fromarray(scene.astype(np.uint8), "RGB").save(out / name, quality=85)
        coco["images"].append({"id": n + 1, "file_name": name, "width": w, "height": h})
    with open(out / "annotations" / "instances.json", "w", encoding="utf-8") as f:
        json.dump(coco, f, indent=1)


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
    lines += [
        "",
        "## boxes/",
        f"{BOX_SCENES} scenes ({BOX_SCENE_SIZE[0]}x{BOX_SCENE_SIZE[1]} JPEG) of {BOX_ITEMS} "
        "Fashion-MNIST products each (MIT, as above; other",
        "images of the training split than `fashion/`), tinted and laid on a drawn table-top;",
        "their object boxes are in `annotations/instances.json` (COCO).",
    ]
    (SAMPLE / "LICENSES.md").write_text("\n".join(lines) + "\n")


PARTS = {"fashion": make_fashion, "photos": make_photos, "boxes": make_boxes}


def main() -> None:
    parts = sys.argv[1:] or list(PARTS)
    for part in parts:
        if part not in PARTS:
            sys.exit(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    for part in parts:
        folder = SAMPLE / part
        if folder.exists():
            shutil.rmtree(folder)  # the sample is generated: rebuilding replaces it whole
        PARTS[part]()
    write_licences()
    total = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    count = sum(1 for f in SAMPLE.rglob("*") if f.is_file())
    print(f"{count} files, {total / 1e6:.2f} MB in {os.path.relpath(SAMPLE, ROOT)}")


if __name__ == "__main__":
    main()
