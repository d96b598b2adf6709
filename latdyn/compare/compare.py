"""MLIP against DFT phonons on the same cell, supercells and displacements.

The DFT dataset fixes everything: unit cell, supercell and primitive matrices, the displaced
supercells and the NAC parameters. The MLIP's forces are computed on exactly those displaced
supercells (through the force cache), the residual forces of the undisplaced supercell are
subtracted, and both force sets are fitted with the same solver. By default the MLIP uses the
DFT cell as it is (no relaxation), so the two differ only in their forces; ``relax`` relaxes the
atomic positions with the MLIP at the fixed DFT cell first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from ase import Atoms

from latdyn.compare.dataset import DFTDataset, displacement_dataset
from latdyn.errors import InputError
from latdyn.harmonic.solvers import check_solver, resolve_solver
from latdyn.models.loaded import LoadedModel
from latdyn.phonon import Phonons, PhononSettings, run_phonons
from latdyn.provenance import StageTimer
from latdyn.relax import RelaxResult, RelaxSettings, run_relax
from latdyn.settings import ExecutionSettings, ModelSettings, model_settings
from latdyn.structure.convert import to_ase_atoms
from latdyn.symmetrize import symmetrization_record

logger = logging.getLogger(__name__)

#: Largest lattice (Å) and position (Å) deviation of a structure that matches the dataset.
CELL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class CompareSettings:
    """Settings of ``latdyn compare``.

    Attributes
    ----------
    model
        The MLIP, its device and symmetrization (a bare name: that model on the CPU); the
        space group of a symmetrization is found with the dataset's symmetry tolerance.
    execution
        Force cache and progress bars.
    relax
        Relax the atomic positions with the MLIP at the fixed DFT cell (default: use the DFT
        cell and positions as they are).
    relax_settings
        How to relax (``relax_cell`` is ignored: the cell stays fixed).
    fc_solver
        ``auto``: finite differences (``traditional``) for systematic displacements, ``symfc``
        for random ones; or ``symfc`` / ``traditional`` for both DFT and MLIP.
    phonons
        Band path density, DOS mesh (also the mesh of the frequency errors).
    kappa
        Compute κ when the dataset has FC3 forces.
    kappa_mesh
        q-mesh of κ (11x11x11 keeps it quick).
    temperatures
        Temperatures (K) of κ(T).
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    relax: bool = False
    relax_settings: RelaxSettings = field(default_factory=RelaxSettings)
    fc_solver: str = "auto"
    phonons: PhononSettings = field(
        default_factory=lambda: PhononSettings(projected_dos=False, t_max=1000.0, t_step=50.0))
    kappa: bool = True
    kappa_mesh: tuple = (11, 11, 11)
    temperatures: tuple = tuple(float(t) for t in range(100, 1001, 50))

    def __post_init__(self):
        object.__setattr__(self, "model", model_settings(self.model))
        check_solver(self.fc_solver)
        from latdyn.kappa.conductivity import validate_mesh, validate_temperatures

        mesh = validate_mesh(self.kappa_mesh)
        if not isinstance(mesh, tuple):
            raise InputError("the κ mesh needs three integers")
        object.__setattr__(self, "kappa_mesh", mesh)
        object.__setattr__(self, "temperatures", validate_temperatures(self.temperatures))


@dataclass(frozen=True)
class CellMatch:
    """How a structure compares with the dataset's unit cell.

    Attributes
    ----------
    matches
        Same lattice and the same atoms (any order) within :data:`CELL_TOLERANCE`.
    lattice_deviation
        Largest difference of the lattice vectors (Å).
    position_deviation
        Largest distance from an atom to the nearest same-element dataset atom (Å); ``inf``
        when the compositions differ.
    message
        What differs (empty when it matches).
    """

    matches: bool
    lattice_deviation: float
    position_deviation: float
    message: str


def match_cell(atoms: Atoms, unitcell: Atoms, tolerance: float = CELL_TOLERANCE) -> CellMatch:
    """Compare ``atoms`` with the dataset's ``unitcell``."""
    lattice = float(np.abs(np.array(atoms.cell) - np.array(unitcell.cell)).max())
    if len(atoms) != len(unitcell) or \
            sorted(atoms.get_chemical_symbols()) != sorted(unitcell.get_chemical_symbols()):
        return CellMatch(False, lattice, float("inf"),
                         f"composition {atoms.get_chemical_formula()} ({len(atoms)} atoms) "
                         f"differs from the dataset's {unitcell.get_chemical_formula()} "
                         f"({len(unitcell)} atoms)")
    cell = np.array(unitcell.cell)
    scaled = np.linalg.solve(cell.T, atoms.positions.T).T
    reference = unitcell.get_scaled_positions(wrap=False)
    worst = 0.0
    for symbol, position in zip(atoms.get_chemical_symbols(), scaled, strict=True):
        same = np.array([s == symbol for s in unitcell.get_chemical_symbols()])
        delta = position[None] - reference[same]
        delta -= np.rint(delta)
        worst = max(worst, float(np.linalg.norm(delta @ cell, axis=1).min()))
    problems = []
    if lattice > tolerance:
        problems.append(f"lattice vectors differ by up to {lattice:.4g} Å")
    if worst > tolerance:
        problems.append(f"atoms are up to {worst:.4g} Å from the dataset's")
    return CellMatch(not problems, lattice, worst, "; ".join(problems))


@dataclass(frozen=True)
class FrequencyStats:
    """MLIP minus DFT frequencies over the irreducible q-points of a mesh (weighted).

    Attributes
    ----------
    mae, rmse
        Mean absolute and root-mean-square difference (THz).
    max_abs
        Largest absolute difference (THz).
    mean_difference
        Mean signed difference (THz); negative means the MLIP is softer.
    mesh
        The mesh, ``(3,)``.
    n_qpoints
        Irreducible q-points.
    qpoints, weights
        ``(n_q, 3)`` and ``(n_q,)``.
    dft, mlip
        Frequencies ``(n_q, n_bands)`` THz.
    """

    mae: float
    rmse: float
    max_abs: float
    mean_difference: float
    mesh: np.ndarray
    n_qpoints: int
    qpoints: np.ndarray
    weights: np.ndarray
    dft: np.ndarray
    mlip: np.ndarray


@dataclass(frozen=True)
class Comparison:
    """DFT and MLIP phonons (and κ) of one dataset.

    Attributes
    ----------
    dataset
        The DFT dataset (its ``model`` holds the DFT force constants).
    mlip_model
        The MLIP's ``Phonopy`` or ``Phono3py`` object (same cell, displacements, NAC).
    dft, mlip
        Bands, DOS and thermal properties. Both primitive cells have the same lattice and
        space group, so the automatic band path (seekpath) is the same.
    frequencies
        Frequency differences on the mesh.
    gamma_dft, gamma_mlip
        Frequencies at Γ ``(n_bands,)`` THz (without the NAC direction term).
    kappa_dft, kappa_mlip
        κ (:class:`latdyn.kappa.Kappa`, RTA) or ``None`` without FC3 data or with ``kappa``
        off.
    relax
        The fixed-cell relaxation, or ``None``.
    fc_solver
        The solver used for both.
    n_supercells
        Displaced supercells the MLIP evaluated: ``{"fc2": n, "fc3": n}``.
    n_computed, n_cached
        Supercells computed now and taken from the cache.
    max_residual_force
        Largest MLIP force on the undisplaced supercell(s) (eV/Å), subtracted from each set.
    model
        Provenance of the MLIP.
    symmetrization
        Mode, settings and cost multiplier of the MLIP's symmetrization (see
        :func:`latdyn.symmetrize.symmetrization_record`).
    timings
        Wall time per stage (s).
    settings
        The settings used.
    """

    dataset: DFTDataset
    mlip_model: object
    dft: Phonons
    mlip: Phonons
    frequencies: FrequencyStats
    gamma_dft: np.ndarray
    gamma_mlip: np.ndarray
    kappa_dft: object | None
    kappa_mlip: object | None
    relax: RelaxResult | None
    fc_solver: str
    n_supercells: dict
    n_computed: int
    n_cached: int
    max_residual_force: float
    model: dict
    symmetrization: dict
    timings: dict
    settings: CompareSettings

    @property
    def kappa_ratio(self) -> float | None:
        """MLIP over DFT trace-averaged κ at 300 K (or the first temperature)."""
        if self.kappa_dft is None or self.kappa_mlip is None:
            return None
        k = kappa_temperature_index(self.kappa_dft.temperatures)
        return float(self.kappa_mlip.kappa_trace_average[k] / self.kappa_dft.kappa_trace_average[k])


def kappa_temperature_index(temperatures: np.ndarray, target: float = 300.0) -> int:
    """Index of ``target`` K in ``temperatures``, else of the nearest one."""
    return int(np.argmin(np.abs(np.asarray(temperatures) - target)))


def _fc_calculator(solver: str) -> str | None:
    return None if solver == "traditional" else solver


def _fit_force_constants(model, kind: str, solver: str, with_fc3: bool) -> None:
    """Fit the force constants of ``model`` (the DFT dataset's or the MLIP's phonopy /
    phono3py object, ``kind``) from its forces, both the same way."""
    if kind == "phonopy":
        model.produce_force_constants(fc_calculator=_fc_calculator(solver), show_drift=False)
        return
    model.produce_fc2(fc_calculator=_fc_calculator(solver), symmetrize_fc2=True)
    if with_fc3:
        model.produce_fc3(fc_calculator=_fc_calculator(solver), symmetrize_fc3r=True)


def _mlip_unitcell(dataset: DFTDataset, positions_from: Atoms | None):
    cell = dataset.model.unitcell.copy()
    if positions_from is not None:
        cell.scaled_positions = positions_from.get_scaled_positions(wrap=False)
    return cell


def _build_mlip(dataset: DFTDataset, unitcell, with_fc3: bool):
    """A Phonopy/Phono3py object with the dataset's matrices, displacements and NAC."""
    dft = dataset.model
    symprec = dft.symmetry.tolerance
    if dataset.kind == "phonopy":
        from phonopy import Phonopy

        model = Phonopy(unitcell, supercell_matrix=dataset.supercell_matrix,
                        primitive_matrix=dataset.primitive_matrix, symprec=symprec)
        model.dataset = displacement_dataset(dft.dataset)
    else:
        from phono3py import Phono3py

        model = Phono3py(unitcell, supercell_matrix=dataset.fc3_supercell_matrix,
                         phonon_supercell_matrix=dft.phonon_supercell_matrix,
                         primitive_matrix=dataset.primitive_matrix, symprec=symprec,
                         log_level=0)
        if dft.phonon_dataset is not None:
            model.phonon_dataset = displacement_dataset(dft.phonon_dataset)
        if with_fc3 or dft.phonon_dataset is None:
            model.dataset = displacement_dataset(dft.dataset)
    if dft.nac_params is not None:
        model.nac_params = dft.nac_params
    return model


def _force_set(backend, unitcell, perfect, displaced, cache, progress, desc):
    """Forces minus the residual of ``perfect`` (from ``unitcell`` unless ``None``); ``None``
    supercells get zero forces."""
    from latdyn.workflows.phonons import compute_supercell_forces

    present = [i for i, cell in enumerate(displaced) if cell is not None]
    residual, evaluation = compute_supercell_forces(
        backend, to_ase_atoms(perfect), [to_ase_atoms(displaced[i]) for i in present], cache,
        progress, desc, unitcell=None if unitcell is None else to_ase_atoms(unitcell))
    forces = np.zeros((len(displaced), len(perfect), 3))
    forces[present] = evaluation.forces - residual[None]
    return forces, evaluation, float(np.abs(residual).max())


def _mlip_forces(mlip, kind: str, backend, residual_cell, execution) -> list[tuple]:
    """The model's forces on the dataset's displaced supercells, set on ``mlip``; one
    ``(name, evaluation, largest residual force)`` per set (``fc2``, ``fc3``)."""
    cache, progress = execution.cache(), execution.progress
    if kind == "phonopy":
        forces, evaluation, residual = _force_set(
            backend, residual_cell, mlip.supercell, mlip.supercells_with_displacements,
            cache, progress, "FC2 supercells")
        mlip.forces = forces
        return [("fc2", evaluation, residual)]
    sets = []
    if mlip.phonon_dataset is not None:
        forces, evaluation, residual = _force_set(
            backend, residual_cell, mlip.phonon_supercell,
            mlip.phonon_supercells_with_displacements, cache, progress, "FC2 supercells")
        mlip.phonon_forces = forces
        sets.append(("fc2", evaluation, residual))
    if mlip.dataset is not None:
        forces, evaluation, residual = _force_set(
            backend, residual_cell, mlip.supercell, mlip.supercells_with_displacements,
            cache, progress, "FC3 supercells")
        mlip.forces = forces
        sets.append(("fc3", evaluation, residual))
    return sets


def _phonopy_for_fc2(model, kind: str):
    """The harmonic ``Phonopy`` object of ``model`` (itself for phonopy; from FC2 for phono3py)."""
    if kind == "phonopy":
        return model
    from phonopy import Phonopy

    matrix = model.phonon_supercell_matrix
    phonon = Phonopy(model.unitcell,
                     supercell_matrix=model.supercell_matrix if matrix is None else matrix,
                     primitive_matrix=model.primitive_matrix, symprec=model.symmetry.tolerance)
    phonon.force_constants = model.fc2
    if model.nac_params is not None:
        phonon.nac_params = model.nac_params
    return phonon


def _frequency_stats(dft_phonon, mlip_phonon, mesh) -> FrequencyStats:
    dft_phonon.run_mesh(mesh, is_gamma_center=True, is_mesh_symmetry=True)
    qpoints = np.array(dft_phonon.mesh.qpoints)
    weights = np.array(dft_phonon.mesh.weights, dtype=float)
    dft = np.array(dft_phonon.mesh.frequencies)
    mlip_phonon.run_qpoints(qpoints)
    mlip = np.array(mlip_phonon.qpoints.frequencies)
    difference = mlip - dft
    w = np.repeat(weights[:, None], difference.shape[1], axis=1)
    return FrequencyStats(
        mae=float((np.abs(difference) * w).sum() / w.sum()),
        rmse=float(np.sqrt((difference**2 * w).sum() / w.sum())),
        max_abs=float(np.abs(difference).max()),
        mean_difference=float((difference * w).sum() / w.sum()),
        mesh=np.array(dft_phonon.mesh.mesh_numbers),
        n_qpoints=len(qpoints),
        qpoints=qpoints,
        weights=weights,
        dft=dft,
        mlip=mlip,
    )


def _gamma(phonon) -> np.ndarray:
    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    return np.array(phonon.qpoints.frequencies[0])


def _check_unit_cell(atoms: Atoms, dataset: DFTDataset) -> None:
    """Raise :class:`InputError` unless ``atoms`` is the dataset's unit cell."""
    check = match_cell(atoms, dataset.unitcell)
    if not check.matches:
        raise InputError(f"the structure is not the unit cell of the DFT dataset in "
                         f"{dataset.directory}: {check.message}; give the dataset's own "
                         "unit cell (e.g. its POSCAR-unitcell)")


def _kappa_pair(dft, mlip, settings: CompareSettings):
    """κ (RTA, no isotopes, no boundary) of the DFT and of the MLIP phono3py objects."""
    from latdyn.kappa import KappaSettings, run_kappa

    kappa_settings = KappaSettings(mesh=settings.kappa_mesh, temperatures=settings.temperatures,
                                   method="rta", isotope=False, boundary_mfp=None)
    return run_kappa(dft, kappa_settings), run_kappa(mlip, kappa_settings)


def run_compare(
    atoms: Atoms | None,
    dataset: DFTDataset,
    settings: CompareSettings | None = None,
    model: LoadedModel | None = None,
) -> Comparison:
    """Compare the MLIP with the DFT ``dataset`` (one stage after another: check, fit both,
    phonons, κ, figures' data; kept in one function so the order of the stages reads in one
    place).

    Parameters
    ----------
    atoms
        The structure the user gave; it must match the dataset's unit cell (``None`` skips the
        check).
    model
        A loaded model to reuse; otherwise ``settings.model`` is loaded. Either way it is
        symmetrized as ``settings`` asks.

    Raises
    ------
    InputError
        ``atoms`` is not the dataset's unit cell, or the solver cannot fit the dataset.
    """
    settings = settings or CompareSettings()
    if atoms is not None:
        _check_unit_cell(atoms, dataset)
    solver = resolve_solver(settings.fc_solver, dataset.is_random)
    with_fc3 = dataset.has_fc3 and settings.kappa
    timer = StageTimer()
    with timer.stage("load_model"):
        model, backend = settings.model.load(dataset.model.symmetry.tolerance, model)
        model.check_elements(dataset.unitcell)
    with timer.stage("dft_force_constants"):
        _fit_force_constants(dataset.model, dataset.kind, solver, with_fc3)
    relax = None
    if settings.relax:
        with timer.stage("relax"):
            relax = run_relax(dataset.unitcell, model.calculator,
                              replace(settings.relax_settings, relax_cell=False))
    mlip = _build_mlip(dataset, _mlip_unitcell(dataset, relax.atoms if relax else None),
                       with_fc3)
    with timer.stage("forces"):
        sets = _mlip_forces(mlip, dataset.kind, backend,
                            mlip.unitcell if model.small_cells_exact else None, settings.execution)
    n_supercells = {name: e.n_computed + e.n_cached for name, e, _ in sets}
    n_computed = sum(e.n_computed for _, e, _ in sets)
    n_cached = sum(e.n_cached for _, e, _ in sets)
    residuals = [residual for _, _, residual in sets]
    with timer.stage("mlip_force_constants"):
        _fit_force_constants(mlip, dataset.kind, solver, with_fc3)
    dft_phonon = _phonopy_for_fc2(dataset.model, dataset.kind)
    mlip_phonon = _phonopy_for_fc2(mlip, dataset.kind)
    with timer.stage("phonons"):
        dft_phonons = run_phonons(dft_phonon, settings.phonons)
        mlip_phonons = run_phonons(mlip_phonon, settings.phonons)
        stats = _frequency_stats(dft_phonon, mlip_phonon, list(dft_phonons.mesh))
        gamma_dft, gamma_mlip = _gamma(dft_phonon), _gamma(mlip_phonon)
    kappa_dft = kappa_mlip = None
    if with_fc3:
        with timer.stage("kappa"):
            kappa_dft, kappa_mlip = _kappa_pair(dataset.model, mlip, settings)
    return Comparison(
        dataset=dataset,
        mlip_model=mlip,
        dft=dft_phonons,
        mlip=mlip_phonons,
        frequencies=stats,
        gamma_dft=gamma_dft,
        gamma_mlip=gamma_mlip,
        kappa_dft=kappa_dft,
        kappa_mlip=kappa_mlip,
        relax=relax,
        fc_solver=solver,
        n_supercells=n_supercells,
        n_computed=n_computed,
        n_cached=n_cached,
        max_residual_force=max(residuals) if residuals else 0.0,
        model=model.provenance(),
        symmetrization=symmetrization_record(model),
        timings=dict(timer.seconds),
        settings=settings,
    )
