"""Dask clusters for the widgets: what a scheduler has, and the errors to show.

    >>> from orangecontrib.imagelab.api.cluster import cluster_info
    >>> cluster_info("tcp://10.0.0.5:8786")                    # doctest: +SKIP
    ClusterInfo(address='tcp://10.0.0.5:8786', workers=4, threads=32)

The scripting functions take ``client=`` / ``scheduler=`` themselves
(``embed_images``, ``detect_labels``, ``filter_by_label``, ``find_issues``);
this module is what Image Embedding's "Compute on" asks before a run.
"""
from dataclasses import dataclass

from orangecontrib.imagelab.core.errors import ClusterError
from orangecontrib.imagelab.core.executors import (
    CONNECT_TIMEOUT, INSTALL_HINT, DaskExecutor, check_scheduler)

__all__ = ["ClusterInfo", "ClusterError", "cluster_info", "check_scheduler",
           "CONNECT_TIMEOUT", "INSTALL_HINT"]


@dataclass(frozen=True)
class ClusterInfo:
    """A scheduler's address and its workers (processes) and their threads."""
    address: str
    workers: int
    threads: int

    def __str__(self) -> str:
        return (f"{self.workers:,} worker{'s' * (self.workers != 1)}, "
                f"{self.threads:,} thread{'s' * (self.threads != 1)}")


def cluster_info(scheduler: str, *, timeout: float = CONNECT_TIMEOUT) -> ClusterInfo:
    """Connect to ``scheduler`` (an address) within ``timeout`` seconds and
    count its workers; raises ``ClusterError`` saying what is wrong (no
    Dask installed, nobody answering), ``ValueError`` for a malformed address."""
    scheduler = check_scheduler(scheduler)
    if scheduler == "local":
        raise ValueError("scheduler must be the address of a running Dask scheduler, "
                         "e.g. 'tcp://10.0.0.5:8786', not 'local'")
    executor = DaskExecutor.open(scheduler=scheduler, timeout=timeout, min_workers=0)
    try:
        threads = executor.nthreads()
        return ClusterInfo(executor.address, len(threads), sum(threads.values()))
    finally:
        executor.shutdown(wait=True)
