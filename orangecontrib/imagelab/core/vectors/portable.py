"""Run an Image Lab classifier (.onnx) anywhere, with onnxruntime, numpy and Pillow alone.

This file imports nothing from Image Lab or Orange: copy it next to a model
exported by Save Image Classifier (or ``export_onnx``) and run

    python portable.py classifier.onnx photo1.jpg photo2.png ...

which prints one JSON line per image: {"image", "class", "probabilities"}
(or {"image", "error"}). From Python: ``classify("classifier.onnx", paths)``.

``load_image`` is *the* pre-processing of Image Lab's classifiers: the Orange
model decodes its images with this same code (``decode``/``finish``, after
Image Lab's checks for truncated files and decompression bombs), so the file
gives the probabilities the Orange model gives, to float rounding. The steps,
also written into each model's metadata:

1. Pillow opens the file; a JPEG is decoded in draft mode at the smallest
   scale that keeps both sides at least the model's input size;
2. the EXIF orientation is applied (``ImageOps.exif_transpose``);
3. the image becomes 8-bit RGB: 16-bit grey is scaled by 255/65535, 32-bit
   integer grey by 255/its maximum, float grey stretched to its range,
   transparency composited over white, everything else ``convert("RGB")``;
4. it is resized to the model's input (width = height = ``input_size`` in
   the metadata) with Pillow's bilinear filter, ignoring the aspect ratio;
5. the (n, size, size, 3) uint8 batch goes into the graph's input ``image``;
   scaling and channel order are inside the graph.

The graph's output ``probabilities`` (n, classes) follows the order of the
metadata's ``classes`` (a JSON list).
"""
import io
import json
import sys

import numpy as np
from PIL import Image, ImageOps

__all__ = ["load_image", "decode", "finish", "read_metadata", "classify"]


def _to_rgb(image, background=(255, 255, 255)):
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


def load_image(source, size: int) -> np.ndarray:
    """A file path, file object or bytes -> (size, size, 3) uint8 RGB array."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    image = Image.open(source)
    try:
        return decode(image, size)
    finally:
        image.close()


def decode(image, size: int) -> np.ndarray:
    """An opened, not yet decoded Pillow image -> (size, size, 3) uint8 RGB array."""
    if image.format == "JPEG":
        image.draft("RGB", (size, size))
    image.load()
    return finish(image, size)


def finish(image, size: int) -> np.ndarray:
    """A decoded Pillow image -> EXIF-oriented, RGB, resized (size, size, 3) uint8."""
    try:
        oriented = ImageOps.exif_transpose(image)
    except (ValueError, TypeError, OSError, SyntaxError):
        oriented = image  # a broken EXIF block should not lose the image
    rgb = _to_rgb(oriented).resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def read_metadata(session) -> dict:
    """The model's metadata as a dict of strings (``classes`` etc.)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def classify(model_path, paths, batch_size: int = 16):
    """-> (classes, probabilities (n, k) float32 with NaN rows, errors {index: text})."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    meta = read_metadata(session)
    classes = json.loads(meta["classes"])
    size = int(meta["input_size"])
    probabilities = np.full((len(paths), len(classes)), np.nan, dtype=np.float32)
    errors = {}
    for start in range(0, len(paths), batch_size):
        rows, pixels = [], []
        for row in range(start, min(start + batch_size, len(paths))):
            try:
                pixels.append(load_image(paths[row], size))
                rows.append(row)
            except Exception as err:  # pylint: disable=broad-except
                errors[row] = f"{type(err).__name__}: {err}"
        if rows:
            (probs,) = session.run(["probabilities"], {"image": np.stack(pixels)})
            probabilities[rows] = probs
    return classes, probabilities, errors


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python portable.py MODEL.onnx IMAGE [IMAGE ...]", file=sys.stderr)
        return 2
    classes, probabilities, errors = classify(argv[0], argv[1:])
    for row, path in enumerate(argv[1:]):
        if row in errors:
            print(json.dumps({"image": path, "error": errors[row]}))
        else:
            probs = probabilities[row]
            print(json.dumps({"image": path, "class": classes[int(np.argmax(probs))],
                              "probabilities": [float(p) for p in probs]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
