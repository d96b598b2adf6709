"""Random-displacement FC3 with the number of supercells chosen by a convergence check on κ.

Level 0 fits FC3 on the random supercells of the displacement set. Each further level draws as
many new random supercells (the next seed, so a rerun draws the same ones), doubling the set,
and refits on all of them. After every fit κ is computed on a coarse q-mesh; the check passes
at the first level whose κ (trace average, at every temperature) differs from the previous
level's by at most ``tolerance``, relative, and the run keeps that level's FC3. If the check has
not passed when the set reaches ``max_supercells``, the last fit is kept and the result says
it did not converge.

A fit on barely enough patterns can fail outright (7net-0 wurtzite AlN: 36 ± pairs, symfc's
minimum, gave FC3 ≈ 0 and κ ≈ 2.5e6 W/m/K; 48 pairs gave 127.7), which the check sees as a
large change. A self-convergence check measures the noise of the fit, not the bias of the finite
amplitude: random and finite displacements of the same amplitude can converge to different FC3;
:mod:`latdyn.anharmonic.holdout` measures either against the model's own forces.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from phono3py import Phono3py
from phonopy.harmonic.displacement import get_random_displacements_dataset
from tqdm.auto import tqdm

from latdyn.anharmonic.fc3 import ThirdOrderForceConstants, run_fc3
from latdyn.anharmonic.holdout import displaced_supercells, even_part_residual
from latdyn.errors import InputError
from latdyn.kappa.conductivity import KappaSettings, run_kappa

#: Default relative κ change between consecutive levels that counts as converged.
DEFAULT_CONVERGENCE_TOLERANCE = 0.01


@dataclass(frozen=True)
class FC3ConvergenceSettings:
    """How the number of random FC3 supercells is chosen.

    Attributes
    ----------
    tolerance
        Largest relative change of the coarse-mesh κ between consecutive levels.
    max_supercells
        Largest set to try; ``None``: 8 times the first level.
    mesh
        Coarse q-mesh of the check (three integers); ``None``: the κ mesh halved, rounded up.
    """

    tolerance: float = DEFAULT_CONVERGENCE_TOLERANCE
    max_supercells: int | None = None
    mesh: tuple | None = None

    def __post_init__(self):
        if not 0 < self.tolerance < 1:
            raise InputError(f"the FC3 convergence tolerance must be in (0, 1), got "
                             f"{self.tolerance}")
        if self.max_supercells is not None and self.max_supercells < 1:
            raise InputError(f"the largest FC3 set must be >= 1 supercell, got "
                             f"{self.max_supercells}")


@dataclass(frozen=True)
class ConvergenceLevel:
    """One fit of the convergence check.

    Attributes
    ----------
    n_supercells
        Displaced supercells of the fit.
    kappa
        Coarse-mesh κ trace average per temperature, ``(nT,)`` W/(m K).
    relative_change
        Largest ``|κ - κ_previous| / |κ|`` over temperatures; ``None`` at level 0.
    holdout_residual
        With ± pairs, how well the previous level's FC3 predicted this level's new supercells
        before they were fitted (:mod:`latdyn.anharmonic.holdout`); ``None`` at level 0 and
        without ± pairs.
    seconds
        Wall time of the level: forces, fit and coarse κ (s).
    """

    n_supercells: int
    kappa: tuple
    relative_change: float | None
    holdout_residual: float | None
    seconds: float


@dataclass(frozen=True)
class FC3Convergence:
    """FC3 from a converged set of random supercells.

    Attributes
    ----------
    fc3
        The fit of the last level (``ph3.fc3`` is set to it).
    displaced
        All displaced supercells evaluated, in the order of ``forces``.
    forces
        Their forces, residual subtracted, ``(n_supercells, n_atoms, 3)`` eV/Å.
    levels
        Every level of the check.
    converged
        Whether the last level passed the check.
    tolerance
        The tolerance used.
    mesh
        The coarse q-mesh, ``(3,)``.
    n_computed
        Supercells the model evaluated (the rest came from the force cache).
    """

    fc3: ThirdOrderForceConstants
    displaced: tuple[Atoms, ...]
    forces: np.ndarray
    levels: tuple[ConvergenceLevel, ...]
    converged: bool
    tolerance: float
    mesh: np.ndarray
    n_computed: int


def coarse_mesh(ph3: Phono3py, kappa_settings: KappaSettings) -> np.ndarray:
    """The κ mesh of ``kappa_settings`` on ``ph3``'s primitive cell, halved and rounded up."""
    ph3.mesh_numbers = kappa_settings.mesh
    return np.array([max(1, math.ceil(n / 2)) for n in ph3.mesh_numbers], dtype=int)


def _draw(ph3: Phono3py, n_supercells: int, distance: float, seed: int,
          plus_minus: bool) -> np.ndarray:
    """``n_supercells`` new random displacements (as ± pairs when ``plus_minus``)."""
    n_patterns = n_supercells // 2 if plus_minus else n_supercells
    return get_random_displacements_dataset(n_patterns, len(ph3.supercell), distance,
                                            random_seed=seed, is_plusminus=plus_minus)


def run_fc3_convergence(
    ph3: Phono3py,
    first_forces: np.ndarray,
    evaluate: Callable[[Sequence[Atoms]], tuple[np.ndarray, int]],
    kappa_settings: KappaSettings,
    settings: FC3ConvergenceSettings,
    distance: float,
    random_seed: int,
    plus_minus: bool,
    solver: str = "symfc",
    progress: bool = True,
) -> FC3Convergence:
    """Fit FC3 on doubling sets of random supercells until the coarse-mesh κ converges.

    ``ph3`` holds FC2 and a random FC3 displacement set (level 0) whose forces, residual
    subtracted, are ``first_forces``. ``evaluate`` returns the residual-subtracted forces of
    new supercells and how many of them the model computed. New draws use the seeds
    ``random_seed + 1, + 2, ...``; ``distance`` and ``plus_minus`` are those of level 0.
    On return ``ph3.fc3`` is the last level's fit and ``ph3.dataset`` holds all supercells.

    Raises
    ------
    InputError
        ``ph3``'s FC3 set is not random, or ``max_supercells`` is below level 0's size.
    """
    if "first_atoms" in ph3.dataset:
        raise InputError("the FC3 convergence check needs random displacements; use "
                         "--fc3-method random")
    displacements = np.array(ph3.dataset["displacements"])
    forces = np.asarray(first_forces, dtype=float)
    displaced = displaced_supercells(ph3, displacements)
    limit = settings.max_supercells or 8 * len(displacements)
    if limit < len(displacements):
        raise InputError(f"the largest FC3 set ({limit}) is smaller than the first "
                         f"({len(displacements)} supercells)")
    mesh = (np.array(settings.mesh, dtype=int) if settings.mesh is not None
            else coarse_mesh(ph3, kappa_settings))
    check = dataclasses.replace(kappa_settings, mesh=tuple(int(n) for n in mesh))
    levels: list[ConvergenceLevel] = []
    n_computed = 0
    converged = False
    fc3 = None  # the previous level's fit
    with tqdm(desc="FC3 convergence", unit="level", disable=not progress, leave=False) as bar:
        while True:
            start = time.perf_counter()
            residual = None
            if levels:
                new = _draw(ph3, len(displacements), distance, random_seed + len(levels),
                            plus_minus)
                new_cells = displaced_supercells(ph3, new)
                new_forces, computed = evaluate(new_cells)
                if plus_minus:
                    residual, _ = even_part_residual(fc3.fc3, ph3.primitive, new, new_forces)
                n_computed += computed
                displacements = np.concatenate([displacements, new])
                forces = np.concatenate([forces, new_forces])
                displaced.extend(new_cells)
                ph3.dataset = {"displacements": displacements}
            fc3 = run_fc3(ph3, forces, solver)
            kappa = run_kappa(ph3, check).kappa_trace_average
            change = None
            if levels:
                previous = np.array(levels[-1].kappa)
                change = float(np.max(np.abs(kappa - previous) / np.maximum(np.abs(kappa),
                                                                            1e-12)))
            levels.append(ConvergenceLevel(n_supercells=len(forces),
                                           kappa=tuple(float(k) for k in kappa),
                                           relative_change=change,
                                           holdout_residual=residual,
                                           seconds=time.perf_counter() - start))
            bar.update(1)
            bar.set_postfix(n=len(forces), change="-" if change is None else f"{change:.2%}")
            converged = change is not None and change <= settings.tolerance
            if converged or 2 * len(forces) > limit:
                break
    forces.flags.writeable = False
    return FC3Convergence(fc3=fc3, displaced=tuple(displaced), forces=forces,
                          levels=tuple(levels), converged=converged,
                          tolerance=settings.tolerance, mesh=mesh, n_computed=n_computed)
