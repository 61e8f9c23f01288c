"""Screenshot of Image Issues on the bundled Fashion-MNIST sample with planted problems.

    .venv/bin/python doc/screenshots/imageissues.py

Plants into a temporary copy of the sample: an exact copy, a resized copy,
a darkened and a blurred photo and two photos in the wrong class folder.
"""
import shutil
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

from _shot import SAMPLE, application, save, wait_for_task


def plant(root: Path) -> None:
    shutil.copytree(SAMPLE / "fashion" / "labelled", root, dirs_exist_ok=True)
    shutil.copyfile(root / "Bag" / "Bag-000.png", root / "Bag" / "Bag-000 copy.png")
    with Image.open(root / "Dress" / "Dress-001.png") as image:
        image.resize((84, 84)).save(root / "Dress" / "Dress-001 small.jpg", quality=60)
    with Image.open(root / "Sneaker" / "Sneaker-002.png") as image:
        image.point(lambda v: v * 0.15).save(root / "Sneaker" / "Sneaker-002.png")
    with Image.open(root / "Trouser" / "Trouser-003.png") as image:
        image.filter(ImageFilter.GaussianBlur(4)).save(root / "Trouser" / "Trouser-003.png")
    shutil.move(root / "T-shirt" / "T-shirt-004.png", root / "Bag" / "T-shirt-004.png")
    shutil.move(root / "Trouser" / "Trouser-005.png", root / "Dress" / "Trouser-005.png")


def main():
    from orangecontrib.imagelab import embed_images, import_images
    from orangecontrib.imagelab.widgets.owimageissues import OWImageIssues

    application()
    root = Path(tempfile.mkdtemp(prefix="imageissues-shot-"))
    try:
        plant(root / "photos")
        data = embed_images(import_images(root / "photos").data).data
        widget = OWImageIssues()
        widget.ignored_issues = ["grayscale"]      # Fashion-MNIST photos are grey
        widget.set_data(data)
        widget.handleNewSignals()
        wait_for_task(widget)
        widget.resize(440, 870)
        widget.show()
        out = save(widget, "imageissues", fit=False)
        print(f"saved {out}: {widget.status_label.text()}")
        print(widget.report_result.counts)
        widget.onDeleteWidget()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
