"""Symmetry diagnostics of a model: ``latdyn check-model`` and the checks of every run.

``check_model`` computes, for each symmetrization mode, force constants from finite
displacements of *every* atom of the primitive cell along ``±x, ±y, ±z`` with no symmetry used
anywhere (phonopy with ``is_symmetry=False``), so whatever symmetry the force constants have
comes from the model: its Γ splitting, translational sum-rule violation and ``||Φ - Φᵀ||/||Φ||``
are those of the model's raw predictions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from latdyn.bounds import check_displacement
from latdyn.diagnostics.equivariance import EquivarianceError, equivariance_error
from latdyn.diagnostics.gamma import GammaModes, gamma_modes
from latdyn.errors import InputError
from latdyn.forces import evaluate_forces
from latdyn.harmonic import ForceConstants, run_fc2
from latdyn.models.loaded import LoadedModel
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
from latdyn.structure.supercell import DEFAULT_MIN_LENGTH, choose_supercell, parse_supercell
from latdyn.structure.symmetry import DEFAULT_SYMPREC, SymmetryInfo, get_symmetry
from latdyn.symmetrize import SYMMETRIZE_MODES, symmetrize_model, unwrapped_model
from latdyn.symmetrize.model import symmetrization_record, symmetrization_settings

logger = logging.getLogger(__name__)

#: Modes ``latdyn check-model`` compares by default: the raw model and the space-group
#: projection (one evaluation per structure each); ``--full`` adds the O(3) averages.
DEFAULT_CHECK_MODES = ("none", "spacegroup")
FULL_CHECK_MODES = tuple(SYMMETRIZE_MODES)
#: A degenerate optical set at Γ split by more than this (THz) needs symmetrization.
SPLITTING_TOLERANCE_THZ = 0.01


@dataclass(frozen=True)
class CheckSettings:
    """Settings of ``latdyn check-model``.

    Attributes
    ----------
    modes
        Symmetrization modes to compare (``none`` first gives the cost baseline).
    rotations
        Lebedev order of the ``o3`` and ``full`` modes; ``None`` uses the default.
    supercell
        3 or 9 integers; ``None`` chooses automatically (see ``min_length``).
    min_length
        Minimum face-to-face width (Å) of the automatic supercell.
    distance
        Displacement amplitude (Å).
    n_probe_rotations
        Random rotations of the equivariance probe.
    symprec
        Symmetry tolerance (Å).
    execution
        Force cache and progress bars.
    """

    modes: tuple[str, ...] = DEFAULT_CHECK_MODES
    rotations: int | None = None
    supercell: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH
    distance: float = 0.01
    n_probe_rotations: int = 4
    symprec: float = DEFAULT_SYMPREC
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)

    def __post_init__(self):
        if not self.modes:
            raise InputError("give at least one symmetrization mode to check")
        for mode in self.modes:
            symmetrization_settings(mode, None, self.symprec)
        if self.rotations is not None:
            symmetrization_settings("o3", self.rotations, self.symprec)
        check_displacement(self.distance)
        if self.n_probe_rotations < 1:
            raise InputError(f"n_probe_rotations must be >= 1, got {self.n_probe_rotations}")


@dataclass(frozen=True)
class ModeCheck:
    """Diagnostics of the model under one symmetrization mode.

    Attributes
    ----------
    mode
        ``none``, ``spacegroup``, ``o3`` or ``full``.
    symmetrization
        The mode's settings and evaluation counts (see ``symmetrization_record``).
    equivariance
        Equivariance error of the (symmetrized) model on a rattled supercell.
    force_constants
        Force constants from the unsymmetrized finite differences; their
        ``raw_asr_violation`` and ``raw_permutation_asymmetry`` are the model's.
    gamma
        Γ modes of those force constants and the splitting of their degenerate sets.
    n_evaluations
        Model evaluations of the mode (supercells and equivariance probe, times the
        evaluations per structure).
    force_seconds
        Wall time of the supercell force evaluations (s).
    cost_multiplier
        ``n_evaluations`` over that of the raw model: the cost of the mode, free of wall-clock
        noise.
    """

    mode: str
    symmetrization: dict
    equivariance: EquivarianceError
    force_constants: ForceConstants
    gamma: GammaModes
    n_evaluations: int
    force_seconds: float
    cost_multiplier: float


@dataclass(frozen=True)
class ModelCheck:
    """What ``latdyn check-model`` found.

    Attributes
    ----------
    primitive
        The standardized primitive cell checked (not relaxed).
    symmetry
        Its space group.
    supercell_matrix
        ``(3, 3)`` integers relative to ``primitive``.
    n_supercell_atoms, n_displacements
        Size of the supercell and number of displaced supercells (``6 n_prim``).
    model
        Provenance of the raw model.
    modes
        One :class:`ModeCheck` per mode, in the order asked for.
    settings
        The settings used.
    """

    primitive: Atoms
    symmetry: SymmetryInfo
    supercell_matrix: np.ndarray
    n_supercell_atoms: int
    n_displacements: int
    model: dict
    modes: tuple[ModeCheck, ...]
    settings: CheckSettings


@dataclass(frozen=True)
class RunDiagnostics:
    """The model checks every run reports in ``summary.json``.

    Attributes
    ----------
    symmetrization
        Mode, settings and cost multiplier of the symmetrization used.
    equivariance
        Equivariance error of the raw (unsymmetrized) model on a rattled supercell: how much
        symmetrization is needed.
    gamma
        Γ modes of the fitted force constants and the splitting of their degenerate sets.
    raw_asr_violation, raw_permutation_asymmetry
        Of the force constants before any sum rule is enforced (see ``ForceConstants``).
    """

    symmetrization: dict
    equivariance: EquivarianceError
    gamma: GammaModes
    raw_asr_violation: float
    raw_permutation_asymmetry: float


def unsymmetrized_displacements(primitive: Atoms, supercell_matrix: np.ndarray,
                                distance: float):
    """phonopy object displacing every atom along ±x, ±y, ±z, with no symmetry."""
    from phonopy import Phonopy

    phonon = Phonopy(to_phonopy_atoms(primitive), supercell_matrix=supercell_matrix,
                     primitive_matrix=None, is_symmetry=False)
    phonon.generate_displacements(distance=distance, is_plusminus=True)
    return phonon


@dataclass(frozen=True)
class CheckPlan:
    """What ``check_model`` will evaluate, and a cost estimate, before it starts.

    Attributes
    ----------
    primitive, symmetry, supercell_matrix
        The standardized primitive cell, its space group, the supercell ``(3, 3)``.
    phonon
        phonopy object with the unsymmetrized ± displacements.
    n_supercell_atoms, n_displacements
        Supercell size and number of displaced supercells.
    evaluations
        Model evaluations per mode, ``{mode: n}``.
    seconds_per_evaluation
        Wall time of one raw evaluation of the undisplaced supercell (the faster of two).
    """

    primitive: Atoms
    symmetry: SymmetryInfo
    supercell_matrix: np.ndarray
    phonon: object
    n_supercell_atoms: int
    n_displacements: int
    evaluations: dict
    seconds_per_evaluation: float

    @property
    def total_evaluations(self) -> int:
        return sum(self.evaluations.values())

    @property
    def estimated_seconds(self) -> float:
        return self.total_evaluations * self.seconds_per_evaluation


def _per_structure(mode: str, rotations: int | None, symprec: float) -> int:
    rotations = rotations if SYMMETRIZE_MODES[mode][0] else None
    return symmetrization_settings(mode, rotations, symprec).evaluations_per_structure


def plan_check(atoms: Atoms, model: LoadedModel, settings: CheckSettings | None = None
               ) -> CheckPlan:
    """The supercells, the evaluations per mode and a timed raw evaluation (see CheckPlan)."""
    from latdyn.structure.symmetry import standardize_primitive

    settings = settings or CheckSettings()
    model.check_elements(atoms)
    primitive = standardize_primitive(atoms, settings.symprec)
    symmetry = get_symmetry(primitive, settings.symprec)
    if settings.supercell is None:
        matrix = choose_supercell(primitive, settings.min_length, settings.symprec)
    else:
        matrix = parse_supercell(settings.supercell)
    phonon = unsymmetrized_displacements(primitive, matrix, settings.distance)
    supercell = to_ase_atoms(phonon.supercell)
    n_displacements = len(phonon.supercells_with_displacements)
    structures = 1 + n_displacements + settings.n_probe_rotations + 1
    evaluations = {mode: structures * _per_structure(mode, settings.rotations, settings.symprec)
                   for mode in settings.modes}
    backend = model.backend()
    seconds = []
    for _ in range(2):  # the first call may carry one-off set-up costs
        start = time.perf_counter()
        evaluate_forces(backend, [supercell], None, progress=False)
        seconds.append(time.perf_counter() - start)
    return CheckPlan(primitive=primitive, symmetry=symmetry, supercell_matrix=np.array(matrix),
                     phonon=phonon, n_supercell_atoms=len(supercell),
                     n_displacements=n_displacements, evaluations=evaluations,
                     seconds_per_evaluation=min(seconds))


def check_model(atoms: Atoms, model: LoadedModel, settings: CheckSettings | None = None,
                plan: CheckPlan | None = None) -> ModelCheck:
    """Diagnostics of ``model`` on ``atoms`` with and without each symmetrization mode.

    ``plan`` is :func:`plan_check`'s result for the same arguments (computed when not given).
    """
    settings = settings or CheckSettings()
    plan = plan or plan_check(atoms, model, settings)
    phonon = plan.phonon
    supercell = to_ase_atoms(phonon.supercell)
    displaced = [to_ase_atoms(cell) for cell in phonon.supercells_with_displacements]
    raw_evaluations = 1 + len(displaced) + settings.n_probe_rotations + 1

    cache = settings.execution.cache()
    checks: list[ModeCheck] = []
    for mode in settings.modes:
        rotations = settings.rotations if SYMMETRIZE_MODES[mode][0] else None
        wrapped = symmetrize_model(model, mode, rotations, settings.symprec)
        backend = wrapped.backend()
        logger.info("check-model: mode %s", mode)
        start = time.perf_counter()
        residual = evaluate_forces(backend, [supercell], cache, progress=False).forces[0]
        forces = evaluate_forces(backend, displaced, cache, progress=settings.execution.progress,
                                 desc=f"{mode} supercells").forces
        seconds = time.perf_counter() - start
        force_constants = run_fc2(phonon, forces - residual[None], solver="traditional")
        checks.append(ModeCheck(
            mode=mode,
            symmetrization=symmetrization_record(wrapped),
            equivariance=equivariance_error(wrapped.calculator, supercell,
                                            settings.n_probe_rotations),
            force_constants=force_constants,
            gamma=gamma_modes(phonon, force_constants.force_constants, settings.symprec),
            n_evaluations=plan.evaluations[mode],
            force_seconds=seconds,
            cost_multiplier=plan.evaluations[mode] / raw_evaluations,
        ))
    return ModelCheck(
        primitive=plan.primitive,
        symmetry=plan.symmetry,
        supercell_matrix=plan.supercell_matrix,
        n_supercell_atoms=plan.n_supercell_atoms,
        n_displacements=len(displaced),
        model=unwrapped_model(model).provenance(),
        modes=tuple(checks),
        settings=settings,
    )


def check_verdict(check: ModelCheck) -> str:
    """One line: does the model need symmetrization for phonons, and which mode.

    The criterion is the splitting of symmetry-degenerate optical modes at Γ in force constants
    fitted with no symmetry (above :data:`SPLITTING_TOLERANCE_THZ` a phonon calculation shows
    it); the cheapest checked mode that brings it below the tolerance is recommended.
    """
    by_mode = {m.mode: m for m in check.modes}
    tolerance = SPLITTING_TOLERANCE_THZ
    raw = by_mode.get("none")
    if raw is not None and raw.gamma.max_optical_splitting <= tolerance:
        return (f"verdict: no symmetrization needed for phonons (Γ optical splitting "
                f"{raw.gamma.max_optical_splitting:.1e} THz <= {tolerance} THz, equivariance "
                f"error {raw.equivariance.error:.1e}); --symmetrize none")
    passing = sorted((m for m in check.modes if m.mode != "none"
                      and m.gamma.max_optical_splitting <= tolerance),
                     key=lambda m: m.cost_multiplier)
    split = (f"Γ optical splitting {raw.gamma.max_optical_splitting:.1e} THz > {tolerance} THz"
             if raw is not None else "mode none not checked")
    if passing:
        best = passing[0]
        return (f"verdict: symmetrization needed for phonons ({split}); use --symmetrize "
                f"{best.mode} (splitting {best.gamma.max_optical_splitting:.1e} THz, "
                f"{best.cost_multiplier:.0f}x the evaluations)")
    unchecked = [m for m in FULL_CHECK_MODES if m not in by_mode]
    hint = f"; check {', '.join(unchecked)} with --full" if unchecked else ""
    return (f"verdict: symmetrization needed for phonons ({split}); no checked mode brings it "
            f"below {tolerance} THz{hint}")


def run_diagnostics(model: LoadedModel, phonon, probe_cell: Atoms,
                    force_constants: ForceConstants, symprec: float = DEFAULT_SYMPREC,
                    n_probe_rotations: int = 2) -> RunDiagnostics:
    """The checks of a phonon or kappa run.

    Parameters
    ----------
    model
        The model used (symmetrized or not); the equivariance probe uses the raw model under it.
    phonon
        phonopy object holding the fitted force constants.
    probe_cell
        A small periodic cell of the structure; the equivariance probe is a rattled copy of it
        (``n_probe_rotations + 1`` evaluations of the raw model).
    force_constants
        The fit, for its raw sum-rule and permutation diagnostics.
    """
    return RunDiagnostics(
        symmetrization=symmetrization_record(model),
        equivariance=equivariance_error(unwrapped_model(model).calculator, probe_cell,
                                        n_probe_rotations),
        gamma=gamma_modes(phonon, None, symprec),
        raw_asr_violation=force_constants.raw_asr_violation,
        raw_permutation_asymmetry=force_constants.raw_permutation_asymmetry,
    )


def parse_modes(text: str | Sequence[str]) -> tuple[str, ...]:
    """``none,spacegroup,o3,full`` (comma-separated or a list) as a tuple of valid modes."""
    modes = [m.strip() for m in (text.split(",") if isinstance(text, str) else text)]
    modes = [m for m in modes if m]
    for mode in modes:
        symmetrization_settings(mode)
    return tuple(modes)
