"""κ of one compound with its irreducible q-points shared among Dask workers.

The three-phonon linewidths of each irreducible grid point are independent, and they are where
the κ step spends its time. phono3py writes them per grid point (``write_gamma``) and assembles κ
from such files (``read_gamma``): each worker computes the linewidths of a share of the grid
points and sends back phono3py's files; the parent puts them in a scratch folder and lets
phono3py assemble κ as a single run would. The linewidths are the same numbers a single run
computes, so κ is identical; only the RTA and Wigner solutions are split this way (LBTE needs
the full collision matrix).

Workers are a local ``dask.distributed`` cluster of ``workers`` processes with
``threads`` threads each, or the workers of an existing scheduler (``latdyn screen
--scheduler``'s engine).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from phono3py import Phono3py

from latdyn.errors import InputError
from latdyn.kappa.conductivity import (
    Kappa,
    KappaSettings,
    kappa_result,
    prepare_interaction,
    run_conductivity,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KappaTask:
    """What a worker needs to compute the linewidths of some grid points (picklable).

    Attributes
    ----------
    unitcell
        phono3py's unit cell (``PhonopyAtoms``).
    supercell_matrix, phonon_supercell_matrix, primitive_matrix
        phono3py's FC3 and FC2 supercell matrices and primitive matrix.
    symprec
        Symmetry tolerance (Å).
    fc2, fc3
        Force constants as ``ph3`` holds them (compact or full).
    nac_params
        Non-analytic correction parameters or ``None``.
    settings
        The κ settings.
    threads
        Threads of phono3py's solver in the worker.
    """

    unitcell: object
    supercell_matrix: np.ndarray
    phonon_supercell_matrix: np.ndarray
    primitive_matrix: np.ndarray | None
    symprec: float
    fc2: np.ndarray
    fc3: np.ndarray
    nac_params: dict | None
    settings: KappaSettings
    threads: int


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    """phono3py reads and writes its per-grid-point files in the current directory."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _task_of(ph3: Phono3py, settings: KappaSettings, threads: int) -> KappaTask:
    return KappaTask(
        unitcell=ph3.unitcell.copy(),
        supercell_matrix=np.array(ph3.supercell_matrix),
        phonon_supercell_matrix=np.array(ph3.phonon_supercell_matrix),
        primitive_matrix=None if ph3.primitive_matrix is None else np.array(ph3.primitive_matrix),
        symprec=float(ph3.symmetry.tolerance),
        fc2=np.array(ph3.fc2),
        fc3=np.array(ph3.fc3),
        nac_params=ph3.nac_params,
        settings=settings,
        threads=threads,
    )


def linewidth_files(task: KappaTask, grid_points: np.ndarray) -> dict[str, bytes]:
    """Run phono3py on ``grid_points`` only and return its per-grid-point files (name ->
    content). Runs in a worker."""
    # phono3py's Rust solver sizes its thread pool on first use in this process
    os.environ.setdefault("RAYON_NUM_THREADS", str(task.threads))
    import torch

    torch.set_num_threads(task.threads)
    ph3 = Phono3py(task.unitcell, supercell_matrix=task.supercell_matrix,
                   phonon_supercell_matrix=task.phonon_supercell_matrix,
                   primitive_matrix=task.primitive_matrix, symprec=task.symprec)
    ph3.fc2 = task.fc2
    ph3.fc3 = task.fc3
    if task.nac_params is not None:
        ph3.nac_params = task.nac_params
    prepare_interaction(ph3, task.settings)
    with tempfile.TemporaryDirectory(prefix="latdyn-gamma-") as folder:
        with _working_directory(Path(folder)):
            run_conductivity(ph3, task.settings, grid_points=np.asarray(grid_points),
                             write_gamma=True)
        return {path.name: path.read_bytes() for path in Path(folder).glob("kappa-*.hdf5")}


def irreducible_grid_points(ph3: Phono3py) -> np.ndarray:
    """The irreducible grid points (BZ-grid indices) phono3py's RTA computes, after
    :func:`~latdyn.kappa.conductivity.prepare_interaction`."""
    from phonopy.phonon.grid import get_ir_grid_points

    ir_points, _, _ = get_ir_grid_points(ph3.grid)
    return np.array(ph3.grid.grg2bzg[ir_points], dtype="int64")


def run_kappa_distributed(
    ph3: Phono3py, settings: KappaSettings, client, n_chunks: int | None = None,
    threads: int = 1,
) -> Kappa:
    """κ of ``ph3`` (with FC2 and FC3) like :func:`~latdyn.kappa.conductivity.run_kappa`, the
    grid points split into ``n_chunks`` shares (default: two per worker of ``client``).

    Raises
    ------
    InputError
        ``settings.method`` is ``lbte``, or ``ph3`` lacks force constants.
    """
    from distributed import as_completed

    if settings.method == "lbte":
        raise InputError("LBTE cannot be split over grid points; use rta or wigner, or one "
                         "process")
    start = time.perf_counter()
    prepare_interaction(ph3, settings)
    grid_points = irreducible_grid_points(ph3)
    if n_chunks is None:
        n_chunks = 2 * max(1, len(client.scheduler_info().get("workers", {})))
    n_chunks = max(1, min(n_chunks, len(grid_points)))
    # interleaved shares: neighbouring grid points cost about the same
    chunks = [grid_points[i::n_chunks] for i in range(n_chunks)]
    logger.info("κ: %d grid points in %d shares", len(grid_points), n_chunks)
    task = client.scatter(_task_of(ph3, settings, threads), broadcast=True)
    futures = [client.submit(linewidth_files, task, chunk, pure=False) for chunk in chunks]
    files: dict[str, bytes] = {}
    try:
        for future in as_completed(futures, loop=client.loop):
            files.update(future.result())
    finally:
        client.cancel(futures)
    with tempfile.TemporaryDirectory(prefix="latdyn-kappa-") as folder:
        for name, content in files.items():
            (Path(folder) / name).write_bytes(content)
        with _working_directory(Path(folder)):
            conductivity, _ = run_conductivity(ph3, settings, read_gamma=True)
    return kappa_result(ph3, conductivity, settings, start)
