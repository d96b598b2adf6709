"""What ``summary.json`` records for reproducibility: versions, inputs, timings."""

from __future__ import annotations

import hashlib
import importlib.metadata
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
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class StageTimer:
    """Wall time per named stage, in insertion order.

    With ``report``, a stage given a ``note`` (what it does and how much: atoms, steps,
    q-points) prints it as one line on stderr when it starts, so a long stage is never silent.
    """

    def __init__(self, report: bool = False, command: str = "latdyn"):
        self.seconds: dict[str, float] = {}
        self.report = report
        self.command = command

    @contextmanager
    def stage(self, name: str, note: str | None = None) -> Iterator[None]:
        if self.report and note:
            print(f"{self.command}: {name}: {note}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
