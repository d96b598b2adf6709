"""``latdyn qha``: relaxed cell -> volume grid (fixed-volume relaxations) -> FC2 per volume
-> phonopy's QHA fit -> Grüneisen parameters.

Every volume shares the supercell matrix of the relaxed reference cell; the FC2 forces of all
volumes go to the force backend in one batched, cached evaluation (a rerun computes nothing).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

from latdyn.forces import evaluate_forces
from latdyn.harmonic import (
    Displacements,
    DisplacementSettings,
    ForceConstants,
    run_displacements,
    run_fc2,
)
from latdyn.models.loaded import LoadedModel
from latdyn.phonon import Phonons, PhononSettings, run_phonons
from latdyn.provenance import StageTimer, package_versions
from latdyn.qha.gruneisen import Gruneisen, run_gruneisen
from latdyn.qha.qha import QHAInputs, QHAResult, QHASettings, qha_mesh_numbers, run_qha
from latdyn.qha.volumes import VolumeGrid, VolumeGridSettings, run_volume_grid
from latdyn.relax import RelaxSettings
from latdyn.settings import ExecutionSettings, ModelSettings, model_settings
from latdyn.structure.supercell import DEFAULT_MIN_LENGTH, unitcell_indices
from latdyn.symmetrize import symmetrization_record
from latdyn.workflows.phonons import resolve_supercell, structure_summary
from latdyn.workflows.prepare import PreparedStructure, prepare_structure

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QHAWorkflowSettings:
    """Settings of ``latdyn qha`` (shared by the API, the CLI and config files).

    Attributes
    ----------
    model, execution
        The MLIP (name, device, symmetrization) and the force cache and progress bars, as
        ``latdyn phonons``.
    relax, relax_settings
        Relax the input structure (positions and cell) before building the volume grid, and
        how (also used for the fixed-volume relaxations).
    volumes
        The volume grid and its fixed-volume relaxations.
    qha
        Equation of state, pressure, q-mesh and temperatures of the fit.
    supercell, min_length
        FC2 supercell (3 or 9 integers relative to the standardized primitive cell) or the
        automatic choice's minimum face-to-face width (Å), fixed at the reference volume.
    distance, fc_solver
        Displacement amplitude (Å) and FC2 solver, as ``latdyn phonons``.
    band_npoints
        q-points per band segment of the Grüneisen dispersion.
    symprec
        Symmetry tolerance (Å).
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    relax: bool = True
    relax_settings: RelaxSettings = field(default_factory=RelaxSettings)
    volumes: VolumeGridSettings = field(default_factory=VolumeGridSettings)
    qha: QHASettings = field(default_factory=QHASettings)
    supercell: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH
    distance: float = 0.01
    fc_solver: str = "symfc"
    band_npoints: int = 51
    symprec: float = 1e-5

    def __post_init__(self):
        object.__setattr__(self, "model", model_settings(self.model))


@dataclass(frozen=True)
class QHAWorkflowResult:
    """Everything ``latdyn qha`` computed.

    Attributes
    ----------
    structure
        The relaxed reference structure.
    grid
        The cells at each volume, their energies and fixed-volume relaxations.
    displacements, force_constants, phonons
        Per volume (ascending): displaced supercells, FC2, bands/mesh/imaginary-mode report.
    n_computed, n_cached
        FC2 supercells the model evaluated, and those read from the cache.
    qha
        The quasi-harmonic thermodynamics.
    gruneisen
        Mode Grüneisen parameters at the reference volume and γ(T).
    model, timings, settings, symmetrization
        Model provenance, wall time per stage (s), settings used, symmetrization record.
    """

    structure: PreparedStructure
    grid: VolumeGrid
    displacements: tuple
    force_constants: tuple
    phonons: tuple
    n_computed: int
    n_cached: int
    qha: QHAResult
    gruneisen: Gruneisen
    model: dict
    timings: dict
    settings: QHAWorkflowSettings
    symmetrization: dict

    @property
    def imaginary(self) -> np.ndarray:
        """Whether each volume has imaginary modes, ``(n_volumes,)``."""
        return np.array([p.imaginary.has_imaginary for p in self.phonons])


def _band_paths(phonons: Phonons) -> list[np.ndarray]:
    starts = list(phonons.band_segment_starts) + [len(phonons.band_qpoints)]
    return [phonons.band_qpoints[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]


def _fc2_forces(backend, displacements: list[Displacements], cells: list[Atoms],
                cache, progress: bool, small_cells_exact: bool):
    """Forces (residual subtracted) of every volume's displaced supercells: the displaced
    supercells of all volumes in one batched call, the undisplaced cells in another."""
    perfect = list(cells) if small_cells_exact else [d.supercell for d in displacements]
    residuals = evaluate_forces(backend, perfect, cache, progress=False).forces
    displaced = [atoms for d in displacements for atoms in d.displaced]
    evaluation = evaluate_forces(backend, displaced, cache, progress=progress,
                                 desc=f"FC2 supercells ({len(cells)} volumes)")
    forces, offset = [], 0
    for k, d in enumerate(displacements):
        residual = residuals[k]
        if small_cells_exact:
            residual = residual[unitcell_indices(cells[k], d.supercell)]
        n = len(d.displaced)
        forces.append(evaluation.forces[offset:offset + n] - residual[None])
        offset += n
    return forces, evaluation


def run_qha_workflow(
    atoms: Atoms,
    settings: QHAWorkflowSettings | None = None,
    model: LoadedModel | None = None,
) -> QHAWorkflowResult:
    """Run the quasi-harmonic pipeline on ``atoms`` (``model`` may be a loaded model)."""
    settings = settings or QHAWorkflowSettings()
    timer = StageTimer()
    with timer.stage("load_model"):
        model, backend = settings.model.load(settings.symprec, model)
    with timer.stage("relax"):
        structure = prepare_structure(atoms, model, settings.relax, settings.relax_settings,
                                      settings.symprec)
    with timer.stage("volume_relax"):
        grid = run_volume_grid(structure.atoms, model.calculator, settings.volumes)
    with timer.stage("displacements"):
        matrix = resolve_supercell(structure.atoms, settings.supercell, settings.min_length,
                                   settings.symprec)
        displacement_settings = DisplacementSettings(
            supercell_matrix=tuple(map(tuple, matrix.tolist())), distance=settings.distance,
            symprec=settings.symprec)
        displacements = [run_displacements(cell, displacement_settings) for cell in grid.cells]
    cache = settings.execution.cache()
    with timer.stage("forces"):
        forces, evaluation = _fc2_forces(backend, displacements, list(grid.cells),
                                         cache, settings.execution.progress,
                                         model.small_cells_exact)
    with timer.stage("fc2"):
        force_constants: list[ForceConstants] = [
            run_fc2(d.phonopy, f, settings.fc_solver)
            for d, f in zip(displacements, forces, strict=True)]
    phonopys = [d.phonopy for d in displacements]
    reference = grid.reference_index
    with timer.stage("phonons"):
        mesh = tuple(int(m) for m in qha_mesh_numbers(phonopys[reference], settings.qha.mesh))
        phonon_settings = PhononSettings(band_npoints=settings.band_npoints, mesh=mesh,
                                         t_step=100.0, projected_dos=False)
        phonons = [run_phonons(ph, phonon_settings) for ph in phonopys]
    with timer.stage("fit"):
        qha = run_qha(QHAInputs(phonopys=phonopys, energies=grid.energies,
                                imaginary=[p.imaginary.has_imaginary for p in phonons],
                                reference_index=reference), settings.qha)
    with timer.stage("gruneisen"):
        gruneisen = run_gruneisen(phonopys[reference - 1], phonopys[reference],
                                  phonopys[reference + 1], _band_paths(phonons[reference]),
                                  mesh, qha.temperatures)
    return QHAWorkflowResult(
        structure=structure, grid=grid, displacements=tuple(displacements),
        force_constants=tuple(force_constants), phonons=tuple(phonons),
        n_computed=evaluation.n_computed, n_cached=evaluation.n_cached, qha=qha,
        gruneisen=gruneisen, model=model.provenance(), timings=dict(timer.seconds),
        settings=settings, symmetrization=symmetrization_record(model),
    )


def _value_at(temperatures: np.ndarray, values: np.ndarray, t: float) -> float | None:
    """``values`` at ``t`` on the grid, or ``None`` when ``t`` is beyond it."""
    k = np.flatnonzero(np.isclose(temperatures, t))
    return float(values[k[0]]) if len(k) else None


def qha_summary(result: QHAWorkflowResult, inputs: dict) -> dict:
    """The content of ``summary.json`` for a QHA run."""
    qha, gruneisen, grid = result.qha, result.gruneisen, result.grid
    temps = qha.temperatures
    v0 = float(qha.equilibrium_volumes[0])
    at_300 = {
        "volume_A3": _value_at(temps, qha.equilibrium_volumes, 300.0),
        "volume_change_from_0K": None,
        "volumetric_expansion_per_K": _value_at(temps, qha.volumetric_expansion, 300.0),
        "linear_expansion_per_K": _value_at(temps, qha.linear_expansion, 300.0),
        "bulk_modulus_GPa": _value_at(temps, qha.bulk_modulus, 300.0),
        "heat_capacity_p_J_per_K_mol": _value_at(temps, qha.heat_capacity_p, 300.0),
        "heat_capacity_v_J_per_K_mol": _value_at(temps, qha.heat_capacity_v, 300.0),
        "gruneisen_thermodynamic": _value_at(temps, qha.gruneisen, 300.0),
        "gruneisen_mode_average": _value_at(temps, gruneisen.average, 300.0),
    }
    if at_300["volume_A3"] is not None and temps[0] == 0:
        at_300["volume_change_from_0K"] = at_300["volume_A3"] / v0 - 1.0
    matrix = np.array(result.displacements[0].settings.supercell_matrix)
    relaxations = [r for r in grid.relaxations if r is not None]
    return {
        "command": "qha",
        "inputs": inputs,
        "settings": asdict(result.settings),
        "model": result.model,
        "symmetrization": result.symmetrization,
        "versions": package_versions(),
        "structure": structure_summary(result.structure),
        "supercell": {"matrix": matrix.tolist(),
                      "n_atoms": len(result.displacements[0].supercell)},
        "volumes": {
            "n_volumes": len(grid.volumes),
            "strain_range": result.settings.volumes.strain_range,
            "volumes_A3": grid.volumes.tolist(),
            "energies_eV": grid.energies.tolist(),
            "fixed_volume_relaxation": (
                "none" if not result.settings.volumes.relax else
                "positions and cell shape at constant volume (FixSymmetry + "
                "FrechetCellFilter(constant_volume=True))" if grid.shape_relaxed else
                "positions at fixed cubic cell (FixSymmetry)"),
            "relaxations_converged": all(r.converged for r in relaxations),
            "max_relaxation_steps": max((r.n_steps for r in relaxations), default=0),
            "space_groups": sorted({str(r.symmetry_after) for r in relaxations}),
            "imaginary_modes": result.imaginary.tolist(),
            "lowest_frequency_THz": [p.imaginary.min_frequency for p in result.phonons],
            "fitted": qha.fitted.tolist(),
        },
        "displacements": {
            "distance_A": result.settings.distance,
            "n_displaced_supercells_per_volume": [d.n_supercells for d in result.displacements],
            "n_computed": result.n_computed,
            "n_from_cache": result.n_cached,
        },
        "qha": {
            "eos": qha.eos,
            "pressure_GPa": qha.pressure,
            "mesh": qha.mesh.tolist(),
            "static_eos": qha.static_eos,
            "t_max_requested_K": qha.t_max_requested,
            "t_max_trusted_K": qha.t_max_trusted,
            "truncated": qha.truncated,
            "volume_0K_A3": v0,
            "at_300K": at_300,
        },
        "gruneisen": {
            "volumes_A3": list(gruneisen.volumes),
            "mesh": gruneisen.mesh.tolist(),
            "mode_average_high_temperature": gruneisen.high_temperature_average,
        },
        "timings_s": {**result.timings, "total": sum(result.timings.values())},
    }
