"""Symmetry-constrained relaxation of positions and cell."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from latdyn.errors import InputError, ModelError, SymmetryChangedError
from latdyn.structure.symmetry import DEFAULT_SYMPREC, SymmetryInfo, get_symmetry

logger = logging.getLogger(__name__)

OPTIMIZERS = ("FIRE", "BFGS", "LBFGS")

#: Cells up to this many atoms are relaxed single-threaded (see :func:`_single_threaded`).
SMALL_CELL_ATOMS = 16


@contextlib.contextmanager
def _single_threaded(n_atoms: int):
    """One torch intra-op thread and one BLAS thread while a small cell is relaxed.

    A few-atom graph and the 3x3 matrix functions of ``FrechetCellFilter`` (SciPy's
    ``expm_frechet`` and ``logm``, nine per force call) gain nothing from threads, and on a busy
    CPU the threads wait for each other at every operation. On the shared 2-core machine a
    4-atom SevenNet evaluation measured 5.5 s with one torch thread against about 30 s with two,
    and 58 FIRE steps of wurtzite GaN with a Lennard-Jones calculator 33 s with one BLAS thread
    against 89 s with the default, where the filter's linear algebra took 72 of 83 s
    (``benchmarks/relax_speed.py``). BLAS threads are limited with ``threadpoolctl`` when it is
    installed (scikit-learn, a dependency of SevenNet, brings it).
    """
    if n_atoms > SMALL_CELL_ATOMS:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(1))
        except ImportError:
            pass
        torch = sys.modules.get("torch")
        if torch is not None:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            stack.callback(torch.set_num_threads, threads)
        yield


@dataclass(frozen=True)
class RelaxSettings:
    """How to relax.

    Attributes
    ----------
    fmax
        Force (eV/Å) and stress (eV/Å³ times the cell filter's scale) convergence threshold.
    max_steps
        Step limit of the optimizer.
    optimizer
        ``FIRE``, ``BFGS`` or ``LBFGS`` (ASE).
    relax_cell
        Relax the cell with ``FrechetCellFilter`` as well as the positions.
    fix_angles
        Keep the cell angles (mask the shear strains), as the κSRME protocol does.
    constant_volume
        Relax the cell shape at fixed volume (``FrechetCellFilter(constant_volume=True)``).
    fix_symmetry
        Constrain the space group with ASE's ``FixSymmetry``.
    symprec
        Symmetry tolerance (Å).
    allow_symmetry_change
        Do not stop if the space group changes.
    """

    fmax: float = 1e-4
    max_steps: int = 300
    optimizer: str = "FIRE"
    relax_cell: bool = True
    fix_angles: bool = False
    constant_volume: bool = False
    fix_symmetry: bool = True
    symprec: float = DEFAULT_SYMPREC
    allow_symmetry_change: bool = False

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.fmax <= 0:
            raise InputError(f"fmax must be positive, got {self.fmax}")
        if self.max_steps < 0:
            raise InputError(f"max_steps must be >= 0, got {self.max_steps}")


@dataclass(frozen=True)
class RelaxResult:
    """A relaxed structure.

    Attributes
    ----------
    atoms
        The relaxed structure (no calculator attached).
    symmetry_before, symmetry_after
        Space groups of the input and of the relaxed structure.
    converged
        Whether the largest force fell below ``fmax`` within ``max_steps``.
    n_steps
        Optimizer steps taken.
    max_force
        Largest residual atomic force (eV/Å).
    energy
        Potential energy of the relaxed structure (eV).
    seconds
        Wall time (s).
    """

    atoms: Atoms
    symmetry_before: SymmetryInfo
    symmetry_after: SymmetryInfo
    converged: bool
    n_steps: int
    max_force: float
    energy: float
    seconds: float

    @property
    def symmetry_changed(self) -> bool:
        return self.symmetry_before.number != self.symmetry_after.number


def relax_key(atoms: Atoms, identity: str, settings: RelaxSettings) -> str:
    """Cache key of relaxing ``atoms`` (exact content) with the model ``identity``."""
    digest = hashlib.sha256(identity.encode())
    digest.update(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (np.array(atoms.cell), atoms.positions):
        digest.update((np.ascontiguousarray(array, dtype=np.float64) + 0.0).tobytes())
    return digest.hexdigest()


def _symmetry_record(info: SymmetryInfo) -> dict:
    return asdict(info)


def _result_record(result: RelaxResult) -> dict:
    atoms = result.atoms
    return {
        "numbers": atoms.numbers.tolist(), "cell": np.array(atoms.cell).tolist(),
        "positions": atoms.positions.tolist(),
        "symmetry_before": _symmetry_record(result.symmetry_before),
        "symmetry_after": _symmetry_record(result.symmetry_after),
        "converged": result.converged, "n_steps": result.n_steps,
        "max_force": result.max_force, "energy": result.energy, "seconds": result.seconds,
    }


def _result_from_record(record: dict, atoms: Atoms) -> RelaxResult:
    relaxed = Atoms(numbers=record["numbers"], cell=record["cell"],
                    positions=record["positions"], pbc=True)
    if len(relaxed) != len(atoms) or not np.array_equal(relaxed.numbers, atoms.numbers):
        raise ValueError("the cached relaxation is of another structure")
    relaxed.set_masses(atoms.get_masses())
    relaxed.info = dict(atoms.info)
    return RelaxResult(
        atoms=relaxed, symmetry_before=SymmetryInfo(**record["symmetry_before"]),
        symmetry_after=SymmetryInfo(**record["symmetry_after"]),
        converged=bool(record["converged"]), n_steps=int(record["n_steps"]),
        max_force=float(record["max_force"]), energy=float(record["energy"]),
        seconds=float(record["seconds"]),
    )


def run_relax(atoms: Atoms, calculator: Calculator, settings: RelaxSettings,
              cache=None, identity: str | None = None) -> RelaxResult:
    """Relax ``atoms`` with ``calculator``.

    With a :class:`~latdyn.forces.ForceCache` ``cache`` and the model's ``identity``, the
    relaxed structure is stored and a rerun on the same input reuses it exactly: the rerun
    then builds the same displaced supercells, whose forces come from the cache (a relaxation
    repeated with a float32 model differs in the last bits, which would change every key).

    Raises
    ------
    SymmetryChangedError
        The space group changed and ``settings.allow_symmetry_change`` is false.
    ModelError
        The model returned non-finite forces, stress or energy during the relaxation.
    """
    from latdyn.forces.cache import CacheEntryError

    key = relax_key(atoms, identity, settings) if cache is not None and identity else None
    result = None
    if key is not None:
        try:
            record = cache.get_record("relax", key)
            result = None if record is None else _result_from_record(record, atoms)
            if result is not None:
                logger.info("relaxation taken from the cache (%s)", cache.root)
        except (CacheEntryError, KeyError, TypeError, ValueError) as exc:
            logger.warning("cached relaxation under %s failed validation (%s); relaxing again",
                           cache.root, exc)
    if result is None:
        result = _relax(atoms, calculator, settings)
        if key is not None:
            cache.put_record("relax", key, _result_record(result))
    return _checked(result, settings)


def _relax(atoms: Atoms, calculator: Calculator, settings: RelaxSettings) -> RelaxResult:
    import ase.optimize
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter

    start = time.perf_counter()
    before = get_symmetry(atoms, settings.symprec)
    work = atoms.copy()
    work.calc = calculator
    if settings.fix_symmetry:
        work.set_constraint(FixSymmetry(work, symprec=settings.symprec))
    target = work
    if settings.relax_cell:
        mask = [True, True, True, False, False, False] if settings.fix_angles else None
        target = FrechetCellFilter(work, mask=mask, constant_volume=settings.constant_volume)
    optimizer = getattr(ase.optimize, settings.optimizer)(target, logfile=None)
    try:
        with _single_threaded(len(work)):
            converged = bool(optimizer.run(fmax=settings.fmax, steps=settings.max_steps))
            max_force = float(np.linalg.norm(work.get_forces(), axis=1).max())
            energy = float(work.get_potential_energy())
    except Exception:
        if _finite(work):
            raise
        max_force = energy = float("nan")  # a non-finite step broke the model's neighbour list
    if not (np.isfinite(max_force) and np.isfinite(energy) and _finite(work)):
        raise ModelError(
            f"the model returned non-finite forces, stress or energy while relaxing "
            f"{atoms.get_chemical_formula()} (energy {energy}, largest force {max_force}); "
            "check the model on this structure, or skip the relaxation with --no-relax")
    relaxed = work.copy()
    relaxed.set_constraint()
    relaxed.calc = None
    relaxed.info = dict(atoms.info)
    after = get_symmetry(relaxed, settings.symprec)
    return RelaxResult(
        atoms=relaxed,
        symmetry_before=before,
        symmetry_after=after,
        converged=converged,
        n_steps=int(optimizer.nsteps),
        max_force=max_force,
        energy=energy,
        seconds=time.perf_counter() - start,
    )


def _finite(atoms: Atoms) -> bool:
    return bool(np.all(np.isfinite(atoms.positions)) and np.all(np.isfinite(np.array(atoms.cell))))


def _checked(result: RelaxResult, settings: RelaxSettings) -> RelaxResult:
    """``result``, after the symmetry and convergence checks (raising or warning)."""
    before, after = result.symmetry_before, result.symmetry_after
    if result.symmetry_changed:
        message = f"relaxation changed the space group from {before} to {after}"
        if not settings.allow_symmetry_change:
            raise SymmetryChangedError(
                f"{message}; check the structure and model, or allow it with "
                "--allow-symmetry-change"
            )
        logger.warning(message)
    if not result.converged:
        logger.warning("relaxation did not reach fmax=%g in %d steps (max force %.2e eV/Å)",
                       settings.fmax, settings.max_steps, result.max_force)
    return result
