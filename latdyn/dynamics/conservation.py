"""Energy conservation in NVE molecular dynamics (after Fu et al., arXiv 2502.12147).

A model whose forces are the gradient of its energy conserves the total energy in velocity-Verlet
dynamics up to a bounded integration error that oscillates; forces that are not a gradient (direct
force heads, the curl term of :mod:`latdyn.models.testing`) do work on a closed loop and make the
total energy drift. The drift is the slope of a straight line fitted to the total energy per atom
against time. The static signal ``||Φ - Φ^T|| / ||Φ||`` of finite-difference force constants is
the same property seen without dynamics: zero for a gradient, whatever the run length.

Verdict: PASS when |drift| < :data:`DRIFT_THRESHOLD` = 1 meV/atom/ps, and only then. Fu et
al. show total-energy traces in which conservative models stay flat while direct-force models
(Orb, eqV2) and CHGNet drift away over tens to hundreds of picoseconds; we could not recover
their per-model drift values, so the threshold is our choice: a drift of 1 meV/atom/ps heats a
crystal by about 4 K/ps (``ΔT = ΔE / (3 k_B)`` per atom), which visibly corrupts a nanosecond of
MD, while EMT on Cu at 2 fs drifts by 0.004 ± 0.007 meV/atom/ps over 0.4 ps.

The static check is reported beside the verdict, as a flag that does not change it: the model is
*flagged* when ``||Φ - Φ^T|| / ||Φ||`` reaches :data:`ASYMMETRY_THRESHOLDS` for its precision (1e-3
for float64, 1e-2 for float32). It is no verdict because the finite-difference asymmetry has a
noise floor set by the force precision: the round-off of float32 forces divided by the displacement
enters ``Φ`` directly, so 7net-0 (float32, autograd forces of an energy) already gives 3.4e-3 on
Si, and a float32 model whose energy is conserved can exceed the threshold (with smaller
displacements, softer force constants or noisier forces). Conversely a weak curl force heats or
cools only at second order in its strength (the growing and decaying partners of each complex mode
pair cancel at first order), so a short run can miss it: ``nonconservative_emt`` drifts by ~0.1
meV/atom/ps at 300 K and passes, while its force constants flag it at once (asymmetry 3.4e-3, while
float64 EMT gradients give 4e-7); ``strongly_nonconservative_emt`` (25x the curl) drifts by 14-69
meV/atom/ps (Cu, 32 atoms, 300 K, 0.4 ps, four seeds) and fails. For scale, Bigi, Langer and
Ceriotti (arXiv 2412.11569) measured Jacobian asymmetries ``||J_anti||/||J||`` = 0.004-0.032 for
direct-force MLIPs, i.e. 0.008-0.064 in our normalisation (``Φ - Φ^T = 2 J_anti``).

With ``symmetrize`` the MD and the static check use the symmetrized model (see
:mod:`latdyn.symmetrize`); O(3) averaging of a conservative model stays conservative.

The MD starts from the given structure (ideally relaxed) with Maxwell-Boltzmann velocities at
``2 T`` (seeded; total momentum removed): kinetic energy flows into the potential energy until
equipartition, so the crystal settles near ``T`` in the harmonic limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.build import make_supercell
from tqdm.auto import tqdm

from latdyn.errors import InputError
from latdyn.models.loaded import LoadedModel
from latdyn.provenance import StageTimer
from latdyn.settings import ModelSettings, model_settings
from latdyn.structure.supercell import face_widths, parse_supercell
from latdyn.symmetrize import symmetrization_record

logger = logging.getLogger(__name__)

#: Largest |total-energy drift| (meV/atom/ps) that passes; see the module docstring.
DRIFT_THRESHOLD = 1.0

#: ||Φ - Φ^T|| / ||Φ|| of the raw finite-difference FC2 from which the static check flags a
#: model, by model dtype.
ASYMMETRY_THRESHOLDS = {"float64": 1e-3, "float32": 1e-2}

#: Automatic supercell: smallest diagonal multiple of the input cell this wide (Å) on all faces.
DEFAULT_MIN_LENGTH = 10.0

#: Largest MD supercell (atoms).
MAX_MD_ATOMS = 2000


@dataclass(frozen=True)
class ConservationSettings:
    """Settings of ``latdyn conservation``.

    Attributes
    ----------
    model
        The MLIP, its device and symmetrization (a bare name: that model on the CPU).
    temperature
        Target temperature (K); the velocities are drawn at twice this (see the module
        docstring).
    steps
        Number of velocity-Verlet steps.
    timestep
        Time step (fs).
    supercell
        3 or 9 integers relative to the input cell; ``None`` takes the smallest diagonal multiple
        with all face-to-face widths at least ``min_length``.
    min_length
        See ``supercell`` (Å).
    seed
        Seed of the Maxwell-Boltzmann velocities.
    threshold
        Largest |drift| that passes (meV/atom/ps).
    asymmetry_threshold
        ``||Φ - Φ^T|| / ||Φ||`` from which the static check flags the model (no effect on the
        verdict); ``None`` takes :data:`ASYMMETRY_THRESHOLDS` for the model's dtype (float32
        for unknown dtypes).
    static_check
        Also compute the static signal ``||Φ - Φ^T|| / ||Φ||`` from finite displacements.
    displacement
        Displacement amplitude of the static check (Å).
    progress
        Show a progress bar over the MD steps.
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    temperature: float = 300.0
    steps: int = 500
    timestep: float = 1.0
    supercell: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH
    seed: int = 0
    threshold: float = DRIFT_THRESHOLD
    asymmetry_threshold: float | None = None
    static_check: bool = True
    displacement: float = 0.01
    progress: bool = True

    def __post_init__(self):
        object.__setattr__(self, "model", model_settings(self.model))
        if not self.temperature > 0:
            raise InputError(f"temperature must be positive, got {self.temperature} K")
        if self.steps < 10:
            raise InputError(f"need at least 10 MD steps to fit a drift, got {self.steps}")
        if not 0 < self.timestep <= 10:
            raise InputError(f"time step must be in (0, 10] fs, got {self.timestep}")
        if self.min_length <= 0:
            raise InputError(f"minimum supercell length must be positive, got {self.min_length}")
        if self.threshold <= 0 or (self.asymmetry_threshold or 1.0) <= 0:
            raise InputError("thresholds must be positive, got "
                             f"{self.threshold} and {self.asymmetry_threshold}")


@dataclass(frozen=True)
class EnergyTrace:
    """Energies along an NVE trajectory, one entry per step including step 0.

    Attributes
    ----------
    time
        Time in fs, shape ``(n_steps + 1,)``.
    potential, kinetic, total
        Potential, kinetic and total energy per atom (eV/atom), shape ``(n_steps + 1,)``.
    temperature
        Instantaneous temperature (K), shape ``(n_steps + 1,)``.
    """

    time: np.ndarray
    potential: np.ndarray
    kinetic: np.ndarray
    total: np.ndarray
    temperature: np.ndarray


@dataclass(frozen=True)
class ConservationResult:
    """Energy conservation of a model in NVE MD.

    Attributes
    ----------
    trace
        The energy and temperature trace.
    drift
        Slope of a linear fit of the total energy per atom against time (meV/atom/ps).
    drift_stderr
        Standard error of that slope (meV/atom/ps), from the fit residuals (which are correlated
        in time, so it is a lower bound).
    fluctuation
        Standard deviation of the total energy about the fit (meV/atom).
    max_deviation
        Largest |E_total(t) - E_total(0)| (meV/atom).
    mean_temperature
        Mean temperature over the second half of the run (K).
    drift_passed
        ``|drift| < settings.threshold``.
    passed
        The verdict: ``drift_passed`` (the static check does not enter it).
    static_flagged
        ``permutation_asymmetry >= asymmetry_threshold``; ``None`` without the check.
    asymmetry_threshold
        The asymmetry threshold used (from the settings or the model's dtype).
    permutation_asymmetry
        ``||Φ - Φ^T|| / ||Φ||`` of the raw finite-difference FC2 of the input cell in the MD
        supercell; ``None`` when the static check is off.
    supercell_matrix
        3x3 integer matrix, ``supercell_lattice = M @ input_lattice``.
    n_atoms
        Atoms in the MD supercell.
    model
        Provenance of the model.
    symmetrization
        Mode, settings and cost multiplier of the model's symmetrization (see
        :func:`latdyn.symmetrize.symmetrization_record`).
    timings
        Wall time per stage (s).
    settings
        The settings used.
    """

    trace: EnergyTrace
    drift: float
    drift_stderr: float
    fluctuation: float
    max_deviation: float
    mean_temperature: float
    drift_passed: bool
    passed: bool
    static_flagged: bool | None
    asymmetry_threshold: float
    permutation_asymmetry: float | None
    supercell_matrix: np.ndarray
    n_atoms: int
    model: dict
    symmetrization: dict
    timings: dict
    settings: ConservationSettings


def md_supercell_matrix(atoms: Atoms, settings: ConservationSettings) -> np.ndarray:
    """The supercell matrix of the run (given, or the automatic diagonal choice)."""
    if settings.supercell is not None:
        matrix = parse_supercell(settings.supercell)
    else:
        widths = face_widths(np.array(atoms.cell))
        matrix = np.diag(np.maximum(1, np.ceil(settings.min_length / widths - 1e-8)).astype(int))
    n_atoms = len(atoms) * round(abs(np.linalg.det(matrix)))
    if n_atoms > MAX_MD_ATOMS:
        raise InputError(f"the MD supercell would have {n_atoms} atoms (> {MAX_MD_ATOMS}); "
                         "choose a smaller --supercell")
    return matrix


def fit_drift(time_fs: np.ndarray, total: np.ndarray) -> tuple[float, float, float]:
    """Slope (meV/atom/ps), its standard error, and the residual spread (meV/atom).

    ``total`` is the total energy per atom in eV at times ``time_fs``.
    """
    t_ps = np.asarray(time_fs) / 1000.0
    e_mev = np.asarray(total) * 1000.0
    design = np.column_stack([t_ps, np.ones_like(t_ps)])
    (slope, intercept), *_ = np.linalg.lstsq(design, e_mev, rcond=None)
    residual = e_mev - (slope * t_ps + intercept)
    dof = max(1, len(t_ps) - 2)
    spread = float(np.sqrt(np.sum(residual**2) / dof))
    stderr = spread / float(np.sqrt(np.sum((t_ps - t_ps.mean()) ** 2)))
    return float(slope), stderr, float(np.std(residual))


def run_nve(atoms: Atoms, model: LoadedModel, settings: ConservationSettings) -> EnergyTrace:
    """Velocity-Verlet NVE MD of ``atoms`` with ``model``; the energies at every step."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet

    work = atoms.copy()
    work.calc = model.calculator
    MaxwellBoltzmannDistribution(work, temperature_K=2.0 * settings.temperature,
                                 rng=np.random.default_rng(settings.seed))
    Stationary(work)
    n = len(work)
    records = np.empty((settings.steps + 1, 3))

    def record(step: int) -> None:
        records[step] = (work.get_potential_energy() / n, work.get_kinetic_energy() / n,
                         work.get_temperature())

    dynamics = VelocityVerlet(work, timestep=settings.timestep * units.fs, logfile=None)
    record(0)
    with tqdm(total=settings.steps, desc="NVE MD", unit="step", leave=False,
              disable=not settings.progress) as bar:
        for step in range(1, settings.steps + 1):
            dynamics.run(1)
            record(step)
            bar.update(1)
    arrays = [np.arange(settings.steps + 1) * settings.timestep, records[:, 0], records[:, 1],
              records[:, 0] + records[:, 1], records[:, 2]]
    for array in arrays:
        array.flags.writeable = False
    time_fs, potential, kinetic, total, temperature = arrays
    return EnergyTrace(time=time_fs, potential=potential, kinetic=kinetic, total=total,
                       temperature=temperature)


def static_asymmetry(atoms: Atoms, model: LoadedModel, min_length: float,
                     displacement: float) -> float:
    """``||Φ - Φ^T|| / ||Φ||`` of the raw finite-difference FC2 (no sum rules, no symfc).

    Every atom of the standardized primitive cell is displaced along x, y and z both ways
    without using the space group (which would impose ``Φ = Φ^T``-compatible constraints and
    hide a curl); the supercell is the automatic one of ``latdyn phonons`` (``min_length``).
    """
    from phonopy import Phonopy

    from latdyn.forces import evaluate_forces
    from latdyn.harmonic import run_fc2
    from latdyn.structure import choose_supercell, standardize_primitive
    from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms

    primitive = standardize_primitive(atoms)
    phonon = Phonopy(to_phonopy_atoms(primitive),
                     supercell_matrix=choose_supercell(primitive, min_length=min_length),
                     primitive_matrix="P", is_symmetry=False)
    phonon.generate_displacements(distance=displacement, is_plusminus=True)
    backend = model.backend()
    residual = evaluate_forces(backend, [to_ase_atoms(phonon.supercell)], progress=False)
    displaced = [to_ase_atoms(c) for c in phonon.supercells_with_displacements]
    forces = evaluate_forces(backend, displaced, progress=False, desc="static check")
    fc = run_fc2(phonon, forces.forces - residual.forces, solver="traditional")
    return fc.raw_permutation_asymmetry


def run_conservation(atoms: Atoms, settings: ConservationSettings | None = None,
                     model: LoadedModel | None = None) -> ConservationResult:
    """NVE energy-conservation test of a model on a supercell of ``atoms``.

    ``model`` may be passed to reuse a loaded model; otherwise ``settings.model`` is loaded.
    Either way it is symmetrized as ``settings`` asks.
    """
    settings = settings or ConservationSettings()
    timer = StageTimer()
    matrix = md_supercell_matrix(atoms, settings)
    with timer.stage("load_model"):
        model, _ = settings.model.load(model=model)
    model.check_elements(atoms)
    asymmetry = None
    if settings.static_check:
        with timer.stage("static_check"):
            asymmetry = static_asymmetry(atoms, model, settings.min_length,
                                         settings.displacement)
    supercell = make_supercell(atoms, matrix)
    with timer.stage("md"):
        trace = run_nve(supercell, model, settings)
    drift, stderr, fluctuation = fit_drift(trace.time, trace.total)
    half = len(trace.temperature) // 2
    drift_passed = bool(abs(drift) < settings.threshold)
    limit = settings.asymmetry_threshold or ASYMMETRY_THRESHOLDS.get(
        model.dtype, ASYMMETRY_THRESHOLDS["float32"])
    result = ConservationResult(
        trace=trace,
        drift=drift,
        drift_stderr=stderr,
        fluctuation=fluctuation,
        max_deviation=float(np.abs(trace.total - trace.total[0]).max() * 1000.0),
        mean_temperature=float(trace.temperature[half:].mean()),
        drift_passed=drift_passed,
        passed=drift_passed,
        static_flagged=None if asymmetry is None else bool(asymmetry >= limit),
        asymmetry_threshold=limit,
        permutation_asymmetry=asymmetry,
        supercell_matrix=matrix,
        n_atoms=len(supercell),
        model=model.provenance(),
        symmetrization=symmetrization_record(model),
        timings=dict(timer.seconds),
        settings=settings,
    )
    if not np.all(np.isfinite(trace.total)):
        logger.warning("the total energy became non-finite: the MD blew up")
    return result
