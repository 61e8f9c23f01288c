"""Image Classifier: accuracy and speed against Image Embedding + Logistic Regression.

    .venv/bin/python benchmarks/classifier.py [--size 2000] [--folds 5] [--copies 4]
                                              [--datasets fashion,digits]

Two real data sets, each measured in the same run and on the same folds:

- ``fashion``: the bundled Fashion-MNIST sample (200 photos, 5 classes, MIT);
- ``digits``: scikit-learn's handwritten digits (``sklearn.datasets.load_digits``:
  1,797 scans of 8×8 pixels, 10 classes, from the UCI "Optical Recognition of
  Handwritten Digits" set, CC BY 4.0), installed with scikit-learn (BSD-3)
  and written here as grey PNG files, dark ink on white. Not bundled.

For each (``--size`` caps the number of images), with a fresh cache:

1. the baseline, Image Embedding + Orange's Logistic Regression: the embedding
   throughput (cold cache, images/s), and the fit time with a warm cache
   (embedding read back from the cache + the fit);
2. Image Classifier without augmentation: the fit time with a warm cache, as a
   ratio to the baseline's (target < 1.10), and per 1,000 images;
3. Image Classifier with ``--copies`` augmented copies per training image: the
   fit time with cold copies (what augmentation costs) and warm;
4. 5-fold cross-validation (stratified, the same folds for all): accuracy and
   AUC of the three; the first two should agree within noise;
5. the exported ONNX file classifying the images (decode + network + head,
   no cache) against the embedding's cold throughput (target >= 0.8).

The machine's load changes the times; the ratios are measured side by side.
BLAS runs on one thread for both sides (the head and Orange's Logistic
Regression alike): OpenBLAS's threads spin against the embedding workers and
made a 100-image fit take a minute on a busy 2-core machine.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "_work"
SAMPLE = ROOT / "orangecontrib" / "imagelab" / "sample" / "fashion" / "labelled"


def digits_folder(size: int) -> Path:
    """scikit-learn's digits as PNG files in class folders (written once)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    digits = load_digits()
    n = min(size, len(digits.target))
    folder = WORK / f"digits-{n}"
    if not folder.exists():
        temp = Path(tempfile.mkdtemp(dir=WORK))
        for i in range(n):
            pixels = (255 - digits.images[i] * 255 / 16).round().astype(np.uint8)
            target = temp / str(digits.target[i]) / f"digit-{i:04d}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, "L").save(target)
        temp.rename(folder)
    return folder


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def measure(name: str, folder: Path, size: int, folds: int, copies: int) -> dict:
    import numpy as np
    import Orange.evaluation
    from Orange.classification import LogisticRegressionLearner
    from orangecontrib.imagelab import (
        Augment, ImageClassifierLearner, classify_images, embed_images, export_onnx,
        import_images, tables)

    images = import_images(str(folder)).data
    if len(images) > size:  # a stratified subset: every k-th image
        images = images[np.linspace(0, len(images) - 1, size).round().astype(int)]
    n = len(images)
    print(f"\n## {name}: {n} images, {len(images.domain.class_var.values)} classes",
          flush=True)

    embedded, t_embed_cold = timed(lambda: embed_images(images).data)
    assert len(embedded) == n, "every image should embed"
    _, t_embed_warm = timed(lambda: embed_images(images).data)
    lr = LogisticRegressionLearner()
    _, t_lr = timed(lr, embedded)
    t_baseline = t_embed_warm + t_lr

    plain = ImageClassifierLearner()
    model, t_clf_cold = timed(plain, images)
    _, t_clf_warm = timed(plain, images)
    augmented = ImageClassifierLearner(augment=Augment(), copies=copies)
    _, t_aug_cold = timed(augmented, images)
    _, t_aug_warm = timed(augmented, images)

    cv = Orange.evaluation.CrossValidation(k=folds, stratified=True, random_state=0)
    base_results = cv(embedded, [lr])
    clf_results = cv(images, [plain, augmented])
    accuracy = [Orange.evaluation.CA(base_results)[0]] + list(Orange.evaluation.CA(clf_results))
    auc = [Orange.evaluation.AUC(base_results)[0]] + list(Orange.evaluation.AUC(clf_results))

    with tempfile.TemporaryDirectory() as temp:
        path = export_onnx(model, Path(temp) / "model.onnx")
        result, t_onnx = timed(classify_images, path, tables.image_locations(images))
    agree = float(np.mean(result.probabilities.argmax(1) == model(images)))

    per_k = 1000 / n
    rows = [
        ("Image Embedding + Logistic Regression", accuracy[0], auc[0], t_baseline * per_k,
         f"{t_embed_cold * per_k:.1f} (embedding)"),
        ("Image Classifier, no augmentation", accuracy[1], auc[1], t_clf_warm * per_k,
         f"{t_clf_cold * per_k:.1f}"),
        (f"Image Classifier, {copies} copies", accuracy[2], auc[2], t_aug_warm * per_k,
         f"{t_aug_cold * per_k:.1f} (copies not cached)"),
    ]
    print(f"\n| {name} ({n} images, {folds}-fold CV) | accuracy | AUC | "
          "fit s / 1,000 images, warm cache | cold |")
    print("|---|---|---|---|---|")
    for label, acc, area, warm, cold in rows:
        print(f"| {label} | {acc:.3f} | {area:.3f} | {warm:.2f} | {cold} |")
    ratio_fit = t_clf_warm / t_baseline
    throughput_embed = n / t_embed_cold
    throughput_onnx = n / t_onnx
    print(f"\n- warm-cache fit, Image Classifier / (Image Embedding + LR): "
          f"{t_clf_warm:.2f} s / {t_baseline:.2f} s = {ratio_fit:.2f} (target < 1.10); "
          f"the baseline is {t_embed_warm:.2f} s reading the cache + {t_lr:.2f} s "
          f"Orange's Logistic Regression (unscaled features, its own preprocessors)")
    print(f"- exported ONNX file: {throughput_onnx:.1f} images/s vs embedding "
          f"{throughput_embed:.1f} images/s = {throughput_onnx / throughput_embed:.2f} "
          f"(target >= 0.8); same class as the Orange model for {agree:.1%} of images")
    print(f"- augmentation, accuracy with {copies} copies - without: "
          f"{accuracy[2] - accuracy[1]:+.3f}", flush=True)
    return {"ratio_fit": ratio_fit, "ratio_onnx": throughput_onnx / throughput_embed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000,
                        help="images per data set at most (default: all)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--datasets", default="fashion,digits")
    args = parser.parse_args()
    if args.size < 20 or args.folds < 2 or args.copies < 1:
        parser.error("--size must be >= 20, --folds >= 2, --copies >= 1")
    WORK.mkdir(parents=True, exist_ok=True)
    cache = tempfile.mkdtemp(prefix="classifier-bench-")
    os.environ["ORANGE_IMAGELAB_CACHE_DIR"] = cache  # cold, and the user's cache untouched
    print(f"cores: {os.cpu_count()}; cache: {cache}")
    folders = {"fashion": lambda: SAMPLE, "digits": lambda: digits_folder(args.size)}
    from threadpoolctl import threadpool_limits
    for name in args.datasets.split(","):
        if name not in folders:
            parser.error(f"--datasets: unknown {name!r}; known: {', '.join(folders)}")
        with threadpool_limits(limits=1, user_api="blas"):
            measure(name, folders[name](), args.size, args.folds, args.copies)
    import shutil
    shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
