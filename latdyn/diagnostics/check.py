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
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from latdyn.diagnostics.equivariance import EquivarianceError, equivariance_error
from latdyn.diagnostics.gamma import GammaModes, gamma_modes
from latdyn.errors import InputError
from latdyn.forces import ForceCache, evaluate_forces, make_backend
from latdyn.harmonic import ForceConstants, run_fc2
from latdyn.models.registry import LoadedModel
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
from latdyn.structure.supercell import DEFAULT_MIN_LENGTH, choose_supercell, parse_supercell
from latdyn.structure.symmetry import DEFAULT_SYMPREC, SymmetryInfo, get_symmetry
from latdyn.symmetrize import SYMMETRIZE_MODES, symmetrize_model, unwrapped_model
from latdyn.symmetrize.model import symmetrization_record, symmetrization_settings

logger = logging.getLogger(__name__)


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
    progress
        Show progress bars.
    cache_dir, use_cache
        Force cache folder (``None``: the default) and whether to read and write it.
    """

    modes: tuple[str, ...] = tuple(SYMMETRIZE_MODES)
    rotations: int | None = None
    supercell: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH
    distance: float = 0.01
    n_probe_rotations: int = 4
    symprec: float = DEFAULT_SYMPREC
    progress: bool = True
    cache_dir: str | None = None
    use_cache: bool = True

    def __post_init__(self):
        if not self.modes:
            raise InputError("give at least one symmetrization mode to check")
        for mode in self.modes:
            symmetrization_settings(mode, None, self.symprec)
        if self.rotations is not None:
            symmetrization_settings("o3", self.rotations, self.symprec)
        if not 0 < self.distance < 0.5:
            raise InputError(f"displacement amplitude must be in (0, 0.5) Å, got {self.distance}")
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
    force_seconds
        Wall time of the supercell force evaluations (s).
    cost_multiplier
        ``force_seconds`` over that of mode ``none`` (NaN when ``none`` was not run).
    """

    mode: str
    symmetrization: dict
    equivariance: EquivarianceError
    force_constants: ForceConstants
    gamma: GammaModes
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


def check_model(atoms: Atoms, model: LoadedModel, settings: CheckSettings | None = None
                ) -> ModelCheck:
    """Diagnostics of ``model`` on ``atoms`` with and without each symmetrization mode."""
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
    displaced = [to_ase_atoms(cell) for cell in phonon.supercells_with_displacements]

    cache = ForceCache(settings.cache_dir) if settings.use_cache else None
    checks: list[ModeCheck] = []
    baseline = None
    for mode in settings.modes:
        rotations = settings.rotations if SYMMETRIZE_MODES[mode][0] else None
        wrapped = symmetrize_model(model, mode, rotations, settings.symprec)
        backend = make_backend(wrapped)
        logger.info("check-model: mode %s", mode)
        start = time.perf_counter()
        residual = evaluate_forces(backend, [supercell], cache, progress=False).forces[0]
        forces = evaluate_forces(backend, displaced, cache, progress=settings.progress,
                                 desc=f"{mode} supercells").forces
        seconds = time.perf_counter() - start
        if mode == "none":
            baseline = seconds
        force_constants = run_fc2(phonon, forces - residual[None], solver="traditional")
        checks.append(ModeCheck(
            mode=mode,
            symmetrization=symmetrization_record(wrapped),
            equivariance=equivariance_error(wrapped.calculator, supercell,
                                            settings.n_probe_rotations),
            force_constants=force_constants,
            gamma=gamma_modes(phonon, force_constants.force_constants, settings.symprec),
            force_seconds=seconds,
            cost_multiplier=seconds / baseline if baseline else float("nan"),
        ))
    return ModelCheck(
        primitive=primitive,
        symmetry=symmetry,
        supercell_matrix=np.array(matrix),
        n_supercell_atoms=len(supercell),
        n_displacements=len(displaced),
        model=unwrapped_model(model).provenance(),
        modes=tuple(checks),
        settings=settings,
    )


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
