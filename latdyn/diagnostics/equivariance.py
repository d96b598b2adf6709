"""How far a model is from rotation equivariance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from latdyn.symmetrize.calculator import rotated_copies
from latdyn.symmetrize.rotations import random_rotations

#: Default amplitude (Å) of the random displacements of the probe structure.
DEFAULT_RATTLE = 0.03


@dataclass(frozen=True)
class EquivarianceError:
    """Change of the forces under random rotations.

    Attributes
    ----------
    error
        ``sqrt(mean_k |R_k^T F(R_k x) - F(x)|^2) / sqrt(mean |F(x)|^2)`` over the random
        operations ``R_k`` (proper and improper) and all force components; dimensionless.
    rms_force
        RMS force component of the unrotated probe structure (eV/Å).
    n_rotations
        Number of random operations.
    rattle
        Amplitude of the random displacements of the probe structure (Å).
    """

    error: float
    rms_force: float
    n_rotations: int
    rattle: float


def probe_structure(atoms: Atoms, rattle: float = DEFAULT_RATTLE, seed: int = 0) -> Atoms:
    """A copy of ``atoms`` with random displacements (so the forces are not zero by symmetry)."""
    probe = atoms.copy()
    probe.set_constraint()
    probe.calc = None
    probe.positions += np.random.default_rng(seed).normal(scale=rattle, size=(len(atoms), 3))
    return probe


def _forces(atoms: Atoms, calculator: Calculator) -> np.ndarray:
    atoms.calc = calculator
    forces = np.array(atoms.get_forces(), dtype=float)
    atoms.calc = None
    return forces


def equivariance_error(calculator: Calculator, atoms: Atoms, n_rotations: int = 4,
                       rattle: float = DEFAULT_RATTLE, seed: int = 0) -> EquivarianceError:
    """:class:`EquivarianceError` of ``calculator`` on a rattled copy of ``atoms``.

    Costs ``n_rotations + 1`` evaluations of ``calculator``.
    """
    probe = probe_structure(atoms, rattle, seed)
    reference = _forces(probe, calculator)
    rotations = random_rotations(n_rotations, seed)
    squared = 0.0
    for rotation, copy in zip(rotations, rotated_copies(probe, rotations), strict=True):
        back = _forces(copy, calculator) @ rotation  # R^T F' for every atom
        squared += float(np.mean((back - reference) ** 2))
    rms = float(np.sqrt(np.mean(reference**2)))
    change = np.sqrt(squared / n_rotations)
    return EquivarianceError(
        error=float(change / rms) if rms > 0 else float("nan"),
        rms_force=rms,
        n_rotations=n_rotations,
        rattle=rattle,
    )
