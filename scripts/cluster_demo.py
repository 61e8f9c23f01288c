"""Embed the bundled sample on a Dask cluster: a runnable example of the set-up.

    scripts/cluster-demo                          # a LocalCluster of 2 worker processes
    scripts/cluster-demo --scheduler tcp://10.0.0.5:8786   # a running cluster

On a real cluster, start the scheduler and the workers first (same Python
packages everywhere: ``pip install orange3-imagelab[cluster]``)::

    dask scheduler                                 # prints tcp://10.0.0.5:8786
    dask worker tcp://10.0.0.5:8786 --nthreads 1 --nworkers 4

and keep the images where every worker can read them at the same path (a
shared file system, or file:// / http(s) URLs). The demo embeds the bundled
fashion sample (200 images) through the cluster with a fresh cache, compares
the vectors with a run on this computer, and runs again to show that the
second run sends nothing (the vectors were cached here).
"""
import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler "
                                            "(default: start a LocalCluster here)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the LocalCluster (default 2)")
    args = parser.parse_args()
    # a fresh cache, so that the first run really computes on the cluster
    os.environ["ORANGE_IMAGELAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="imagelab-demo-")

    from distributed import Client, LocalCluster
    from orangecontrib.imagelab import embed_images, import_images
    from orangecontrib.imagelab.widgets.utils.preview import sample_path

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler, timeout=10)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    workers = client.nthreads()
    print(f"Scheduler {client.scheduler.address}: {len(workers)} workers, "
          f"{sum(workers.values())} threads")
    print("For a real cluster: `dask scheduler` on one machine, "
          f"`dask worker {client.scheduler.address} --nthreads 1` on the others.\n")

    images = import_images(sample_path("fashion/labelled")).data
    last = [0.0]

    def progress(fraction):
        if fraction - last[0] >= 0.25 or (fraction >= 1 > last[0]):
            last[0] = fraction
            print(f"  {100 * fraction:3.0f} %", flush=True)

    try:
        for run in ("first run (computed on the workers)", "second run (cache hits)"):
            start = time.perf_counter()
            result = embed_images(images, client=client, callback=progress)
            seconds = time.perf_counter() - start
            print(f"{run}: {len(result.data)} of {len(images)} images in {seconds:.1f} s, "
                  f"{result.cached} from this computer's cache, {result.n_skipped} skipped")
            last[0] = 0.0
        here = embed_images(images, use_cache=False)
        difference = abs(here.data.X - result.data.X).max()
        print(f"largest difference from a run on this computer: {difference:.2g}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":  # the LocalCluster's worker processes import this module
    main()
