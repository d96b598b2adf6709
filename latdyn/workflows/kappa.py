"""``latdyn kappa``: structure -> relaxed cell -> FC2 -> gate -> FC3 -> κ.

Shares the phonon pipeline's structure preparation, force backend and force cache: with the
default settings the FC2 supercell, displacements and relaxed structure are those of
``latdyn phonons``, so a κ run after a phonon run on the same structure and model computes no
FC2 forces.

Automatic supercells are the smallest multiples of the conventional cell with all face-to-face
widths at least ``fc2.supercell.min_length`` (10 Å, as for ``phonons``) and
``fc3.supercell.min_length`` (7 Å: FC3 needs many more displaced supercells, and third-order
interactions decay faster; 7 Å gives the 2x2x2 conventional cell of rocksalt/zincblende
compounds with a > 3.5 Å and the 3x3x2 cell of wurtzites, the supercells of the κSRME set).
Settings: :mod:`latdyn.workflows.kappa_settings`; ``summary.json``:
:mod:`latdyn.workflows.kappa_summary`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from latdyn.anharmonic import (
    AnharmonicDisplacements,
    ThirdOrderForceConstants,
    run_anharmonic_displacements,
    run_fc2,
    run_fc3,
)
from latdyn.anharmonic.convergence import FC3Convergence, run_fc3_convergence
from latdyn.anharmonic.holdout import UNUSABLE_RESIDUAL, FC3Holdout, run_fc3_holdout
from latdyn.errors import ModelError
from latdyn.forces import ForceBackend, ForceCache, ForceEvaluation, evaluate_forces
from latdyn.harmonic import ForceConstants
from latdyn.harmonic.nac import read_nac_params, standard_rotation
from latdyn.kappa import Gate, GridFrequencies, Kappa, check_gate, grid_frequencies
from latdyn.kappa import run_kappa as run_conductivity
from latdyn.kappa.gate import GAMMA_ACOUSTIC_TOLERANCE
from latdyn.models.loaded import LoadedModel
from latdyn.provenance import StageTimer
from latdyn.relax import run_relax
from latdyn.structure.convert import to_ase_atoms
from latdyn.structure.symmetry import get_symmetry, standardize_primitive
from latdyn.symmetrize import symmetrization_record
from latdyn.workflows.kappa_protocol import TwoStageRelaxResult, two_stage_relax
from latdyn.workflows.kappa_settings import KappaWorkflowSettings
from latdyn.workflows.phonons import compute_supercell_forces, input_nac_params
from latdyn.workflows.prepare import PreparedStructure, prepare_structure
from latdyn.workflows.stage_notes import forces_note, relax_note

__all__ = ["KappaWorkflowResult", "KappaWorkflowSettings", "check_kappa_physical",
           "run_kappa_workflow"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KappaWorkflowResult:
    """Everything ``latdyn kappa`` computed.

    Attributes
    ----------
    structure
        The structure used (relaxed unless skipped); for a two-stage relaxation ``relax`` is
        :meth:`TwoStageRelaxResult.combined`.
    relax_stages
        Both stages of a two-stage relaxation, else ``None``.
    displacements
        Both supercells and displacement sets; ``displacements.phono3py`` holds FC2 (and FC3).
    fc2_forces
        Forces on the displaced FC2 supercells (before the residual is subtracted).
    fc2_residual_forces
        Forces on the undisplaced FC2 supercell (eV/Å, ``(n_atoms, 3)``).
    fc2
        The fitted FC2.
    harmonic
        Harmonic frequencies on the κ mesh (the gate's input).
    gate
        Whether FC3 and κ were computed, and why not.
    fc3_forces, fc3_residual_forces, fc3, kappa
        FC3 forces (of the first set, with a convergence check), residual, fit and κ; ``None``
        when the gate stopped the run.
    fc3_convergence
        The FC3 convergence check (all its supercells and levels), or ``None``.
    fc3_holdout
        The fitted FC3 against held-out model forces, or ``None``.
    model
        Provenance of the model.
    timings
        Wall time per stage (s).
    settings
        The settings used.
    """

    structure: PreparedStructure
    relax_stages: TwoStageRelaxResult | None
    displacements: AnharmonicDisplacements
    fc2_forces: ForceEvaluation
    fc2_residual_forces: np.ndarray
    fc2: ForceConstants
    harmonic: GridFrequencies
    gate: Gate
    fc3_forces: ForceEvaluation | None
    fc3_residual_forces: np.ndarray | None
    fc3: ThirdOrderForceConstants | None
    kappa: Kappa | None
    fc3_convergence: FC3Convergence | None
    fc3_holdout: FC3Holdout | None
    model: dict
    timings: dict
    settings: KappaWorkflowSettings
    symmetrization: dict

    @property
    def n_fc2_supercells(self) -> int:
        """Displaced FC2 supercells."""
        return len(self.displacements.fc2_displaced)

    @property
    def n_fc3_supercells(self) -> int:
        """Displaced FC3 supercells (generated; computed only if the gate passed; with a
        convergence check, all the check evaluated)."""
        if self.fc3_convergence is not None:
            return len(self.fc3_convergence.displaced)
        return len(self.displacements.fc3_displaced)

    @property
    def n_fc3_computed(self) -> int:
        """FC3 supercells the model evaluated in this run (the rest came from the cache)."""
        if self.fc3_forces is None:
            return 0
        extra = 0 if self.fc3_convergence is None else self.fc3_convergence.n_computed
        return self.fc3_forces.n_computed + extra


def _prepare(
    atoms: Atoms, model: LoadedModel, settings: KappaWorkflowSettings
) -> tuple[PreparedStructure, TwoStageRelaxResult | None]:
    relax_settings = dataclasses.replace(settings.relax_settings, allow_symmetry_change=True)
    if settings.primitive_matrix is None and not settings.two_stage_relax:
        # exactly the structure `latdyn phonons` uses, so its force sets are reused
        structure = prepare_structure(atoms, model, settings.relax, relax_settings,
                                      settings.symprec, settings.execution.cache())
        return structure, None
    model.check_elements(atoms)
    input_symmetry = get_symmetry(atoms, settings.symprec)
    unitcell = atoms.copy()
    unitcell.calc = None
    if settings.primitive_matrix is None:
        unitcell = standardize_primitive(atoms, settings.symprec)
    if not settings.relax:
        return PreparedStructure(atoms=unitcell, input_symmetry=input_symmetry, relax=None), None
    if settings.two_stage_relax:
        stages = two_stage_relax(unitcell, model.calculator, relax_settings)
        combined = stages.combined()
        return PreparedStructure(atoms=combined.atoms, input_symmetry=input_symmetry,
                                 relax=combined), stages
    result = run_relax(unitcell, model.calculator, relax_settings)
    return PreparedStructure(atoms=result.atoms, input_symmetry=input_symmetry,
                             relax=result), None


def _displacements(atoms: Atoms, structure: PreparedStructure,
                   settings: KappaWorkflowSettings) -> AnharmonicDisplacements:
    """Both supercells and displacement sets of the prepared structure (NAC attached)."""
    unitcell = structure.atoms
    fc2_matrix = settings.fc2.supercell.resolve(unitcell, settings.symprec)
    fc3_matrix = settings.fc3.supercell.resolve(unitcell, settings.symprec)
    displacements = run_anharmonic_displacements(
        unitcell, settings.displacement_settings(fc2_matrix, fc3_matrix))
    nac_params = _nac_params(displacements.phono3py, atoms, settings)
    if nac_params is not None:
        displacements.phono3py.nac_params = nac_params
    logger.info("FC2: %d supercells of %d atoms; FC3: %d supercells of %d atoms",
                len(displacements.fc2_displaced), len(displacements.fc2_supercell),
                len(displacements.fc3_displaced), len(displacements.fc3_supercell))
    return displacements


@dataclass(frozen=True)
class _ForceRun:
    """What the force stages share: backend, cache, progress and the residual's unit cell."""

    backend: ForceBackend
    cache: ForceCache | None
    progress: bool
    unitcell: Atoms | None

    def supercells(self, perfect: Atoms, displaced, label: str):
        return compute_supercell_forces(self.backend, perfect, displaced, self.cache,
                                        self.progress, label, unitcell=self.unitcell)


@dataclass(frozen=True)
class _ThirdOrder:
    fc3_forces: ForceEvaluation
    fc3_residual: np.ndarray
    fc3: ThirdOrderForceConstants
    convergence: FC3Convergence | None
    holdout: FC3Holdout | None


def _third_order(displacements: AnharmonicDisplacements, forces: _ForceRun,
                 settings: KappaWorkflowSettings, timer: StageTimer) -> _ThirdOrder:
    """FC3 forces and fit (with the convergence and held-out checks when asked for)."""
    ph3 = displacements.phono3py
    spec = settings.fc3
    with timer.stage("fc3_forces", forces_note(len(displacements.fc3_displaced),
                                               len(displacements.fc3_supercell))):
        residual, evaluation = forces.supercells(
            displacements.fc3_supercell, displacements.fc3_displaced, "FC3 supercells")

    def evaluate(cells, label="FC3 supercells"):
        more = evaluate_forces(forces.backend, cells, forces.cache, forces.progress, label)
        return more.forces - residual[None], more.n_computed

    convergence = holdout = None
    if spec.convergence_settings() is None:
        with timer.stage("fc3", f"fitting FC3 ({settings.fc_solver})"):
            fc3 = run_fc3(ph3, evaluation.forces - residual[None], settings.fc_solver)
    else:
        with timer.stage("fc3"):
            convergence = run_fc3_convergence(
                ph3, evaluation.forces - residual[None], evaluate, settings.kappa,
                spec.convergence_settings(), distance=spec.distance,
                random_seed=settings.random_seed, plus_minus=spec.plus_minus,
                solver=settings.fc_solver, progress=forces.progress,
            )
        fc3 = convergence.fc3
    holdout_settings = spec.holdout_settings(settings.random_seed)
    if holdout_settings is not None:
        with timer.stage("fc3_holdout"):
            holdout = run_fc3_holdout(
                ph3, fc3.fc3, lambda cells: evaluate(cells, "FC3 held-out supercells"),
                holdout_settings)
        logger.info("FC3 held-out residual %.2f%% on %d ± pairs", 100 * holdout.residual,
                    holdout.settings.n_pairs)
        check_fc3_usable(holdout)
    return _ThirdOrder(evaluation, residual, fc3, convergence, holdout)


def run_kappa_workflow(
    atoms: Atoms,
    settings: KappaWorkflowSettings | None = None,
    model: LoadedModel | None = None,
) -> KappaWorkflowResult:
    """Run the κ pipeline on ``atoms``.

    ``model`` may be passed to reuse a loaded (raw) model; otherwise ``settings.model`` is
    loaded. Either way it is symmetrized as ``settings.model`` says. When the gate fails (and
    ``settings.gate.force`` is false) the run stops after the harmonic check: ``fc3``,
    ``kappa`` and the FC3 forces are ``None``.
    """
    settings = settings or KappaWorkflowSettings()
    input_nac_params(atoms, settings.born, settings.symprec)  # a bad BORN file fails at once
    timer = StageTimer(command="latdyn kappa")
    with timer.stage("load_model", None if model else f"loading {settings.model.name}"):
        model, backend = settings.model.load(settings.symprec, model)
    with timer.stage("relax", relax_note(atoms, settings.relax_settings, settings.relax)):
        structure, stages = _prepare(atoms, model, settings)
    with timer.stage("displacements"):
        displacements = _displacements(atoms, structure, settings)
    ph3 = displacements.phono3py
    forces = _ForceRun(backend, settings.execution.cache(), settings.execution.progress,
                       structure.atoms if model.small_cells_exact else None)
    with timer.stage("fc2_forces", forces_note(len(displacements.fc2_displaced),
                                               len(displacements.fc2_supercell))):
        fc2_residual, fc2_forces = forces.supercells(
            displacements.fc2_supercell, displacements.fc2_displaced, "FC2 supercells")
    with timer.stage("fc2", f"fitting FC2 ({settings.fc_solver})"):
        fc2 = run_fc2(ph3, fc2_forces.forces - fc2_residual[None], settings.fc_solver)
    with timer.stage("harmonic_check", "harmonic frequencies on the κ mesh (imaginary modes?)"):
        harmonic = grid_frequencies(ph3, settings.kappa.mesh)
        gate = check_gate(
            harmonic, structure.input_symmetry, structure.symmetry,
            tolerance=settings.gate.imaginary_tolerance,
            gamma_acoustic_tolerance=GAMMA_ACOUSTIC_TOLERANCE,
            allow_symmetry_change=settings.relax_settings.allow_symmetry_change,
            force=settings.gate.force,
        )
    third = kappa = None
    if not gate.proceed:
        logger.warning("no FC3 and κ: %s", "; ".join(gate.reasons))
    else:
        if gate.forced:
            logger.warning("computing κ despite: %s", "; ".join(gate.reasons))
        third = _third_order(displacements, forces, settings, timer)
        n_grid = int(np.prod(harmonic.mesh))
        with timer.stage("kappa", f"κ ({settings.kappa.method}) on the "
                         f"{'x'.join(map(str, harmonic.mesh))} mesh: three-phonon scattering "
                         f"at the irreducible points of {n_grid}"):
            kappa = _run_kappa_step(ph3, settings)
        check_kappa_physical(kappa, fc3_atoms=len(ph3.supercell))
    return KappaWorkflowResult(
        structure=structure,
        relax_stages=stages,
        displacements=displacements,
        fc2_forces=fc2_forces,
        fc2_residual_forces=fc2_residual,
        fc2=fc2,
        harmonic=harmonic,
        gate=gate,
        fc3_forces=None if third is None else third.fc3_forces,
        fc3_residual_forces=None if third is None else third.fc3_residual,
        fc3=None if third is None else third.fc3,
        kappa=kappa,
        fc3_convergence=None if third is None else third.convergence,
        fc3_holdout=None if third is None else third.holdout,
        model=model.provenance(),
        timings=dict(timer.seconds),
        settings=settings,
        symmetrization=symmetrization_record(model),
    )


def _nac_params(ph3, atoms: Atoms, settings: KappaWorkflowSettings) -> dict | None:
    """NAC parameters of ``settings.born`` for ``ph3``'s primitive cell (standardized from
    ``atoms`` unless the structure is used as given)."""
    if settings.born is None:
        return None
    standardized = settings.primitive_matrix is None  # see _prepare
    rotation = standard_rotation(atoms, settings.symprec) if standardized else None
    return read_nac_params(settings.born, to_ase_atoms(ph3.primitive), settings.symprec,
                           rotation)


#: Above this trace-average κ (W/m/K; diamond's is ~2·10³) a result is not physical.
MAX_PHYSICAL_KAPPA = 1e5


def check_fc3_usable(holdout: FC3Holdout) -> None:
    """Refuse an FC3 whose held-out residual is at least :data:`UNUSABLE_RESIDUAL`: it predicts
    less than half of the model's forces, and a κ from it would be reported as a number."""
    if holdout.residual < UNUSABLE_RESIDUAL:
        return
    raise ModelError(
        f"the FC3 misses {holdout.residual:.0%} of the model's held-out forces (at "
        f"{holdout.settings.distance:g} Å): it does not describe the model, so no κ is "
        "reported; a random fit usually needs more supercells (--n-random), a finite-"
        "displacement one a smaller --fc3-displacement")


def check_kappa_physical(kappa: Kappa | None, fc3_atoms: int) -> None:
    """Refuse a κ that is not finite or above :data:`MAX_PHYSICAL_KAPPA`: its three-phonon
    linewidths vanish, so the FC3 is (close to) zero, and no number should be reported."""
    if kappa is None:
        return
    values = np.asarray(kappa.kappa_trace_average)
    if np.all(np.isfinite(values)) and values.max() <= MAX_PHYSICAL_KAPPA:
        return
    worst = int(np.argmax(np.where(np.isfinite(values), values, np.inf)))
    raise ModelError(
        f"κ = {values[worst]:.3g} W/m/K at {kappa.temperatures[worst]:g} K is not physical "
        f"(above {MAX_PHYSICAL_KAPPA:g}): the three-phonon linewidths vanish, so the FC3 is "
        f"(close to) zero; the FC3 supercell ({fc3_atoms} atoms) is usually too small for the "
        "model, or a random fit had too few supercells: use a larger --fc3-supercell or more "
        "--n-random")


def _run_kappa_step(ph3, settings: KappaWorkflowSettings) -> Kappa:
    """κ in this process, or shared among Dask workers."""
    parallel = settings.parallel
    if not parallel.distributed:
        return run_conductivity(ph3, settings.kappa)
    from latdyn.kappa.distributed import run_kappa_distributed
    from latdyn.parallel import dask_client

    with dask_client(parallel.workers, parallel.scheduler) as (client, threads):
        return run_kappa_distributed(ph3, settings.kappa, client, threads=threads)
