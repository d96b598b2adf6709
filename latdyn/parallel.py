"""Dask plumbing shared by ``latdyn screen`` and the distributed κ step: cores, clients.

Low level on purpose: it imports nothing of latdyn but its errors, so a workflow and an app can
both use it without importing each other.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from latdyn.errors import InputError

#: Environment variables that limit the threads of a worker process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int) -> int:
    """The default split: ``cores // workers``, at least 1."""
    return max(1, available_cores() // workers)


def connect(address: str):
    """A ``dask.distributed.Client`` for the scheduler at ``address``."""
    try:
        from distributed import Client
    except ImportError:
        raise InputError(
            "--scheduler needs dask.distributed; install it with `pip install latdyn[dask]`"
        ) from None
    try:
        return Client(address, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            f"cannot connect to the Dask scheduler at {address} ({exc}); check the address"
        ) from None


def local_client(workers: int, threads: int):
    """A ``dask.distributed`` client of a local cluster: ``workers`` processes, ``threads``
    threads each."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(
            "distributing κ needs dask.distributed; install it with `pip install latdyn[dask]`"
        ) from None
    environment = {name: str(threads) for name in
                   ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, env=environment)
    return Client(cluster, set_as_default=False)


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[tuple[object, int]]:
    """``(client, threads per task)``: the scheduler at ``scheduler`` (1 thread a task), else a
    local cluster of ``workers`` processes sharing the cores; closed (with a local cluster) on
    exit."""
    if scheduler is not None:
        client, threads = connect(scheduler), 1
    else:
        threads = threads_per_worker(workers)
        client = local_client(workers, threads)
    try:
        yield client, threads
    finally:
        cluster = client.cluster if scheduler is None else None
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class ParallelSettings:
    """Sharing a step among Dask workers.

    Attributes
    ----------
    workers
        Local Dask worker processes; ``1``: one process (unless ``scheduler`` is given).
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``) whose workers share the step.
    """

    workers: int = 1
    scheduler: str | None = None

    def __post_init__(self):
        if self.workers < 1:
            raise InputError(f"the number of κ workers must be >= 1, got {self.workers}")

    @property
    def distributed(self) -> bool:
        """Whether the step is shared among Dask workers."""
        return self.workers > 1 or self.scheduler is not None
