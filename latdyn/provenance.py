"""What ``summary.json`` records for reproducibility: versions, inputs, timings."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PACKAGES = ("latdyn", "numpy", "scipy", "ase", "spglib", "seekpath", "phonopy", "phono3py",
             "symfc", "h5py", "torch", "sevenn", "chgnet")


def package_versions() -> dict[str, str]:
    """Versions of the packages latdyn's results depend on (installed ones only)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


_COMMAND_LINE: list[str] = []

#: Environment variables that set thread counts of numerical libraries.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "NUMEXPR_NUM_THREADS")


def record_command_line(argv: list[str]) -> None:
    """Remember the command line of this run (the CLI calls this once)."""
    _COMMAND_LINE[:] = list(argv)


def run_record() -> dict:
    """What ``summary.json`` records about this process: command line, host and thread counts."""
    threads: dict = {"cpu_count": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        threads["available_cores"] = len(os.sched_getaffinity(0))
    threads.update({name: os.environ[name] for name in _THREAD_VARIABLES if name in os.environ})
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads["torch_intra_op"] = torch.get_num_threads()
        threads["torch_inter_op"] = torch.get_num_interop_threads()
    try:
        from threadpoolctl import threadpool_info

        threads["threadpools"] = {f"{pool['internal_api']}": pool["num_threads"]
                                  for pool in threadpool_info()}
    except ImportError:
        pass
    return {"command_line": list(_COMMAND_LINE) or list(sys.argv), "host": platform.node(),
            "threads": threads}


#: Where :class:`StageTimer` announces its stages.
STAGE_LOGGER = logging.getLogger("latdyn.stages")


class StageTimer:
    """Wall time per named stage, in insertion order.

    A stage given a ``note`` (what it does and how much: atoms, steps, q-points) logs it at
    INFO on the ``latdyn.stages`` logger when it starts; the CLI prints those records as plain
    lines on stderr (a terminal or a log file alike), so a long stage is never silent.
    """

    def __init__(self, command: str = "latdyn"):
        self.seconds: dict[str, float] = {}
        self.command = command

    @contextmanager
    def stage(self, name: str, note: str | None = None) -> Iterator[None]:
        if note:
            STAGE_LOGGER.info("%s: %s: %s", self.command, name, note)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
