"""Labels for N images vs embedding them: the logits come from the same, cached pass.

    .venv/bin/python benchmarks/labels.py [--n 1000] [--no-peer]

On N distinct JPEGs (640×480, crops of scikit-image's photos with noise, so no
two files share a content hash) prints, each with a fresh cache unless said:

- embed (features), cold cache
- detect_labels right after that embedding (logits from the cache)
- detect_labels, cold cache (decode + model + top-k), and its ratio to embed
- filter_by_label("cat", review band) after detect_labels (cache)
- the peer (orange3-imageanalytics 0.13.0, local SqueezeNet embedding of the
  same files; it has no labelling) and our cold labelling / its embedding.
"""
import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ORANGE_IMAGELAB_DATA_DIR", str(WORK / "labels-data"))

PEER_CODE = """
import json, sys, time
from AnyQt.QtCore import QCoreApplication
app = QCoreApplication([])
from orangecontrib.imageanalytics.image_embedder import ImageEmbedder
paths = open(sys.argv[1]).read().split("\\n")
t = time.perf_counter()
with ImageEmbedder(model="squeezenet") as emb:
    vectors = emb(paths)
print(json.dumps({"time": time.perf_counter() - t,
                  "ok": sum(v is not None for v in vectors)}))
"""


def make_images(n: int) -> list:
    """benchmarks/_work/labels-<n>/img_<i>.jpg: distinct crops of real photos."""
    import numpy as np
    from PIL import Image
    from tests.images import skimage_sample

    folder = WORK / f"labels-{n}"
    stamp = folder / ".complete"
    paths = [str(folder / f"img_{i:05d}.jpg") for i in range(n)]
    if stamp.exists():
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    sources = [Image.open(skimage_sample(name)).convert("RGB") for name in
               ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg",
                "motorcycle_left.png", "horse.png")]
    rng = np.random.default_rng(0)
    for i, path in enumerate(paths):
        image = sources[i % len(sources)]
        w, h = image.size
        cw, ch = int(w * rng.uniform(0.7, 1)), int(h * rng.uniform(0.7, 1))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        crop = np.asarray(image.crop((x, y, x + cw, y + ch)).resize((640, 480)), dtype=np.int16)
        crop = np.clip(crop + rng.integers(-6, 7, crop.shape), 0, 255).astype(np.uint8)
        Image.fromarray(crop).save(path, "JPEG", quality=85)
    stamp.write_text("ok\n")
    return paths


def fresh_cache(name: str) -> None:
    folder = WORK / f"labels-cache-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    os.environ["ORANGE_IMAGELAB_CACHE_DIR"] = str(folder)


def timed(label, fn):
    t = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - t
    return elapsed, value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()

    from orangecontrib.imagelab import detect_labels, filter_by_label, tables
    from orangecontrib.imagelab.core.vectors.embedding import embed_locations
    from orangecontrib.imagelab.core.models import get_model

    paths = make_images(args.n)
    table = tables.table_from_columns([(tables.image_variable("image"), paths)])
    get_model("efficientnet-lite0").session()   # build the ONNX file before timing
    print(f"{args.n:,} distinct JPEGs 640x480, efficientnet-lite0, "
          f"{len(os.sched_getaffinity(0))} cores")

    fresh_cache("a")
    t_embed, emb = timed("embed", lambda: embed_locations(paths, output="features"))
    print(f"embed (features), cold cache:          {t_embed:7.2f} s  "
          f"({args.n / t_embed:.0f} images/s, {int(emb.ok.sum())} ok)")
    t_after, _ = timed("labels", lambda: detect_labels(table))
    print(f"detect_labels after embedding (cache): {t_after:7.2f} s")

    fresh_cache("b")
    t_cold, labelled = timed("labels", lambda: detect_labels(table))
    print(f"detect_labels, cold cache:             {t_cold:7.2f} s  "
          f"({args.n / t_cold:.0f} images/s); labels / embed = {t_cold / t_embed:.2f}")
    t_filter, result = timed("filter", lambda: filter_by_label(labelled, "cat",
                                                               review_min=0.2))
    counts = result.counts
    print(f"filter_by_label('cat') after (cache):  {t_filter:7.2f} s  "
          f"(matched {counts['matched']}, review {counts['review']}, "
          f"rejected {counts['rejected']})")

    if not args.no_peer:
        from benchmarks._peer import run_in_peer
        list_file = WORK / f"labels-{args.n}.txt"
        list_file.write_text("\n".join(paths))
        peer = run_in_peer(PEER_CODE, str(list_file))
        print(f"peer: local SqueezeNet embedding:      {peer['time']:7.2f} s  "
              f"({peer['ok']} ok; the peer has no labels)")
        print(f"ratio ours labels (cold) / peer embed: {t_cold / peer['time']:.3f}")


if __name__ == "__main__":
    main()
