"""Build the bundled Open Images-format sample (run by hand; the result is committed).

    .venv/bin/python scripts/make_openimages_sample.py

``orangecontrib/imagelab/sample/openimages/`` gets metadata files in the
formats Open Images publishes (class descriptions, image lists, boxes,
image-level labels, the class hierarchy) for 50 small "scenes": grey
backgrounds with two or three Fashion-MNIST products (from the bundled
``sample/fashion/labelled``) placed at random, their boxes known exactly.
The image lists' URLs are relative file URLs (``file:images/<id>.jpg``),
resolved against the metadata folder, so Dataset Subset -> Download Images
works offline. Class MIDs are made up for the sample ("/m/sample-...").
"""
import base64
import csv
import hashlib
import io
import json
import os
import random
from pathlib import Path

from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "orangecontrib" / "imagelab" / "sample"
OUT = SAMPLE / "openimages"
FASHION = SAMPLE / "fashion" / "labelled"

SCENES = 50
VALIDATION = 10         # the last scenes form the validation split
SIZE = (240, 160)

# Fashion folder -> (MID, Open Images-style display name)
PRODUCTS = {
    "Dress": ("/m/sample-dress", "Dress"),
    "T-shirt": ("/m/sample-shirt", "Shirt"),
    "Trouser": ("/m/sample-trousers", "Trousers"),
    "Sneaker": ("/m/sample-footwear", "Footwear"),
    "Bag": ("/m/sample-handbag", "Handbag"),
}
OTHER_CLASSES = [  # in the class list and hierarchy, without any image here
    ("/m/sample-clothing", "Clothing"), ("/m/sample-accessory", "Fashion accessory"),
    ("/m/sample-vehicle", "Vehicle"), ("/m/sample-bus", "Bus"),
    ("/m/sample-bicycle", "Bicycle"), ("/m/sample-animal", "Animal"),
    ("/m/sample-cat", "Cat"), ("/m/sample-entity", "Entity")]
HIERARCHY = {"LabelName": "/m/sample-entity", "Subcategory": [
    {"LabelName": "/m/sample-clothing", "Subcategory": [
        {"LabelName": "/m/sample-dress"}, {"LabelName": "/m/sample-shirt"},
        {"LabelName": "/m/sample-trousers"}, {"LabelName": "/m/sample-footwear"}]},
    {"LabelName": "/m/sample-accessory", "Subcategory": [
        {"LabelName": "/m/sample-handbag"}]},
    {"LabelName": "/m/sample-vehicle", "Subcategory": [
        {"LabelName": "/m/sample-bus"}, {"LabelName": "/m/sample-bicycle"}]},
    {"LabelName": "/m/sample-animal", "Subcategory": [{"LabelName": "/m/sample-cat"}]},
]}
IMAGE_COLUMNS = ["ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License",
                 "AuthorProfileURL", "Author", "Title", "OriginalSize", "OriginalMD5",
                 "Thumbnail300KURL", "Rotation"]
BOX_COLUMNS = ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin",
               "YMax", "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside"]
LICENSE = "https://opensource.org/licenses/MIT"


def product_images():
    """{folder: [PIL images]} of the bundled Fashion-MNIST sample."""
    return {folder: [Image.open(p).convert("L") for p in sorted((FASHION / folder).glob("*.png"))]
            for folder in PRODUCTS}


def place(rng, sizes, width, height, tries=200):
    """Non-overlapping (x, y) for squares of ``sizes`` inside width x height."""
    placed = []
    for side in sizes:
        for _ in range(tries):
            x, y = rng.randint(2, width - side - 2), rng.randint(2, height - side - 2)
            if all(x + side <= px or px + ps <= x or y + side <= py or py + ps <= y
                   for px, py, ps in placed):
                placed.append((x, y, side))
                break
    return placed


def scene(rng, products, used):
    width, height = SIZE
    tone = rng.randint(150, 215)
    canvas = Image.effect_noise(SIZE, 18).point(lambda v: min(255, v - 128 + tone))
    canvas = canvas.filter(ImageFilter.GaussianBlur(1)).convert("RGB")
    # the least used products first, so that every class gets about as many boxes
    order = sorted(PRODUCTS, key=lambda f: (used[f], rng.random()))
    folders = order[:rng.choice((2, 3))]
    sides = [rng.randint(60, 84) for _ in folders]
    boxes = []
    for folder, (x, y, side) in zip(folders, place(rng, sides, width, height)):
        item = products[folder][used[folder] % len(products[folder])]
        used[folder] += 1
        item = item.resize((side, side), Image.LANCZOS)
        # Fashion-MNIST products are light on black: keep the product, drop the black.
        mask = item.point(lambda v: 255 if v > 12 else 0)
        tint = Image.merge("RGB", [item.point(lambda v, k=k: int(v * k))
                                   for k in (1.0, 0.93, 0.85)])
        canvas.paste(tint, (x, y), mask)
        box = mask.getbbox() or (0, 0, side, side)
        x0, y0, x1, y1 = x + box[0], y + box[1], x + box[2], y + box[3]
        boxes.append((folder, x0 / width, x1 / width, y0 / height, y1 / height))
    return canvas, boxes


def main():
    rng = random.Random(2026)
    products = product_images()
    used = {folder: 0 for folder in PRODUCTS}
    images_dir = OUT / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    for old in images_dir.glob("*.jpg"):
        old.unlink()
    rows = {"train": [], "validation": []}
    box_rows = {"train": [], "validation": []}
    label_rows = []
    for k in range(SCENES):
        image, boxes = scene(rng, products, used)
        image_id = hashlib.sha1(f"imagelab sample scene {k}".encode()).hexdigest()[:16]
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=82, optimize=True)
        data = buffer.getvalue()
        (images_dir / f"{image_id}.jpg").write_bytes(data)
        split = "validation" if k >= SCENES - VALIDATION else "train"
        rows[split].append([
            image_id, split, f"file:images/{image_id}.jpg", "", LICENSE, "",
            "Zalando SE (Fashion-MNIST)", f"Sample scene {k + 1}", str(len(data)),
            base64.b64encode(hashlib.md5(data).digest()).decode(), "", "0"])
        present = set()
        for folder, x0, x1, y0, y1 in boxes:
            mid = PRODUCTS[folder][0]
            present.add(mid)
            box_rows[split].append([image_id, "xclick", mid, "1", f"{x0:.6f}", f"{x1:.6f}",
                                    f"{y0:.6f}", f"{y1:.6f}", "0", "0", "0", "0", "0"])
        if split == "train":
            for mid in sorted(present):
                label_rows.append([image_id, "verification", mid, "1"])
            absent = sorted(m for m, _ in PRODUCTS.values() if m not in present)
            label_rows.append([image_id, "verification", rng.choice(absent), "0"])

    def write(name, header, data):
        with open(OUT / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            if header:
                writer.writerow(header)
            writer.writerows(sorted(data))

    names = [list(v) for v in PRODUCTS.values()] + [list(v) for v in OTHER_CLASSES]
    write("class-descriptions-boxable.csv", None, names)
    write("train-images-boxable-with-rotation.csv", IMAGE_COLUMNS, rows["train"])
    write("validation-images-with-rotation.csv", IMAGE_COLUMNS, rows["validation"])
    write("train-annotations-bbox.csv", BOX_COLUMNS, box_rows["train"])
    write("validation-annotations-bbox.csv", BOX_COLUMNS, box_rows["validation"])
    write("train-annotations-human-imagelabels-boxable.csv",
          ["ImageID", "Source", "LabelName", "Confidence"], label_rows)
    with open(OUT / "bbox_labels_600_hierarchy.json", "w", encoding="utf-8") as f:
        json.dump(HIERARCHY, f, indent=1)
        f.write("\n")
    counts = {name: sum(r[2] == mid for s in box_rows.values() for r in s)
              for mid, name in PRODUCTS.values()}
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{SCENES} scenes, boxes per class {counts}, {size / 1024:.0f} KB in {OUT}")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
