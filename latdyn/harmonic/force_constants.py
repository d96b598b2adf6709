"""Second-order force constants with sum rules enforced (symfc through phonopy)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy

from latdyn.errors import InputError
from latdyn.harmonic.solvers import FC_SOLVERS

#: Solvers phonopy offers; ``symfc`` enforces the translational and permutation sum rules.


def asr_violation(force_constants: np.ndarray) -> float:
    """Translational (acoustic) sum-rule violation, relative.

    ``max_i ||sum_j Phi_ij||_F / max_i ||Phi_ii||_F`` for force constants of shape
    ``(n, n, 3, 3)`` (full) or ``(n_prim, n, 3, 3)`` (compact).
    """
    sums = np.linalg.norm(force_constants.sum(axis=1), axis=(1, 2))
    n_rows = force_constants.shape[0]
    if n_rows == force_constants.shape[1]:
        diagonal = np.array([force_constants[i, i] for i in range(n_rows)])
        scale = np.linalg.norm(diagonal, axis=(1, 2)).max()
    else:
        scale = np.abs(force_constants).max()
    return float(sums.max() / scale) if scale > 0 else 0.0


def permutation_asymmetry(force_constants: np.ndarray) -> float:
    """``||Phi - Phi^T|| / ||Phi||`` of the full ``(3n, 3n)`` force-constant matrix.

    Zero for forces that are the gradient of an energy (up to finite-difference error).
    """
    n = force_constants.shape[0]
    if force_constants.shape[1] != n:
        raise ValueError("permutation_asymmetry needs full (n, n, 3, 3) force constants")
    matrix = force_constants.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    norm = np.linalg.norm(matrix)
    return float(np.linalg.norm(matrix - matrix.T) / norm) if norm > 0 else 0.0


@dataclass(frozen=True)
class ForceConstants:
    """Fitted second-order force constants.

    Attributes
    ----------
    force_constants
        FC2 in eV/Å², shape ``(n_atoms, n_atoms, 3, 3)`` over the supercell atoms.
    solver
        ``symfc`` or ``traditional``.
    raw_asr_violation
        :func:`asr_violation` of the force constants from plain finite differences, before any
        sum rule is enforced; ``None`` for random displacements (no finite differences).
    raw_permutation_asymmetry
        :func:`permutation_asymmetry` of the same raw force constants (``None`` likewise).
    asr_violation
        :func:`asr_violation` of the fitted force constants.
    seconds
        Wall time (s).
    """

    force_constants: np.ndarray
    solver: str
    raw_asr_violation: float | None
    raw_permutation_asymmetry: float | None
    asr_violation: float
    seconds: float


def run_fc2(
    phonon: Phonopy, forces: np.ndarray, solver: str = "symfc", log_level: int = 0
) -> ForceConstants:
    """Fit FC2 from displaced-supercell ``forces`` (eV/Å, ``(n_displaced, n_atoms, 3)``).

    ``phonon`` holds the displacement dataset; its force constants are set to the fit.
    """
    if solver not in FC_SOLVERS:  # finite displacements: no auto here (phonons has none)
        raise InputError(f"unknown force-constant solver {solver!r}; choose one of "
                         f"{', '.join(FC_SOLVERS)}")
    start = time.perf_counter()
    phonon.forces = np.asarray(forces, dtype=float)
    phonon.produce_force_constants(fc_calculator="traditional", show_drift=False)
    raw = np.array(phonon.force_constants)
    if solver != "traditional":
        phonon.produce_force_constants(
            fc_calculator=solver, show_drift=False, fc_calculator_log_level=log_level
        )
    return fit_result(raw, np.array(phonon.force_constants), solver, start)


def fit_result(
    raw: np.ndarray | None, fitted: np.ndarray, solver: str, start: float
) -> ForceConstants:
    """:class:`ForceConstants` of a fit, with the diagnostics of the ``raw`` (plain finite
    difference, full) force constants, if any; ``start`` is the fit's ``time.perf_counter()``
    start."""
    fitted.flags.writeable = False
    return ForceConstants(
        force_constants=fitted,
        solver=solver,
        raw_asr_violation=None if raw is None else asr_violation(raw),
        raw_permutation_asymmetry=None if raw is None else permutation_asymmetry(raw),
        asr_violation=asr_violation(fitted),
        seconds=time.perf_counter() - start,
    )
