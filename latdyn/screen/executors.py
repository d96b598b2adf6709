"""Where materials run: a local pool or a Dask cluster, each material in a killable child process.

Both executors run :func:`run_isolated` for each job and yield the records (plain dicts) as they
finish; the caller, in the parent process, is the only one that writes the store.

- :func:`run_local`: ``concurrent.futures.ThreadPoolExecutor`` with ``workers`` threads, each
  waiting on one child process at a time (the threads only wait; the work is in the children).
- :func:`run_dask`: ``dask.distributed`` futures on the scheduler at ``address``; each Dask worker
  thread starts the child process on its own host.

Thread split: each child gets ``OMP_NUM_THREADS`` (and the MKL/OpenBLAS equivalents) set to
``threads`` in its environment before Python starts, and calls ``torch.set_num_threads(threads)``
once a torch model is loaded; locally ``threads = cores // workers`` by default.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from latdyn.parallel import THREAD_VARIABLES
from latdyn.screen.tasks import MaterialJob, base_record

logger = logging.getLogger(__name__)

#: Characters of a crashed child's output kept in its error message.
LOG_TAIL = 2000


#: Child processes running in this process's threads (killed when a local screen stops).
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _child_environment(threads: int) -> dict:
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def finished_record(job: MaterialJob, status: str, started: float, error: str | None = None,
                    pid: int | None = None) -> dict:
    """A record for a material that ended without results (timeout, crash, lost worker)."""
    finished = time.time()
    return {**base_record(job), "status": status, "error": error, "started_at": started,
            "finished_at": finished, "seconds": finished - started,
            "host": socket.gethostname(), "pid": pid}


def run_isolated(job: MaterialJob, timeout: float | None = None) -> dict:
    """Compute ``job`` in a child process, killed after ``timeout`` seconds; return its record.

    Never raises for a problem of the material: a timeout gives ``status: timeout``, a crashed
    child ``status: failed`` with the end of its output.
    """
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="latdyn-screen-") as tmp:
        job_path, result_path, log_path = (Path(tmp) / n for n in ("job.pkl", "result.json",
                                                                    "log.txt"))
        with open(job_path, "wb") as handle:
            pickle.dump(job, handle)
        with open(log_path, "wb") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", "latdyn.screen.worker", str(job_path), str(result_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=_child_environment(job.threads),
            )
            with _RUNNING_LOCK:
                _RUNNING.add(child)
            try:
                code = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                return finished_record(job, "timeout", started,
                                       f"exceeded the time limit of {timeout:g} s", child.pid)
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(child)
        if code != 0 or not result_path.exists():
            tail = log_path.read_text(errors="replace")[-LOG_TAIL:].strip()
            return finished_record(job, "failed", started,
                                   f"worker process exited with status {code}: {tail}",
                                   child.pid)
        record = json.loads(result_path.read_text())
    finished = time.time()
    record.update(started_at=started, finished_at=finished, seconds=finished - started,
                  host=socket.gethostname(), pid=child.pid)
    return record


def run_local(jobs: Iterable[MaterialJob], workers: int,
              timeout: float | None) -> Iterator[dict]:
    """Run ``jobs`` on ``workers`` local child processes at a time; yield records as they end."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="latdyn-screen")
    futures = {pool.submit(run_isolated, job, timeout): job for job in jobs}
    try:
        for future in as_completed(futures):
            yield _result_or_failure(future, futures[future])
    finally:  # stopped early (Ctrl-C, an error in the caller): stop the running materials
        pool.shutdown(wait=False, cancel_futures=True)
        with _RUNNING_LOCK:
            for child in _RUNNING:
                child.kill()


def run_dask(jobs: Iterable[MaterialJob], client, timeout: float | None) -> Iterator[dict]:
    """Run ``jobs`` as Dask futures through ``client``; yield records as they end."""
    from distributed import as_completed

    futures = {}
    for job in jobs:
        future = client.submit(run_isolated, job, timeout, pure=False,
                               key=f"latdyn-screen-{job.id}-{time.time_ns()}")
        futures[future.key] = (future, job)
    try:
        for future in as_completed([f for f, _ in futures.values()], loop=client.loop):
            yield _result_or_failure(future, futures[future.key][1])
    finally:
        client.cancel([f for f, _ in futures.values()])


def _result_or_failure(future, job: MaterialJob) -> dict:
    """The future's record, or a failed record if the executor itself failed (lost worker)."""
    try:
        return future.result()
    except Exception as exc:  # the executor failed, not the material: record and go on
        logger.debug("executor failed on %s", job.id, exc_info=True)
        return finished_record(job, "failed", time.time(),
                               f"executor error: {type(exc).__name__}: {exc}")
