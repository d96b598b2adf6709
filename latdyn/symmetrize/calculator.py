"""Symmetrized predictions: O(3) averaging and space-group projection of any model.

``SymmetrizedCalculator`` wraps an ASE calculator; ``SymmetrizedBackend`` wraps a batched
:class:`~latdyn.forces.backend.ForceBackend` so the rotated copies of many structures go to the
model in batches. Both apply, in this order,

1. O(3) averaging (``rotations=ORDER``): the model is evaluated on rotated copies of the structure
   (cell and positions rotated together) on a quadrature of the rotation group (see
   :mod:`latdyn.symmetrize.rotations`); each prediction is rotated back (forces as vectors,
   stress as a rank-2 tensor) and averaged with the quadrature weights, energy included;
2. space-group projection (``space_group=True``): forces and stress are averaged over the
   operations spglib finds for the structure itself (see :mod:`latdyn.symmetrize.spacegroup`).

An equivariant model's predictions are unchanged by both, up to round-off.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from latdyn.errors import InputError
from latdyn.structure.symmetry import DEFAULT_SYMPREC
from latdyn.symmetrize.rotations import RotationQuadrature, check_order, o3_quadrature
from latdyn.symmetrize.spacegroup import find_operations

#: ``--symmetrize`` choices: what each turns on (O(3) averaging, space-group projection).
SYMMETRIZE_MODES = {
    "none": (False, False),
    "spacegroup": (False, True),
    "o3": (True, False),
    "full": (True, True),
}

#: Lebedev order used for O(3) averaging when none is given.
DEFAULT_ROTATION_ORDER = 3


@dataclass(frozen=True)
class SymmetrizationSettings:
    """What to symmetrize.

    Attributes
    ----------
    rotation_order
        Lebedev order of the O(3) quadrature; ``None`` turns the averaging off.
    space_group
        Project forces and stress onto the structure's space-group-invariant subspace.
    include_inversion
        Average over O(3) (rotations and their products with inversion) instead of SO(3).
    symprec
        Tolerance (Å) of the space-group search.
    """

    rotation_order: int | None = None
    space_group: bool = False
    include_inversion: bool = True
    symprec: float = DEFAULT_SYMPREC

    def __post_init__(self):
        if self.rotation_order is not None:
            check_order(self.rotation_order)
        if self.symprec <= 0:
            raise InputError(f"symprec must be positive, got {self.symprec}")

    @property
    def mode(self) -> str:
        """``none``, ``spacegroup``, ``o3`` or ``full``."""
        key = (self.rotation_order is not None, self.space_group)
        return next(name for name, value in SYMMETRIZE_MODES.items() if value == key)

    @property
    def quadrature(self) -> RotationQuadrature | None:
        if self.rotation_order is None:
            return None
        return o3_quadrature(self.rotation_order, self.include_inversion)

    @property
    def evaluations_per_structure(self) -> int:
        """Model evaluations per structure: the nominal cost multiplier."""
        quadrature = self.quadrature
        return 1 if quadrature is None else quadrature.size

    def options(self) -> dict:
        """The settings as model options (they enter the model identity and cache keys)."""
        out: dict = {"symmetrize": self.mode}
        if self.rotation_order is not None:
            out["rotations"] = self.rotation_order
            out["inversion"] = self.include_inversion
        if self.space_group:
            out["symprec"] = self.symprec
        return out


class EvaluationStats:
    """Running counts and wall times of a symmetrizing wrapper (for its cost multiplier)."""

    def __init__(self):
        self.n_structures = 0
        self.n_model_evaluations = 0
        self.model_seconds = 0.0
        self.total_seconds = 0.0

    def measured_cost_multiplier(self) -> float | None:
        """Wall time per structure over the mean time of one model evaluation.

        ``None`` before any evaluation. One model evaluation stands in for the time the
        unwrapped model takes on one structure.
        """
        if self.n_model_evaluations == 0 or self.model_seconds <= 0:
            return None
        per_evaluation = self.model_seconds / self.n_model_evaluations
        return self.total_seconds / (self.n_structures * per_evaluation)

    def record(self, settings: SymmetrizationSettings) -> dict:
        """What ``summary.json`` records about the symmetrization of a run."""
        return {
            **settings.options(),
            "evaluations_per_structure": settings.evaluations_per_structure,
            "n_structures": self.n_structures,
            "n_model_evaluations": self.n_model_evaluations,
            "model_seconds": self.model_seconds,
            "total_seconds": self.total_seconds,
            "measured_cost_multiplier": self.measured_cost_multiplier(),
        }


def rotated_copies(atoms: Atoms, rotations: np.ndarray) -> list[Atoms]:
    """Copies of ``atoms`` with positions and cell rotated by each of ``rotations`` ``(n,3,3)``.

    For an improper rotation the cell is rotated by ``-R`` (it spans the same lattice), so every
    copy keeps a right-handed cell.
    """
    copies = []
    cell = np.array(atoms.cell)
    for rotation in rotations:
        copy = atoms.copy()
        copy.set_constraint()  # constraints (e.g. FixSymmetry) belong to the unrotated frame
        copy.calc = None
        copy.set_cell(np.sign(np.linalg.det(rotation)) * cell @ rotation.T, scale_atoms=False)
        copy.positions = atoms.positions @ rotation.T
        copy.wrap()
        copies.append(copy)
    return copies


def average_back(quadrature: RotationQuadrature, energies: np.ndarray, forces: np.ndarray,
                 stresses: np.ndarray | None):
    """Rotate predictions on rotated copies back and average them with the quadrature weights.

    Parameters
    ----------
    energies
        ``(n,)`` eV.
    forces
        ``(n, n_atoms, 3)`` eV/Å; copy ``k`` saw the structure rotated by ``R_k``.
    stresses
        ``(n, 3, 3)`` eV/Å³, or ``None``.

    Returns
    -------
    energy, forces, stress
        Averaged energy (eV), forces ``(n_atoms, 3)`` and stress ``(3, 3)`` or ``None``.
    """
    rotations, weights = quadrature.rotations, quadrature.weights
    energy = float(weights @ energies)
    # F = R^T F' for each atom: F_j = sum_i F'_i R_ij.
    averaged = np.einsum("n,nai,nij->aj", weights, forces, rotations)
    stress = None
    if stresses is not None:
        stress = np.einsum("n,nki,nkl,nlj->ij", weights, rotations, stresses, rotations)
    return energy, averaged, stress


def _stress_matrix(stress) -> np.ndarray:
    stress = np.asarray(stress, dtype=float)
    if stress.shape == (3, 3):
        return stress
    xx, yy, zz, yz, xz, xy = stress
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def _voigt(stress: np.ndarray) -> np.ndarray:
    return np.array([stress[0, 0], stress[1, 1], stress[2, 2],
                     stress[1, 2], stress[0, 2], stress[0, 1]])


class SymmetrizedCalculator(Calculator):
    """An ASE calculator that symmetrizes another one's predictions (see the module docstring).

    Parameters
    ----------
    calc
        The wrapped calculator (energy in eV, forces in eV/Å, stress in eV/Å³).
    rotations
        Lebedev order of the O(3) quadrature, or ``None`` for no rotational averaging.
    space_group
        Project forces and stress onto the structure's space-group-invariant subspace.
    include_inversion
        Include improper rotations in the average (O(3) instead of SO(3)).
    symprec
        Symmetry tolerance (Å) of the space-group search.

    Attributes
    ----------
    stats
        :class:`EvaluationStats` of all calls so far.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, calc: Calculator, rotations: int | None = None, space_group: bool = False,
                 include_inversion: bool = True, symprec: float = DEFAULT_SYMPREC):
        super().__init__()
        self.calc = calc
        self.settings = SymmetrizationSettings(rotations, space_group, include_inversion, symprec)
        self.stats = EvaluationStats()
        self._has_stress = "stress" in getattr(calc, "implemented_properties", ())

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        start = time.perf_counter()
        with_stress = self._has_stress and all(self.atoms.pbc)
        quadrature = self.settings.quadrature
        copies = ([self.atoms.copy()] if quadrature is None
                  else rotated_copies(self.atoms, quadrature.rotations))
        energies, forces, stresses = [], [], []
        model_start = time.perf_counter()
        for copy in copies:
            copy.calc = self.calc
            energies.append(copy.get_potential_energy())
            forces.append(np.array(copy.get_forces(), dtype=float))
            if with_stress:
                stresses.append(_stress_matrix(copy.get_stress(voigt=False)))
        self.stats.model_seconds += time.perf_counter() - model_start
        self.stats.n_model_evaluations += len(copies)
        if quadrature is None:
            energy, force, stress = energies[0], forces[0], stresses[0] if with_stress else None
        else:
            energy, force, stress = average_back(
                quadrature, np.array(energies), np.array(forces),
                np.array(stresses) if with_stress else None,
            )
        if self.settings.space_group:
            operations = find_operations(self.atoms, self.settings.symprec)
            force = operations.project_forces(force)
            if stress is not None:
                stress = operations.project_stress(stress)
        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = force
        if stress is not None:
            self.results["stress"] = _voigt(stress)
        self.stats.n_structures += 1
        self.stats.total_seconds += time.perf_counter() - start


class SymmetrizedBackend:
    """A force backend that symmetrizes another backend's forces.

    The rotated copies of all structures of one call are sent to ``inner`` (any backend) in
    batches of ``inner.batch_size``. ``identity``: the cache identity (default: ``inner``'s
    with the symmetrization's options appended); ``stats``: the :class:`EvaluationStats` to
    add to (a symmetrized model shares its calculator's, so ``summary.json`` counts both).
    """

    def __init__(self, inner, settings: SymmetrizationSettings, identity: str | None = None,
                 stats: EvaluationStats | None = None):
        self.inner = inner
        self.settings = settings
        self.batch_size = max(1, int(getattr(inner, "batch_size", 1)))
        tags = ",".join(f"{k}={v}" for k, v in sorted(settings.options().items()))
        if identity is None and inner.identity is not None:
            identity = f"{inner.identity}|{tags}"
        self.identity = identity
        self.stats = EvaluationStats() if stats is None else stats

    def forces(self, structures: Sequence[Atoms]) -> np.ndarray:
        start = time.perf_counter()
        quadrature = self.settings.quadrature
        copies: list[Atoms] = []
        for atoms in structures:
            copies.extend([atoms] if quadrature is None
                          else rotated_copies(atoms, quadrature.rotations))
        model_start = time.perf_counter()
        predicted = np.concatenate([
            np.asarray(self.inner.forces(copies[i : i + self.batch_size]), dtype=float)
            for i in range(0, len(copies), self.batch_size)
        ])
        self.stats.model_seconds += time.perf_counter() - model_start
        self.stats.n_model_evaluations += len(copies)
        n_copies = 1 if quadrature is None else quadrature.size
        out = []
        for k, atoms in enumerate(structures):
            force = predicted[k * n_copies : (k + 1) * n_copies]
            if quadrature is None:
                force = force[0]
            else:
                _, force, _ = average_back(quadrature, np.zeros(n_copies), force, None)
            if self.settings.space_group:
                force = find_operations(atoms, self.settings.symprec).project_forces(force)
            out.append(force)
        self.stats.n_structures += len(structures)
        self.stats.total_seconds += time.perf_counter() - start
        return np.array(out, dtype=float).reshape(len(structures), -1, 3)
