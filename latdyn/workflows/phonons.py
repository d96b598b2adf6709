"""``latdyn phonons``: structure -> relaxed cell -> displacements -> forces -> FC2 -> phonons."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from latdyn.diagnostics import RunDiagnostics, run_diagnostics
from latdyn.diagnostics.output import diagnostics_summary
from latdyn.forces import ForceCache, ForceEvaluation, evaluate_forces
from latdyn.harmonic import (
    Displacements,
    DisplacementSettings,
    ForceConstants,
    run_displacements,
    run_fc2,
)
from latdyn.harmonic.nac import nac_summary, read_nac_params, standard_rotation
from latdyn.models.loaded import LoadedModel
from latdyn.phonon import Phonons, PhononSettings, run_phonons
from latdyn.phonon.phonons import mesh_numbers
from latdyn.provenance import StageTimer, package_versions
from latdyn.relax import RelaxSettings
from latdyn.settings import ExecutionSettings, ModelSettings, model_settings, settings_record
from latdyn.structure.supercell import (
    DEFAULT_MIN_LENGTH,
    choose_supercell,
    parse_supercell,
    unitcell_indices,
)
from latdyn.structure.symmetry import standardize_primitive
from latdyn.workflows.prepare import PreparedStructure, prepare_structure
from latdyn.workflows.stage_notes import (
    diagnostics_note,
    forces_note,
    phonon_note,
    relax_note,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhononWorkflowSettings:
    """Settings of ``latdyn phonons`` (shared by the API, the CLI and config files).

    Attributes
    ----------
    model
        The MLIP, its device and symmetrization (a bare name: that model on the CPU).
    execution
        Force cache and progress bars.
    relax
        Relax positions and cell before the phonon calculation.
    relax_settings
        How to relax.
    supercell
        3 or 9 integers relative to the standardized primitive cell; ``None`` chooses
        automatically (see ``min_length``).
    min_length
        Minimum face-to-face width (Å) of the automatic supercell.
    distance
        Displacement amplitude (Å).
    fc_solver
        ``symfc`` (sum rules enforced) or ``traditional``.
    phonons
        What phonon properties to compute.
    symprec
        Symmetry tolerance (Å).
    born
        phonopy ``BORN`` file of the NAC (polar crystals; tensors in the input structure's
        frame, see :mod:`latdyn.harmonic.nac`), or ``None`` for no NAC.
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    relax: bool = True
    relax_settings: RelaxSettings = field(default_factory=RelaxSettings)
    supercell: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH
    distance: float = 0.01
    fc_solver: str = "symfc"
    phonons: PhononSettings = field(default_factory=PhononSettings)
    symprec: float = 1e-5
    born: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "model", model_settings(self.model))


@dataclass(frozen=True)
class PhononWorkflowResult:
    """Everything ``latdyn phonons`` computed.

    Attributes
    ----------
    structure
        The prepared (standardized, relaxed) structure.
    displacements
        Displaced supercells; ``displacements.phonopy`` holds the fitted force constants.
    residual_forces
        Forces on the undisplaced supercell (eV/Å, ``(n_atoms, 3)``), subtracted from each set.
    force_sets
        Forces on the displaced supercells, before the residual is subtracted.
    force_constants
        The fitted FC2.
    phonons
        Bands, DOS, thermal properties.
    model
        Provenance of the model.
    timings
        Wall time per stage (s).
    settings
        The settings used.
    diagnostics
        Symmetrization used and the model's symmetry diagnostics.
    nac_params
        phonopy's NAC parameters applied to the phonons, or ``None``.
    """

    structure: PreparedStructure
    displacements: Displacements
    residual_forces: np.ndarray
    force_sets: ForceEvaluation
    force_constants: ForceConstants
    phonons: Phonons
    model: dict
    timings: dict
    settings: PhononWorkflowSettings
    diagnostics: RunDiagnostics
    nac_params: dict | None = None


def input_nac_params(atoms: Atoms, born: str | None, symprec: float) -> dict | None:
    """NAC parameters of ``born`` for the standardized primitive cell of the input ``atoms``
    (``None`` without a file); read before any work so that a bad file fails at once."""
    if born is None:
        return None
    primitive = standardize_primitive(atoms, symprec)
    return read_nac_params(born, primitive, symprec, standard_rotation(atoms, symprec))


def resolve_supercell(atoms: Atoms, supercell, min_length: float, symprec: float) -> np.ndarray:
    """The 3x3 supercell matrix: the given one, or the automatic choice."""
    if supercell is None:
        return choose_supercell(atoms, min_length=min_length, symprec=symprec)
    return parse_supercell(supercell)


def compute_supercell_forces(
    backend, perfect: Atoms, displaced, cache: ForceCache | None, progress: bool, desc: str,
    unitcell: Atoms | None = None,
) -> tuple[np.ndarray, ForceEvaluation]:
    """Residual forces on ``perfect`` and forces on ``displaced`` (same cache and backend).

    With ``unitcell`` (of which ``perfect`` is a repetition) the residual forces are the unit
    cell's, repeated: the same forces for any model that sees atoms through their periodic
    environments, for the price of a unit-cell evaluation instead of a supercell one.
    """
    if unitcell is None:
        residual = evaluate_forces(backend, [perfect], cache, progress=False,
                                   desc="the undisplaced supercell").forces[0]
    else:
        unit_forces = evaluate_forces(backend, [unitcell], cache, progress=False,
                                      desc="the unit cell").forces[0]
        residual = unit_forces[unitcell_indices(unitcell, perfect)]
    evaluation = evaluate_forces(backend, list(displaced), cache, progress=progress, desc=desc)
    return residual, evaluation


def run_phonon_workflow(
    atoms: Atoms,
    settings: PhononWorkflowSettings | None = None,
    model: LoadedModel | None = None,
) -> PhononWorkflowResult:
    """Run the harmonic phonon pipeline on ``atoms``.

    ``model`` may be passed to reuse a loaded model; otherwise ``settings.model`` is loaded.
    """
    settings = settings or PhononWorkflowSettings()
    nac_params = input_nac_params(atoms, settings.born, settings.symprec)
    timer = StageTimer(command="latdyn phonons")
    with timer.stage("load_model", None if model else f"loading {settings.model.name}"):
        model, backend = settings.model.load(settings.symprec, model)
    cache = settings.execution.cache()
    with timer.stage("relax", relax_note(atoms, settings.relax_settings, settings.relax)):
        structure = prepare_structure(
            atoms, model, settings.relax, settings.relax_settings, settings.symprec, cache
        )
    with timer.stage("displacements"):
        matrix = resolve_supercell(
            structure.atoms, settings.supercell, settings.min_length, settings.symprec
        )
        displacements = run_displacements(
            structure.atoms,
            DisplacementSettings(
                supercell_matrix=tuple(map(tuple, matrix.tolist())),
                distance=settings.distance,
                symprec=settings.symprec,
            ),
        )
    with timer.stage("forces", forces_note(displacements.n_supercells,
                                            len(displacements.supercell))):
        residual, force_sets = compute_supercell_forces(
            backend, displacements.supercell, displacements.displaced, cache,
            settings.execution.progress, "FC2 supercells",
            unitcell=structure.atoms if model.small_cells_exact else None,
        )
    with timer.stage("fc2", f"fitting FC2 ({settings.fc_solver})"):
        force_constants = run_fc2(
            displacements.phonopy, force_sets.forces - residual[None], settings.fc_solver
        )
    if nac_params is not None:
        displacements.phonopy.nac_params = nac_params
    note = phonon_note(settings.phonons.band_npoints,
                       mesh_numbers(settings.phonons.mesh, structure.atoms.cell),
                       len(structure.atoms), settings.phonons.projected_dos)
    with timer.stage("phonons", note):
        phonons = run_phonons(displacements.phonopy, settings.phonons)
    with timer.stage("diagnostics", diagnostics_note(8 * len(structure.atoms))):
        # the equivariance probe: a rattled 2x2x2 copy of the unit cell (3 evaluations)
        diagnostics = run_diagnostics(model, displacements.phonopy, structure.atoms.repeat(2),
                                      force_constants, settings.symprec)
    return PhononWorkflowResult(
        structure=structure,
        displacements=displacements,
        residual_forces=residual,
        force_sets=force_sets,
        force_constants=force_constants,
        phonons=phonons,
        model=model.provenance(),
        timings=dict(timer.seconds),
        settings=settings,
        diagnostics=diagnostics,
        nac_params=nac_params,
    )


def structure_summary(structure: PreparedStructure) -> dict:
    """The structure part of ``summary.json``."""
    from latdyn.structure.io import VACUUM_GAP, vacuum_gaps

    atoms = structure.atoms
    relax = structure.relax
    gaps = vacuum_gaps(atoms)
    return {
        "formula": atoms.get_chemical_formula(),
        "vacuum": {"flagged": bool(gaps), "gaps_A": gaps, "threshold_A": VACUUM_GAP},
        "n_atoms_primitive": len(atoms),
        "cell": np.array(atoms.cell).tolist(),
        "space_group_input": str(structure.input_symmetry),
        "space_group_used": str(structure.symmetry),
        "relaxed": relax is not None,
        "relaxation": None if relax is None else {
            "space_group_before": str(relax.symmetry_before),
            "space_group_after": str(relax.symmetry_after),
            "symmetry_changed": relax.symmetry_changed,
            "converged": relax.converged,
            "n_steps": relax.n_steps,
            "max_force_eV_per_A": relax.max_force,
            "energy_eV": relax.energy,
        },
    }


def phonon_summary(result: PhononWorkflowResult, inputs: dict) -> dict:
    """The content of ``summary.json`` for a phonon run."""
    phonons = result.phonons
    fc = result.force_constants
    imaginary = phonons.imaginary
    matrix = np.array(result.displacements.settings.supercell_matrix)
    cache = result.settings.execution.cache_record()
    return {
        "command": "phonons",
        "inputs": inputs,
        # the cache folder actually used (also when $LATDYN_CACHE_DIR or the default chose it)
        "settings": settings_record(result.settings, cache["dir"]),
        "force_cache": cache,
        "model": result.model,
        "versions": package_versions(),
        "structure": structure_summary(result.structure),
        "supercell": {
            "matrix": matrix.tolist(),
            "n_atoms": len(result.displacements.supercell),
        },
        "displacements": {
            "distance_A": result.displacements.settings.distance,
            "n_displaced_supercells": result.displacements.n_supercells,
            "n_computed": result.force_sets.n_computed,
            "n_from_cache": result.force_sets.n_cached,
            "max_residual_force_eV_per_A": float(np.abs(result.residual_forces).max()),
        },
        "force_constants": {
            "solver": fc.solver,
            "raw_asr_violation": fc.raw_asr_violation,
            "raw_permutation_asymmetry": fc.raw_permutation_asymmetry,
            "asr_violation": fc.asr_violation,
        },
        "nac": nac_summary(result.nac_params),
        "symmetrization": result.diagnostics.symmetrization,
        "model_diagnostics": diagnostics_summary(result.diagnostics),
        "phonons": {
            "gamma_frequencies_THz": phonons.gamma_frequencies.tolist(),
            "lowest_frequency_THz": imaginary.min_frequency,
            "lowest_frequency_qpoint": list(imaginary.min_qpoint),
            "has_imaginary_modes": imaginary.has_imaginary,
            "n_imaginary_qpoints": imaginary.n_imaginary_qpoints,
            "imaginary_tolerance_THz": imaginary.tolerance,
            "mesh": phonons.mesh.tolist(),
        },
        "timings_s": {**result.timings, "total": sum(result.timings.values())},
    }
