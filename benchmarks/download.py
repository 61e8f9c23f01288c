"""Download speed: ``download_urls`` against the seed recipe, side by side.

    .venv/bin/python benchmarks/download.py [--n 2000] [--kb 100] [--latency 0.02]

Makes N noisy JPEGs of about KB kilobytes once (benchmarks/_work/download/),
serves them from a local HTTP server in its own process (tests/httpserver.py,
threaded, adding LATENCY seconds before every answer, like a far server),
and downloads all of them, each side in a fresh process and a fresh folder:

  ours   core.io.download.download_urls: 16 threads from core.executors
         over one pooled httpx client (keep-alive), every file written to a
         .part and linked into place after an image check
  seed   the recipe the issue names: multiprocessing.Pool().map of a
         function that does requests.get(url) and writes the body (one
         worker process per core, a new connection per request)

Prints seconds, images/s and MB/s of each, the ratio of throughputs
(target: ours >= 2x), and each side's peak memory (RSS of the process and
its workers; target: ours < 300 MB).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work" / "download"

SERVER = """
import sys
sys.path.insert(0, {root!r})
from tests.httpserver import serve_forever_in_process
serve_forever_in_process({folder!r}, {port_file!r}, latency={latency!r})
"""

OURS = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from orangecontrib.imagelab.core.io.download import download_urls
urls = open({url_file!r}).read().split()
start = time.perf_counter()
report = download_urls(urls, {target!r}, threads={threads!r})
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": seconds, "ok": report.count("downloaded"),
                  "failed": len(report.failed), "peak": peak}}))
"""

SEED = """
import json, multiprocessing, os, resource, sys, time
import requests

TARGET = {target!r}

def fetch(url):
    response = requests.get(url)
    with open(os.path.join(TARGET, url.rsplit("/", 1)[-1]), "wb") as f:
        f.write(response.content)
    return response.status_code == 200

if __name__ == "__main__":
    urls = open({url_file!r}).read().split()
    start = time.perf_counter()
    with multiprocessing.Pool() as pool:
        ok = sum(pool.map(fetch, urls))
    seconds = time.perf_counter() - start
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({{"seconds": seconds, "ok": ok, "failed": len(urls) - ok,
                      "peak": self_peak + workers * os.cpu_count(),
                      "processes": 1 + os.cpu_count()}}))
"""


def make_images(n: int, kb: int) -> Path:
    import io

    import numpy as np
    from PIL import Image

    folder = WORK / f"src_{n}_{kb}kb"
    stamp = folder / ".complete"
    if stamp.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    side = 64
    while True:  # the size of noisy JPEG that weighs about `kb`
        buffer = io.BytesIO()
        pixels = rng.integers(0, 255, (side * 3 // 4, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, "JPEG", quality=75)
        if buffer.tell() >= kb * 1024 or side > 4000:
            break
        side = int(side * 1.15)
    for i in range(n):
        pixels = rng.integers(0, 255, (side * 3 // 4, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:05d}.jpg", "JPEG", quality=75)
    stamp.write_text("ok")
    return folder


def run_side(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="images (default 2000)")
    parser.add_argument("--kb", type=int, default=100, help="size of each (default 100 KB)")
    parser.add_argument("--latency", type=float, default=0.02,
                        help="seconds the server waits before each answer (default 0.02)")
    parser.add_argument("--threads", type=int, default=16, help="our threads (default 16)")
    args = parser.parse_args()

    source = make_images(args.n, args.kb)
    total_bytes = sum(p.stat().st_size for p in source.glob("*.jpg"))
    port_file = WORK / "port"
    port_file.unlink(missing_ok=True)
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(
        root=str(ROOT), folder=str(source), port_file=str(port_file),
        latency=args.latency)])
    try:
        while not port_file.exists():
            if server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        port = int(port_file.read_text())
        url_file = WORK / "urls.txt"
        url_file.write_text("\n".join(f"http://127.0.0.1:{port}/img/{p.name}"
                                      for p in sorted(source.glob("*.jpg"))))
        results = {}
        for name, code in (("seed", SEED), ("ours", OURS)):
            target = WORK / f"into_{name}"
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            results[name] = run_side(code.format(root=str(ROOT), url_file=str(url_file),
                                                 target=str(target), threads=args.threads))
            shutil.rmtree(target, ignore_errors=True)
    finally:
        server.kill()
        server.wait()

    print(f"{args.n:,} JPEGs of {total_bytes / args.n / 1024:,.0f} KB "
          f"({total_bytes / 1e6:,.0f} MB) from a local server adding "
          f"{args.latency * 1000:.0f} ms per request; {os.cpu_count()} cores")
    for name, label in (("seed", "seed: Pool().map(requests.get)"),
                        ("ours", f"ours: download_urls, {args.threads} threads")):
        r = results[name]
        print(f"  {label:<40} {r['seconds']:7.2f} s  {args.n / r['seconds']:7.1f} images/s  "
              f"{total_bytes / r['seconds'] / 1e6:6.1f} MB/s  peak {r['peak'] / 1e6:5.0f} MB"
              f"  ({r['ok']:,} ok, {r['failed']:,} failed)")
    ratio = results["seed"]["seconds"] / results["ours"]["seconds"]
    print(f"throughput ratio ours/seed: {ratio:.2f}x (target >= 2x); "
          f"our peak memory {results['ours']['peak'] / 1e6:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
