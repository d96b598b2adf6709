"""Second- and third-order force constants of a phono3py object, sum rules enforced.

``symfc`` (default) fits force constants that obey the translational and permutation sum rules
and the space-group symmetry exactly; it handles finite and random displacements. ``traditional``
is phono3py's finite-difference solver followed by phono3py's own symmetrization (what the
κSRME protocol used); it needs finite displacements. ``auto`` picks per displacement set:
``traditional`` for finite displacements, ``symfc`` for random ones (so the FC2 of a run with
finite FC2 and random FC3 displacements is the protocol's, and its FC3 symfc's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from phono3py import Phono3py

from latdyn.errors import InputError
from latdyn.harmonic.force_constants import ForceConstants, fit_result
from latdyn.harmonic.solvers import SOLVER_CHOICES, is_random_dataset, resolve_solver

#: Force-constant solvers for FC2 and FC3 (``auto``: see the module docstring).
FC3_SOLVERS = SOLVER_CHOICES


def fc3_asr_violation(fc3: np.ndarray) -> float:
    """Translational sum-rule violation of FC3, relative.

    ``max_ij |sum_k Phi_ijk| / max |Phi|`` for compact ``(n_prim, n, n, 3, 3, 3)`` or full
    ``(n, n, n, 3, 3, 3)`` third-order force constants.
    """
    scale = np.abs(fc3).max()
    return float(np.abs(fc3.sum(axis=2)).max() / scale) if scale > 0 else 0.0


@dataclass(frozen=True)
class ThirdOrderForceConstants:
    """Fitted third-order force constants.

    Attributes
    ----------
    fc3
        FC3 in eV/Å³, compact shape ``(n_primitive_atoms, n_atoms, n_atoms, 3, 3, 3)`` over the
        FC3 supercell's atoms (read-only).
    solver
        ``symfc`` or ``traditional``.
    method
        ``fd`` (finite displacements) or ``random`` (random displacements).
    n_supercells
        Displaced supercells the fit used.
    raw_asr_violation
        :func:`fc3_asr_violation` of the plain finite-difference FC3 before symmetrization
        (``traditional`` solver only, else ``None``).
    asr_violation
        :func:`fc3_asr_violation` of the fitted FC3.
    seconds
        Wall time (s).
    """

    fc3: np.ndarray
    solver: str
    method: str
    n_supercells: int
    raw_asr_violation: float | None
    asr_violation: float
    seconds: float


def run_fc2(ph3: Phono3py, forces: np.ndarray, solver: str = "symfc") -> ForceConstants:
    """Fit FC2 on ``ph3``'s FC2 supercell from ``forces`` (eV/Å, ``(n_displaced, n_atoms, 3)``).

    ``forces`` must already have the residual forces of the undisplaced supercell subtracted.
    ``ph3.fc2`` is set to the compact fit ``(n_primitive_atoms, n_atoms, 3, 3)``. Finite
    displacements also give the raw finite-difference diagnostics; random ones (symfc only)
    do not. ``solver="auto"`` resolves per displacement set (module docstring).

    Raises
    ------
    InputError
        Unknown solver, or random displacements with the ``traditional`` solver.
    """
    random = is_random_dataset(ph3.phonon_dataset)
    solver = resolve_solver(solver, random)
    start = time.perf_counter()
    ph3.phonon_forces = np.asarray(forces, dtype=float)
    raw = None
    if not random:
        ph3.produce_fc2(fc_calculator="traditional", is_compact_fc=False)
        raw = np.array(ph3.fc2)
    ph3.produce_fc2(fc_calculator=solver)
    if solver == "traditional":
        ph3.symmetrize_fc2()
    return fit_result(raw, np.array(ph3.fc2), solver, start)


def run_fc3(ph3: Phono3py, forces: np.ndarray, solver: str = "symfc") -> ThirdOrderForceConstants:
    """Fit FC3 on ``ph3``'s FC3 supercell from ``forces`` (eV/Å, ``(n_displaced, n_atoms, 3)``).

    ``forces`` must already have the residual forces of the undisplaced supercell subtracted.
    ``ph3.fc3`` is set to the compact fit; ``ph3.fc2`` (from the FC2 supercell) is left alone.
    ``solver="auto"`` resolves per displacement set (module docstring).

    Raises
    ------
    InputError
        Unknown solver, or random displacements with the ``traditional`` solver.
    """
    random = is_random_dataset(ph3.dataset)
    solver = resolve_solver(solver, random)
    start = time.perf_counter()
    forces = np.asarray(forces, dtype=float)
    ph3.forces = forces
    try:
        ph3.produce_fc3(fc_calculator=solver)
    except AssertionError:  # symfc's eigensolver asserts on some very small supercells
        raise InputError(
            f"{solver} could not fit FC3 on the {len(ph3.supercell)}-atom FC3 supercell; "
            "choose a larger --fc3-supercell or --fc-solver traditional"
        ) from None
    raw_violation = None
    if solver == "traditional":
        raw_violation = fc3_asr_violation(ph3.fc3)
        ph3.symmetrize_fc3()
    fitted = np.array(ph3.fc3)
    fitted.flags.writeable = False
    return ThirdOrderForceConstants(
        fc3=fitted,
        solver=solver,
        method="random" if random else "fd",
        n_supercells=len(forces),
        raw_asr_violation=raw_violation,
        asr_violation=fc3_asr_violation(fitted),
        seconds=time.perf_counter() - start,
    )
