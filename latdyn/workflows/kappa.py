"""``latdyn kappa``: structure -> relaxed cell -> FC2 -> gate -> FC3 -> κ.

Shares the phonon pipeline's structure preparation, force backend and force cache: with the
default settings the FC2 supercell, displacements and relaxed structure are those of
``latdyn phonons``, so a κ run after a phonon run on the same structure and model computes no
FC2 forces.

Automatic supercells are the smallest multiples of the conventional cell with all face-to-face
widths at least ``fc2_min_length`` (10 Å, as for ``phonons``) and ``fc3_min_length`` (7 Å: FC3
needs many more displaced supercells, and third-order interactions decay faster; 7 Å gives the
2x2x2 conventional cell of rocksalt/zincblende compounds with a > 3.5 Å and the 3x3x2 cell of
wurtzites, the supercells of the κSRME set).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from ase import Atoms

from latdyn.anharmonic import (
    AnharmonicDisplacements,
    AnharmonicDisplacementSettings,
    ThirdOrderForceConstants,
    run_anharmonic_displacements,
    run_fc2,
    run_fc3,
)
from latdyn.anharmonic.convergence import (
    FC3Convergence,
    FC3ConvergenceSettings,
    run_fc3_convergence,
)
from latdyn.anharmonic.fc3 import FC3_SOLVERS
from latdyn.anharmonic.holdout import (
    HOLDOUT_SEED_OFFSET,
    FC3Holdout,
    FC3HoldoutSettings,
    run_fc3_holdout,
)
from latdyn.errors import InputError, ModelError
from latdyn.forces import ForceCache, ForceEvaluation, evaluate_forces, make_backend
from latdyn.forces.cache import cache_record
from latdyn.harmonic import ForceConstants
from latdyn.harmonic.nac import nac_summary, read_nac_params, standard_rotation
from latdyn.kappa import Gate, GridFrequencies, Kappa, KappaSettings, check_gate, grid_frequencies
from latdyn.kappa import run_kappa as run_conductivity
from latdyn.kappa.conductivity import DEFAULT_MESH_DENSITY, VOIGT
from latdyn.kappa.gate import DEFAULT_IMAGINARY_TOLERANCE, GAMMA_ACOUSTIC_TOLERANCE
from latdyn.models.registry import DEFAULT_MODEL, LoadedModel, load_model
from latdyn.provenance import StageTimer, package_versions
from latdyn.relax import RelaxSettings, run_relax
from latdyn.structure.convert import to_ase_atoms
from latdyn.structure.supercell import DEFAULT_MIN_LENGTH, parse_supercell
from latdyn.structure.symmetry import get_symmetry, standardize_primitive
from latdyn.symmetrize import symmetrization_record, symmetrize_model
from latdyn.workflows.kappa_protocol import TwoStageRelaxResult, two_stage_relax
from latdyn.workflows.phonons import (
    compute_supercell_forces,
    input_nac_params,
    resolve_supercell,
    structure_summary,
)
from latdyn.workflows.prepare import PreparedStructure, prepare_structure
from latdyn.workflows.stage_notes import forces_note, relax_note

logger = logging.getLogger(__name__)

#: Default minimum face-to-face width (Å) of the automatic FC3 supercell.
DEFAULT_FC3_MIN_LENGTH = 7.0

#: Protocols: ``default`` (latdyn's choices) or ``ksrme`` (Póta et al. / Matbench Discovery).
PROTOCOLS = ("default", "ksrme")

#: ``atoms.info`` keys the κSRME protocol reads.
KSRME_INFO_KEYS = ("fc2_supercell", "fc3_supercell", "q_mesh")


def _matrix_tuple(value) -> tuple | None:
    if value is None:
        return None
    return tuple(map(tuple, parse_supercell(value).tolist()))


@dataclass(frozen=True)
class KappaWorkflowSettings:
    """Settings of ``latdyn kappa`` (shared by the API, the CLI and config files).

    Attributes
    ----------
    model, device
        Registry name (or import path) and device of the MLIP.
    relax
        Relax before computing force constants.
    relax_settings
        How to relax. ``allow_symmetry_change`` also waives the gate's symmetry check.
    two_stage_relax
        Relax in two stages, the second without ``FixSymmetry`` (κSRME; see
        :mod:`latdyn.workflows.kappa_protocol`).
    primitive_matrix
        ``None``: reduce the structure to its standardized primitive cell and use it as unit
        cell (as ``phonons`` does). Otherwise the structure is used as given as phono3py's unit
        cell, with this primitive matrix (3x3, or ``"auto"``); supercells are then relative to
        the given cell.
    fc2_supercell, fc3_supercell
        3 or 9 integers relative to the unit cell; ``None`` chooses automatically.
    fc2_min_length, fc3_min_length
        Minimum face-to-face widths (Å) of the automatic supercells.
    fc2_distance, fc3_distance
        Displacement amplitudes (Å). FC2 defaults to that of ``phonons`` (cache reuse).
    fc2_plus_minus, fc2_diagonal
        FC2 displacement choices (``True, True`` as ``phonons``; κSRME: ``"auto", False``).
        With random FC2, ``fc2_plus_minus=True`` evaluates each pattern and its opposite.
    fc2_method
        ``fd`` (finite displacements) or ``random`` (``fc2_n_random`` random-displacement
        supercells fitted with symfc).
    fc2_n_random
        Random FC2 supercells.
    fc3_method
        ``fd`` (finite displacements) or ``random`` (random displacements fitted with symfc).
    n_random
        Random FC3 displacement patterns; ``None`` uses phono3py's estimate.
    fc3_plus_minus
        Random FC3: each pattern and its opposite (see
        :class:`latdyn.anharmonic.AnharmonicDisplacementSettings`).
    fc3_convergence
        Random FC3: double the set of supercells until κ on a coarse mesh changes by at most
        this (relative) between doublings (:mod:`latdyn.anharmonic.convergence`); the first
        set is ``n_random`` patterns or twice the number symfc needs at least (as many ± pairs
        with ``fc3_plus_minus``). ``None``: one set, no check.
    fc3_max_random
        Largest set of random FC3 supercells the check may reach (``None``: 8 times the first).
    fc3_holdout
        ± pairs of random displacements (at ``fc3_distance``, seeds apart from the fit's) on
        which the fitted FC3 predicts the model's forces (:mod:`latdyn.anharmonic.holdout`);
        ``0``: no such check.
    random_seed
        Seed of the random displacements.
    fc_solver
        ``symfc`` (sum rules enforced exactly), ``traditional`` (finite differences, then
        phono3py's symmetrization) or ``auto`` (``traditional`` for finite displacements,
        ``symfc`` for random ones, per order).
    mesh
        q-mesh: three integers or a length density (Å).
    temperatures
        Temperatures (K).
    method
        ``rta``, ``wigner`` or ``lbte``.
    isotope
        Include isotope scattering.
    boundary_mfp
        Boundary mean free path (µm) or ``None``.
    imaginary_tolerance
        Gate: modes below minus this (THz) are imaginary (Γ acoustic modes: 0.01 THz).
    force
        Compute FC3 and κ even if the gate fails.
    protocol
        ``default`` or ``ksrme`` (recorded; :func:`ksrme_settings` fills the other fields).
    symprec
        Symmetry tolerance (Å).
    cache_dir, use_cache, progress
        Force cache folder (``None``: default), whether to use it, progress bars.
    symmetrize, rotations
        Symmetrization of the model's predictions (``none``, ``spacegroup``, ``o3``, ``full``)
        and the Lebedev order of the O(3) average (see :mod:`latdyn.symmetrize`).
    kappa_kernel
        Kernel of the κ step's three-phonon linewidths: ``latdyn`` (batched torch kernel on
        ``device``; RTA and Wigner) or ``phono3py``; ``None``: ``latdyn``, ``phono3py`` for LBTE
        (summary.json records the kernel used under ``kappa.kernel``).
    kappa_workers, scheduler
        Share the κ step's grid points among this many local Dask worker processes, or among
        the workers of the Dask scheduler at this address (:mod:`latdyn.kappa.distributed`;
        RTA and Wigner only). ``1`` and ``None``: one process.
    born
        phonopy ``BORN`` file of the NAC (polar crystals), applied to the harmonic check and κ;
        ``None`` for no NAC (see :mod:`latdyn.harmonic.nac`).
    """

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    relax: bool = True
    relax_settings: RelaxSettings = field(default_factory=RelaxSettings)
    two_stage_relax: bool = False
    primitive_matrix: tuple | str | None = None
    fc2_supercell: tuple | None = None
    fc3_supercell: tuple | None = None
    fc2_min_length: float = DEFAULT_MIN_LENGTH
    fc3_min_length: float = DEFAULT_FC3_MIN_LENGTH
    fc2_distance: float = 0.01
    fc3_distance: float = 0.03
    fc2_plus_minus: bool | Literal["auto"] = True
    fc2_diagonal: bool = True
    fc2_method: str = "fd"
    fc2_n_random: int = 1
    fc3_method: str = "fd"
    n_random: int | None = None
    fc3_plus_minus: bool = False
    fc3_convergence: float | None = None
    fc3_max_random: int | None = None
    fc3_holdout: int = 0
    random_seed: int = 0
    fc_solver: str = "symfc"
    mesh: float | tuple = DEFAULT_MESH_DENSITY
    temperatures: tuple = (300.0,)
    method: str = "rta"
    isotope: bool = True
    boundary_mfp: float | None = None
    imaginary_tolerance: float = DEFAULT_IMAGINARY_TOLERANCE
    force: bool = False
    protocol: str = "default"
    symprec: float = 1e-5
    cache_dir: str | None = None
    use_cache: bool = True
    progress: bool = True
    symmetrize: str = "none"
    rotations: int | None = None
    kappa_kernel: str | None = None
    kappa_workers: int = 1
    scheduler: str | None = None
    born: str | None = None

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise InputError(f"unknown protocol {self.protocol!r}; choose one of "
                             f"{', '.join(PROTOCOLS)}")
        if self.fc_solver not in FC3_SOLVERS:
            raise InputError(f"unknown force-constant solver {self.fc_solver!r}; choose one of "
                             f"{', '.join(FC3_SOLVERS)}")
        if "random" in (self.fc2_method, self.fc3_method) and self.fc_solver == "traditional":
            raise InputError("random displacements need the symfc solver; use --fc-solver symfc "
                             "or auto")
        if self.fc3_plus_minus and self.fc3_method != "random":
            raise InputError("FC3 ± pairs need random displacements; add --fc3-method random")
        if self.fc3_convergence is not None:
            if self.fc3_method != "random":
                raise InputError("the FC3 convergence check needs random displacements; add "
                                 "--fc3-method random")
            _ = self.convergence_settings  # validates tolerance and largest set
        if self.fc3_holdout < 0:
            raise InputError(f"the FC3 held-out check needs >= 0 ± pairs, got "
                             f"{self.fc3_holdout}")
        for name in ("fc2_min_length", "fc3_min_length"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        if self.kappa_workers < 1:
            raise InputError(f"the number of κ workers must be >= 1, got {self.kappa_workers}")
        if self.distributed and self.method == "lbte":
            raise InputError("LBTE cannot be split over grid points; use --method rta or wigner "
                             "with several κ workers")
        if self.imaginary_tolerance < 0:
            raise InputError(f"the imaginary-mode tolerance must be >= 0 THz, got "
                             f"{self.imaginary_tolerance}")
        object.__setattr__(self, "fc2_supercell", _matrix_tuple(self.fc2_supercell))
        object.__setattr__(self, "fc3_supercell", _matrix_tuple(self.fc3_supercell))
        if self.primitive_matrix is not None and not isinstance(self.primitive_matrix, str):
            matrix = np.array(self.primitive_matrix, dtype=float)
            if matrix.shape != (3, 3) or abs(np.linalg.det(matrix)) < 1e-6:
                raise InputError(f"primitive matrix must be an invertible 3x3 matrix, got "
                                 f"{matrix.tolist()}")
            object.__setattr__(self, "primitive_matrix", tuple(map(tuple, matrix.tolist())))
        elif isinstance(self.primitive_matrix, str) and self.primitive_matrix != "auto":
            raise InputError(f"primitive matrix must be 3x3 or 'auto', got "
                             f"{self.primitive_matrix!r}")
        kappa = self.kappa_settings  # validates mesh, temperatures, method, boundary
        object.__setattr__(self, "mesh", kappa.mesh)
        object.__setattr__(self, "temperatures", kappa.temperatures)
        # validates distances, FC3 method and number of random supercells
        self.displacement_settings(np.eye(3, dtype=int), np.eye(3, dtype=int))

    @property
    def distributed(self) -> bool:
        """Whether the κ step is shared among Dask workers."""
        return self.kappa_workers > 1 or self.scheduler is not None

    @property
    def convergence_settings(self) -> FC3ConvergenceSettings | None:
        """The FC3 convergence check, or ``None`` without one."""
        if self.fc3_convergence is None:
            return None
        return FC3ConvergenceSettings(tolerance=self.fc3_convergence,
                                      max_supercells=self.fc3_max_random)

    @property
    def holdout_settings(self) -> FC3HoldoutSettings | None:
        """The FC3 held-out check (at the FC3 displacement), or ``None`` without one."""
        if self.fc3_holdout == 0:
            return None
        return FC3HoldoutSettings(n_pairs=self.fc3_holdout, distance=self.fc3_distance,
                                  random_seed=self.random_seed + HOLDOUT_SEED_OFFSET)

    @property
    def kappa_settings(self) -> KappaSettings:
        """The κ part of the settings."""
        return KappaSettings(mesh=self.mesh, temperatures=self.temperatures, method=self.method,
                             isotope=self.isotope, boundary_mfp=self.boundary_mfp,
                             kernel=self.kappa_kernel, device=self.device)

    def displacement_settings(
        self, fc2: np.ndarray, fc3: np.ndarray
    ) -> AnharmonicDisplacementSettings:
        """The displacement part of the settings, for the supercell matrices ``fc2``, ``fc3``."""
        return AnharmonicDisplacementSettings(
            fc2_supercell=tuple(map(tuple, np.asarray(fc2).tolist())),
            fc3_supercell=tuple(map(tuple, np.asarray(fc3).tolist())),
            primitive_matrix=self.primitive_matrix,
            fc2_distance=self.fc2_distance,
            fc3_distance=self.fc3_distance,
            fc2_plus_minus=self.fc2_plus_minus,
            fc2_diagonal=self.fc2_diagonal,
            fc2_method=self.fc2_method,
            fc2_n_random=self.fc2_n_random,
            fc3_method=self.fc3_method,
            n_random=self.n_random,
            # the check starts from twice symfc's minimum number of patterns (± pairs too:
            # a pair's even part determines FC3, so a pair counts as one pattern)
            n_random_factor=2.0 if self.fc3_convergence is not None and not self.fc3_plus_minus
            else 4.0,
            fc3_plus_minus=self.fc3_plus_minus,
            random_seed=self.random_seed,
            symprec=self.symprec,
        )


def ksrme_settings(atoms: Atoms, **overrides) -> KappaWorkflowSettings:
    """Settings of the κSRME protocol (Póta et al., arXiv 2408.00755; Matbench Discovery).

    Two-stage FIRE relaxation (cell angles fixed, ``FixSymmetry`` in stage 1 only, fmax 1e-4
    eV/Å, 300 steps per stage, symprec 1e-5); the structure used as given, with the FC2/FC3
    supercells, q-mesh and primitive matrix of ``atoms.info`` (``"auto"`` when it has none);
    0.03 Å displacements, phono3py's finite differences and symmetrization (``fc_solver="auto"``:
the same for finite displacements, symfc for a random-displacement override); Wigner RTA at
    300 K with isotopes and a 1e6 µm boundary mean free path; no κ with imaginary modes (Γ
    optical < 0, Γ acoustic < -0.01 THz, others < 0) or a changed space group.

    ``overrides`` replace fields of the result (``model``, ``temperatures``, ...).

    Raises
    ------
    InputError
        ``atoms.info`` lacks a key the protocol needs, or an override is not a field.
    """
    missing = [key for key in KSRME_INFO_KEYS if key not in atoms.info]
    if missing:
        raise InputError(
            f"the ksrme protocol needs atoms.info[{', '.join(map(repr, missing))}] "
            "(as in the κSRME structures file phononDB-PBE-structures.extxyz)"
        )
    primitive = atoms.info.get("primitive_matrix")
    settings = KappaWorkflowSettings(
        relax=True,
        relax_settings=RelaxSettings(fmax=1e-4, max_steps=300, optimizer="FIRE",
                                     relax_cell=True, fix_angles=True, fix_symmetry=True,
                                     symprec=1e-5),
        two_stage_relax=True,
        primitive_matrix="auto" if primitive is None else np.asarray(primitive).tolist(),
        fc2_supercell=np.asarray(atoms.info["fc2_supercell"]).tolist(),
        fc3_supercell=np.asarray(atoms.info["fc3_supercell"]).tolist(),
        fc2_distance=0.03,
        fc3_distance=0.03,
        fc2_plus_minus="auto",
        fc2_diagonal=False,
        fc3_method="fd",
        fc_solver="auto",
        mesh=tuple(int(n) for n in np.asarray(atoms.info["q_mesh"]).ravel()),
        temperatures=(300.0,),
        method="wigner",
        isotope=True,
        boundary_mfp=1e6,
        imaginary_tolerance=0.0,
        force=False,
        protocol="ksrme",
        symprec=1e-5,
    )
    names = {f.name for f in dataclasses.fields(KappaWorkflowSettings)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise InputError(f"unknown κ setting(s) {', '.join(unknown)}")
    return dataclasses.replace(settings, **overrides)


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
        cache = ForceCache(settings.cache_dir) if settings.use_cache else None
        structure = prepare_structure(atoms, model, settings.relax, relax_settings,
                                      settings.symprec, cache)
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


def run_kappa_workflow(
    atoms: Atoms,
    settings: KappaWorkflowSettings | None = None,
    model: LoadedModel | None = None,
) -> KappaWorkflowResult:
    """Run the κ pipeline on ``atoms``.

    ``model`` may be passed to reuse a loaded model; otherwise ``settings.model`` is loaded.
    When the gate fails (and ``settings.force`` is false) the run stops after the harmonic
    check: ``fc3``, ``kappa`` and the FC3 forces are ``None``.
    """
    settings = settings or KappaWorkflowSettings()
    input_nac_params(atoms, settings.born, settings.symprec)  # a bad BORN file fails at once
    timer = StageTimer(command="latdyn kappa")
    with timer.stage("load_model", None if model else f"loading {settings.model}"):
        model = model or load_model(settings.model, settings.device)
        model = symmetrize_model(model, settings.symmetrize, settings.rotations, settings.symprec)
    with timer.stage("relax", relax_note(atoms, settings.relax_settings, settings.relax)):
        structure, stages = _prepare(atoms, model, settings)
    with timer.stage("displacements"):
        unitcell = structure.atoms
        fc2_matrix = resolve_supercell(unitcell, settings.fc2_supercell, settings.fc2_min_length,
                                       settings.symprec)
        fc3_matrix = resolve_supercell(unitcell, settings.fc3_supercell, settings.fc3_min_length,
                                       settings.symprec)
        displacements = run_anharmonic_displacements(
            unitcell, settings.displacement_settings(fc2_matrix, fc3_matrix)
        )
    ph3 = displacements.phono3py
    nac_params = _nac_params(ph3, atoms, settings)
    if nac_params is not None:
        ph3.nac_params = nac_params
    logger.info("FC2: %d supercells of %d atoms; FC3: %d supercells of %d atoms",
                len(displacements.fc2_displaced), len(displacements.fc2_supercell),
                len(displacements.fc3_displaced), len(displacements.fc3_supercell))
    cache = ForceCache(settings.cache_dir) if settings.use_cache else None
    backend = make_backend(model)
    residual_cell = unitcell if model.small_cells_exact else None
    with timer.stage("fc2_forces", forces_note(len(displacements.fc2_displaced),
                                               len(displacements.fc2_supercell))):
        fc2_residual, fc2_forces = compute_supercell_forces(
            backend, displacements.fc2_supercell, displacements.fc2_displaced, cache,
            settings.progress, "FC2 supercells", unitcell=residual_cell,
        )
    with timer.stage("fc2", f"fitting FC2 ({settings.fc_solver})"):
        fc2 = run_fc2(ph3, fc2_forces.forces - fc2_residual[None], settings.fc_solver)
    with timer.stage("harmonic_check", "harmonic frequencies on the κ mesh (imaginary modes?)"):
        harmonic = grid_frequencies(ph3, settings.mesh)
        gate = check_gate(
            harmonic,
            structure.input_symmetry,
            structure.symmetry,
            tolerance=settings.imaginary_tolerance,
            gamma_acoustic_tolerance=GAMMA_ACOUSTIC_TOLERANCE,
            allow_symmetry_change=settings.relax_settings.allow_symmetry_change,
            force=settings.force,
        )
    fc3_forces = fc3_residual = fc3 = kappa = convergence = holdout = None
    if not gate.proceed:
        logger.warning("no FC3 and κ: %s", "; ".join(gate.reasons))
    else:
        if gate.forced:
            logger.warning("computing κ despite: %s", "; ".join(gate.reasons))
        with timer.stage("fc3_forces", forces_note(len(displacements.fc3_displaced),
                                                   len(displacements.fc3_supercell))):
            fc3_residual, fc3_forces = compute_supercell_forces(
                backend, displacements.fc3_supercell, displacements.fc3_displaced, cache,
                settings.progress, "FC3 supercells", unitcell=residual_cell,
            )
        def evaluate(cells, label="FC3 supercells"):
            evaluation = evaluate_forces(backend, cells, cache, settings.progress, label)
            return evaluation.forces - fc3_residual[None], evaluation.n_computed

        if settings.convergence_settings is None:
            with timer.stage("fc3", f"fitting FC3 ({settings.fc_solver})"):
                fc3 = run_fc3(ph3, fc3_forces.forces - fc3_residual[None], settings.fc_solver)
        else:
            with timer.stage("fc3"):
                convergence = run_fc3_convergence(
                    ph3, fc3_forces.forces - fc3_residual[None], evaluate,
                    settings.kappa_settings, settings.convergence_settings,
                    distance=settings.fc3_distance, random_seed=settings.random_seed,
                    plus_minus=settings.fc3_plus_minus, solver=settings.fc_solver,
                    progress=settings.progress,
                )
            fc3 = convergence.fc3
        if settings.holdout_settings is not None:
            with timer.stage("fc3_holdout"):
                holdout = run_fc3_holdout(
                    ph3, fc3.fc3, lambda cells: evaluate(cells, "FC3 held-out supercells"),
                    settings.holdout_settings)
            logger.info("FC3 held-out residual %.2f%% on %d ± pairs", 100 * holdout.residual,
                        holdout.settings.n_pairs)
        n_grid = int(np.prod(harmonic.mesh))
        with timer.stage("kappa", f"κ ({settings.method}) on the {'x'.join(map(str, harmonic.mesh))}"
                         f" mesh: three-phonon scattering at the irreducible points of {n_grid}"):
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
        fc3_forces=fc3_forces,
        fc3_residual_forces=fc3_residual,
        fc3=fc3,
        kappa=kappa,
        fc3_convergence=convergence,
        fc3_holdout=holdout,
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
    if not settings.distributed:
        return run_conductivity(ph3, settings.kappa_settings)
    from latdyn.kappa.distributed import local_client, run_kappa_distributed
    from latdyn.screen.executors import available_cores, connect

    if settings.scheduler is not None:
        client, threads = connect(settings.scheduler), 1
    else:
        threads = max(1, available_cores() // settings.kappa_workers)
        client = local_client(settings.kappa_workers, threads)
    try:
        return run_kappa_distributed(ph3, settings.kappa_settings, client, threads=threads)
    finally:
        cluster = client.cluster if settings.scheduler is None else None
        client.close()
        if cluster is not None:
            cluster.close()


def _tensor(values: np.ndarray) -> dict:
    return {component: float(v) for component, v in zip(VOIGT, values, strict=True)}


def _kappa_summary(kappa: Kappa) -> dict:
    return {
        "method": kappa.method,
        "mesh": kappa.mesh.tolist(),
        "kernel": kappa.kernel,
        "seconds": kappa.seconds,
        "seconds_by_part": dict(kappa.timings),
        "n_irreducible_qpoints": len(kappa.qpoints),
        "isotope": kappa.isotope,
        "boundary_mfp_um": kappa.boundary_mfp,
        "unit": "W/(m K)",
        "temperatures_K": kappa.temperatures.tolist(),
        "kappa_trace_average": kappa.kappa_trace_average.tolist(),
        "per_temperature": [
            {
                "temperature_K": float(t),
                "kappa": _tensor(kappa.kappa[i]),
                "kappa_particle": _tensor(kappa.kappa_particle[i]),
                "kappa_coherence": _tensor(kappa.kappa_coherence[i]),
                "kappa_trace_average": float(kappa.kappa_trace_average[i]),
            }
            for i, t in enumerate(kappa.temperatures)
        ],
    }


def _relax_stages_summary(stages: TwoStageRelaxResult) -> dict:
    def stage(result):
        return {
            "space_group_before": str(result.symmetry_before),
            "space_group_after": str(result.symmetry_after),
            "converged": result.converged,
            "n_steps": result.n_steps,
            "max_force_eV_per_A": result.max_force,
            "energy_eV": result.energy,
        }

    return {"stage1": stage(stages.stage1), "stage2": stage(stages.stage2),
            "kept_stage1": stages.kept_stage1}


def _convergence_summary(convergence: FC3Convergence | None) -> dict | None:
    if convergence is None:
        return None
    return {
        "tolerance": convergence.tolerance,
        "converged": convergence.converged,
        "mesh": convergence.mesh.tolist(),
        "levels": [{"n_supercells": level.n_supercells,
                    "kappa_trace_average": list(level.kappa),
                    "relative_change": level.relative_change,
                    "holdout_residual": level.holdout_residual,
                    "seconds": level.seconds} for level in convergence.levels],
    }


def _holdout_summary(holdout: FC3Holdout | None) -> dict | None:
    if holdout is None:
        return None
    return {
        "n_pairs": holdout.settings.n_pairs,
        "distance_A": holdout.settings.distance,
        "random_seed": holdout.settings.random_seed,
        "residual": holdout.residual,
        "pair_residuals": holdout.pair_residuals.tolist(),
        "even_part_norm_eV_per_A": holdout.even_part_norm,
        "n_computed": holdout.n_computed,
        "seconds": holdout.seconds,
    }


def _forces_summary(evaluation: ForceEvaluation | None, residual: np.ndarray | None) -> dict:
    if evaluation is None:
        return {"n_computed": 0, "n_from_cache": 0}
    return {
        "n_computed": evaluation.n_computed,
        "n_from_cache": evaluation.n_cached,
        "max_residual_force_eV_per_A": float(np.abs(residual).max()),
    }


def kappa_summary(result: KappaWorkflowResult, inputs: dict) -> dict:
    """The content of ``summary.json`` for a κ run (gated or not)."""
    disp = result.displacements
    ph3 = disp.phono3py
    gate = result.gate
    structure = structure_summary(result.structure)
    if result.relax_stages is not None:
        structure["relaxation_stages"] = _relax_stages_summary(result.relax_stages)
    fc3 = result.fc3
    cache = cache_record(result.settings.cache_dir, result.settings.use_cache)
    summary = {
        "command": "kappa",
        "protocol": result.settings.protocol,
        "inputs": inputs,
        # the cache folder actually used (also when $LATDYN_CACHE_DIR or the default chose it)
        "settings": {**asdict(result.settings), "cache_dir": cache["dir"]},
        "force_cache": cache,
        "model": result.model,
        "symmetrization": result.symmetrization,
        "versions": package_versions(),
        "structure": structure,
        "primitive_matrix": np.array(ph3.primitive_matrix).tolist()
        if ph3.primitive_matrix is not None else None,
        "n_atoms_primitive": len(ph3.primitive),
        "supercells": {
            "fc2": {"matrix": np.array(disp.settings.fc2_supercell).tolist(),
                    "n_atoms": len(disp.fc2_supercell)},
            "fc3": {"matrix": np.array(disp.settings.fc3_supercell).tolist(),
                    "n_atoms": len(disp.fc3_supercell)},
        },
        "displacements": {
            "fc2": {"method": disp.settings.fc2_method,
                    "distance_A": disp.settings.fc2_distance,
                    "n_displaced_supercells": result.n_fc2_supercells,
                    **_forces_summary(result.fc2_forces, result.fc2_residual_forces)},
            "fc3": {"method": disp.settings.fc3_method,
                    "distance_A": disp.settings.fc3_distance,
                    "random_seed": disp.settings.random_seed
                    if disp.settings.fc3_method == "random" else None,
                    "n_displaced_supercells": result.n_fc3_supercells,
                    **_forces_summary(result.fc3_forces, result.fc3_residual_forces),
                    "n_computed": result.n_fc3_computed,
                    "n_from_cache": result.n_fc3_supercells - result.n_fc3_computed
                    if result.fc3_forces is not None else 0,
                    "convergence": _convergence_summary(result.fc3_convergence)},
        },
        "force_constants": {
            "fc2": {"solver": result.fc2.solver,
                    "raw_asr_violation": result.fc2.raw_asr_violation,
                    "raw_permutation_asymmetry": result.fc2.raw_permutation_asymmetry,
                    "asr_violation": result.fc2.asr_violation},
            "fc3": None if fc3 is None else {
                "solver": fc3.solver, "method": fc3.method,
                "raw_asr_violation": fc3.raw_asr_violation, "asr_violation": fc3.asr_violation,
                "holdout": _holdout_summary(result.fc3_holdout)},
        },
        "gate": {
            "passed": gate.passed,
            "forced": gate.forced,
            "reasons": list(gate.reasons),
            "kappa_computed": result.kappa is not None,
            "lowest_frequency_THz": gate.lowest_frequency,
            "gamma_frequencies_THz": list(gate.gamma_frequencies),
            "imaginary_tolerance_THz": result.settings.imaginary_tolerance,
            "gamma_acoustic_tolerance_THz": GAMMA_ACOUSTIC_TOLERANCE,
            "mesh": result.harmonic.mesh.tolist(),
        },
        "nac": nac_summary(result.displacements.phono3py.nac_params),
        "kappa": None if result.kappa is None else _kappa_summary(result.kappa),
        "timings_s": {**result.timings, "total": sum(result.timings.values())},
    }
    return summary
