"""Lattice thermal conductivity from FC2 and FC3 (phono3py).

Three solutions of the phonon Boltzmann transport equation:

- ``rta``: relaxation-time approximation (particle-like κ only);
- ``wigner``: the Wigner transport equation in the RTA (Simoncelli, Marzari, Mauri 2019, phono3py's
  ``smm19`` transport type): κ = κ_particle + κ_coherence, the coherence part coming from
  off-diagonal (interband) elements of the velocity operator;
- ``lbte``: direct solution of the linearized Boltzmann equation (particle-like κ only).

Brillouin-zone integration uses the tetrahedron method. Scattering: three-phonon, plus isotopes
(natural abundances) and a boundary mean free path when asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from phono3py import Phono3py

from latdyn.errors import InputError

logger = logging.getLogger(__name__)

#: Solutions of the transport equation.
KAPPA_METHODS = ("rta", "wigner", "lbte")

#: Kernels of the three-phonon linewidths: phono3py's own (Rust backend) or latdyn's batched
#: torch kernel (:mod:`latdyn.kappa.collision`; RTA and Wigner).
KAPPA_KERNELS = ("latdyn", "phono3py")

#: Voigt order of the six κ components.
VOIGT = ("xx", "yy", "zz", "yz", "xz", "xy")

#: Default length density (Å) of the automatic q-mesh (phono3py's rule, ~19 for fcc Cu).
DEFAULT_MESH_DENSITY = 40.0


def validate_mesh(mesh) -> float | tuple[int, int, int]:
    """A q-mesh: three positive integers, or one positive length density (Å)."""
    if isinstance(mesh, (int, float, np.integer, np.floating)) and not isinstance(mesh, bool):
        if not np.isfinite(mesh) or mesh <= 0:
            raise InputError(f"the q-mesh length density must be positive, got {mesh}")
        return float(mesh)
    try:
        values = np.array(mesh, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"q-mesh {mesh!r} is not three integers or one number") from None
    if values.size != 3 or not np.allclose(values, np.rint(values)) or np.any(values < 1):
        raise InputError(f"the q-mesh needs three positive integers, got {values.tolist()}")
    return tuple(int(v) for v in np.rint(values))


def validate_temperatures(temperatures: Sequence[float]) -> tuple[float, ...]:
    """Temperatures (K): a non-empty list of finite numbers >= 0."""
    try:
        values = np.array(temperatures, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"temperatures {temperatures!r} are not numbers") from None
    if values.size == 0:
        raise InputError("give at least one temperature")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(f"temperatures must be >= 0 K, got {values.tolist()}")
    return tuple(float(t) for t in values)


def mode_kappa_total(
    mode_kappa_particle: np.ndarray, mode_kappa_coherence: np.ndarray, heat_capacity: np.ndarray
) -> np.ndarray:
    """Total κ per mode from the particle and coherence parts (Matbench Discovery convention).

    Parameters
    ----------
    mode_kappa_particle
        ``(nT, nq, nb, 6)`` W/(m K), times the q-point weights.
    mode_kappa_coherence
        ``(nT, nq, nb, nb, 6)`` W/(m K), times the q-point weights.
    heat_capacity
        Mode heat capacities ``(nT, nq, nb)`` (any unit: only ratios enter).

    Returns
    -------
    numpy.ndarray
        ``(nT, nq, nb, 6)``; summed over q-points and bands it gives ``κ_P + κ_C``.
    """
    cv = np.asarray(heat_capacity, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 2.0 * cv[:, :, :, None] / (cv[:, :, :, None] + cv[:, :, None, :])
    shared = (np.asarray(mode_kappa_coherence, dtype=float) * share[..., None]).sum(axis=2)
    shared[np.isnan(shared)] = 0.0
    return shared + np.asarray(mode_kappa_particle, dtype=float)


@dataclass(frozen=True)
class KappaSettings:
    """How to compute κ.

    Attributes
    ----------
    mesh
        q-mesh: three integers, or a length density (Å, phono3py's rule).
    temperatures
        Temperatures (K).
    method
        ``rta``, ``wigner`` or ``lbte`` (see the module docstring).
    isotope
        Include isotope scattering (natural isotope abundances).
    boundary_mfp
        Boundary mean free path (µm); ``None`` for none.
    kernel
        Kernel of the three-phonon linewidths, one of :data:`KAPPA_KERNELS`: ``latdyn``
        (batched torch kernel, CPU or GPU; RTA and Wigner) or ``phono3py``. ``None``:
        ``latdyn`` for RTA and Wigner, ``phono3py`` for LBTE.
    device
        Torch device of the ``latdyn`` kernel: ``cpu`` or ``cuda`` (the CPU when no GPU is
        available).
    """

    mesh: float | tuple = DEFAULT_MESH_DENSITY
    temperatures: tuple = (300.0,)
    method: str = "rta"
    isotope: bool = True
    boundary_mfp: float | None = None
    kernel: str | None = None
    device: str = "cpu"

    def __post_init__(self):
        object.__setattr__(self, "mesh", validate_mesh(self.mesh))
        object.__setattr__(self, "temperatures", validate_temperatures(self.temperatures))
        if self.method not in KAPPA_METHODS:
            raise InputError(
                f"unknown κ method {self.method!r}; choose one of {', '.join(KAPPA_METHODS)}"
            )
        if self.kernel is not None and self.kernel not in KAPPA_KERNELS:
            raise InputError(f"unknown κ kernel {self.kernel!r}; choose one of "
                             f"{', '.join(KAPPA_KERNELS)}")
        if self.linewidth_kernel == "latdyn" and self.method == "lbte":
            raise InputError("the latdyn κ kernel computes linewidths only (RTA, Wigner); LBTE "
                             "needs phono3py's full collision matrix: use --kappa-kernel "
                             "phono3py with --method lbte")
        if self.boundary_mfp is not None and not self.boundary_mfp > 0:
            raise InputError(f"the boundary mean free path must be positive, got "
                             f"{self.boundary_mfp} µm")

    @property
    def linewidth_kernel(self) -> str:
        """The kernel used: :attr:`kernel`, or for ``None`` ``latdyn`` (RTA, Wigner) or
        ``phono3py`` (LBTE)."""
        if self.kernel is not None:
            return self.kernel
        return "phono3py" if self.method == "lbte" else "latdyn"


@dataclass(frozen=True)
class Kappa:
    """Lattice thermal conductivity and its mode-resolved parts.

    κ components are in Voigt order ``(xx, yy, zz, yz, xz, xy)``, W/(m K). q-points are the
    irreducible points of the mesh; mode-resolved κ values are multiplied by the q-point
    weights, so ``kappa = mode_kappa.sum(over q-points and bands) / weights.sum()``.

    Attributes
    ----------
    temperatures
        ``(nT,)`` K.
    kappa
        Total κ, ``(nT, 6)``: particle + coherence.
    kappa_particle
        Particle-like (Peierls-Boltzmann) κ, ``(nT, 6)``.
    kappa_coherence
        Wave-like coherence κ, ``(nT, 6)``; zeros unless ``method == "wigner"``.
    kappa_trace_average
        ``(kappa_xx + kappa_yy + kappa_zz) / 3`` of the total κ, ``(nT,)``.
    qpoints
        Irreducible q-points (reduced coordinates of the primitive reciprocal lattice),
        ``(nq, 3)``.
    weights
        Multiplicities of the q-points, ``(nq,)``; they sum to the number of mesh points.
    frequencies
        Phonon frequencies, ``(nq, nb)`` THz.
    heat_capacity
        Mode heat capacities, ``(nT, nq, nb)`` eV/K (phono3py's convention).
    gamma
        Three-phonon linewidths Γ (half width at half maximum), ``(nT, nq, nb)`` THz.
    gamma_isotope
        Isotope linewidths, ``(nq, nb)`` THz, or ``None`` without isotope scattering.
    group_velocities
        ``(nq, nb, 3)`` THz·Å (1 THz·Å = 100 m/s).
    mode_kappa_particle
        Particle-like κ per mode (times weight), ``(nT, nq, nb, 6)`` W/(m K).
    mode_kappa_coherence
        Coherence κ per pair of bands (times weight), ``(nT, nq, nb, nb, 6)`` W/(m K), zero on the
        diagonal; ``None`` unless ``method == "wigner"``.
    method
        ``rta``, ``wigner`` or ``lbte``.
    mesh
        The q-mesh, ``(3,)``.
    isotope
        Whether isotope scattering was included.
    boundary_mfp
        Boundary mean free path (µm) or ``None``.
    seconds
        Wall time (s).
    kernel
        Kernel of the three-phonon linewidths (``latdyn`` or ``phono3py``).
    timings
        Where the κ step's time went (s): ``interaction`` (|Φ|²), ``integration_weights``
        (tetrahedron weights of the triplets), ``imag_self_energy`` (the sum to Γ), or
        ``collision`` for phono3py's fused kernel (all three), ``isotope``, ``assembly``
        (phonons, group velocities, heat capacities, κ). Empty for a distributed run.
    """

    temperatures: np.ndarray
    kappa: np.ndarray
    kappa_particle: np.ndarray
    kappa_coherence: np.ndarray
    kappa_trace_average: np.ndarray
    qpoints: np.ndarray
    weights: np.ndarray
    frequencies: np.ndarray
    heat_capacity: np.ndarray
    gamma: np.ndarray
    gamma_isotope: np.ndarray | None
    group_velocities: np.ndarray
    mode_kappa_particle: np.ndarray
    mode_kappa_coherence: np.ndarray | None
    method: str
    mesh: np.ndarray
    isotope: bool
    boundary_mfp: float | None
    seconds: float
    kernel: str = "phono3py"
    timings: dict = field(default_factory=dict)

    @property
    def mode_kappa_total(self) -> np.ndarray:
        """Total κ per mode (times weight), ``(nT, nq, nb, 6)`` W/(m K); see
        :func:`mode_kappa_total`."""
        if self.mode_kappa_coherence is None:
            return self.mode_kappa_particle
        return mode_kappa_total(self.mode_kappa_particle, self.mode_kappa_coherence,
                                self.heat_capacity)

    @property
    def total_gamma(self) -> np.ndarray:
        """Linewidths of all scattering included in κ, ``(nT, nq, nb)`` THz.

        Three-phonon plus isotope plus boundary, ``Γ_b = |v| / (4π L)``.
        """
        total = np.array(self.gamma)
        if self.gamma_isotope is not None:
            total = total + self.gamma_isotope[None]
        if self.boundary_mfp is not None:
            speed = np.linalg.norm(self.group_velocities, axis=-1)
            total = total + speed[None] / (4.0 * np.pi * self.boundary_mfp * 1e4)
        return total

    @property
    def lifetimes(self) -> np.ndarray:
        """Phonon lifetimes ``τ = 1 / (4π Γ_total)``, ``(nT, nq, nb)`` ps (inf where Γ = 0)."""
        with np.errstate(divide="ignore"):
            return 1.0 / (4.0 * np.pi * self.total_gamma)

    @property
    def mean_free_paths(self) -> np.ndarray:
        """Mean free paths ``|v| τ``, ``(nT, nq, nb)`` nm (inf where Γ = 0)."""
        speed = np.linalg.norm(self.group_velocities, axis=-1)
        with np.errstate(invalid="ignore"):
            return np.where(speed[None] > 0, speed[None] * self.lifetimes / 10.0, 0.0)


def _readonly(array, dtype=float) -> np.ndarray:
    array = np.array(array, dtype=dtype)
    array.flags.writeable = False
    return array


def run_kappa(ph3: Phono3py, settings: KappaSettings | None = None) -> Kappa:
    """κ of ``ph3``, which must hold FC2 and FC3.

    Sets ``ph3.mesh_numbers`` and runs phono3py's conductivity solver on it, with the
    linewidth kernel of ``settings.kernel``.

    Raises
    ------
    InputError
        ``ph3`` has no FC2 or FC3.
    """
    settings = settings or KappaSettings()
    start = time.perf_counter()
    prepare_interaction(ph3, settings)
    logger.info("κ (%s, %s kernel) on a %s mesh at %s K", settings.method, settings.linewidth_kernel,
                ph3.mesh_numbers, settings.temperatures)
    conductivity, seconds = run_conductivity(ph3, settings)
    return kappa_result(ph3, conductivity, settings, start, seconds)


def prepare_interaction(ph3: Phono3py, settings: KappaSettings) -> None:
    """Set ``ph3``'s mesh and phonon-phonon interaction for κ with ``settings``.

    Raises
    ------
    InputError
        ``ph3`` has no FC2 or FC3, or the mesh needs more memory than is available.
    """
    if ph3.fc2 is None or ph3.fc3 is None:
        raise InputError("the phono3py object needs FC2 and FC3 before κ; fit them first")
    from latdyn.bounds import check_mesh_memory
    from latdyn.kappa.gate import kappa_mesh_bytes
    from latdyn.phonon.phonons import mesh_numbers

    numbers = mesh_numbers(settings.mesh, ph3.primitive.cell)
    check_mesh_memory(numbers, kappa_mesh_bytes(numbers, 3 * len(ph3.primitive)), "κ")
    ph3.mesh_numbers = settings.mesh
    ph3.init_phph_interaction()


def run_conductivity(ph3: Phono3py, settings: KappaSettings, grid_points=None,
                     write_gamma: bool = False, read_gamma: bool = False):
    """phono3py's conductivity calculator on ``ph3`` with ``settings``.

    ``grid_points`` (BZ-grid indices) restricts the run to those points, ``write_gamma`` writes
    phono3py's per-grid-point files in the current directory, ``read_gamma`` assembles κ from
    such files (phono3py's own run; no linewidths are computed).

    Returns
    -------
    tuple
        phono3py's calculator (``RTACalculator`` or ``LBTECalculator``) and where the time went
        (s, see :attr:`Kappa.timings`; empty for LBTE and ``read_gamma``).
    """
    if settings.method == "lbte" or read_gamma:
        ph3.run_thermal_conductivity(
            is_LBTE=settings.method == "lbte",
            temperatures=list(settings.temperatures),
            is_isotope=settings.isotope,
            boundary_mfp=settings.boundary_mfp,
            transport_type="smm19" if settings.method == "wigner" else None,
            grid_points=grid_points,
            read_gamma=read_gamma,
        )
        return ph3.thermal_conductivity, {}
    return _run_rta(ph3, settings, grid_points, write_gamma)


def _run_rta(ph3: Phono3py, settings: KappaSettings, grid_points, write_gamma: bool):
    """RTA or Wigner κ: phono3py's calculator, its scattering solver latdyn's kernel (or
    phono3py's, timed)."""
    from phono3py.conductivity.factory import conductivity_calculator
    from phono3py.conductivity.output import ConductivityRTAWriter

    from latdyn.kappa.isotope import KernelIsotope
    from latdyn.kappa.scattering import KernelScattering, Timed

    start = time.perf_counter()
    interaction = ph3.phph_interaction
    temperatures = np.array(settings.temperatures, dtype="double")
    calculator = conductivity_calculator(
        interaction, temperatures, sigmas=[None],
        method="smm19-rta" if settings.method == "wigner" else "std-rta",
        grid_points=None if grid_points is None else np.asarray(grid_points, dtype="int64"),
        is_isotope=settings.isotope, boundary_mfp=settings.boundary_mfp)
    seconds: dict[str, float] = {}
    # phono3py's calculator takes its scattering solver at construction; its factory builds the
    # default one, which is replaced here (the ScatteringSolver protocol), and isotope is timed
    if settings.linewidth_kernel == "latdyn":
        solver = KernelScattering(interaction, temperatures, device=settings.device)
        seconds = solver.seconds
    else:
        solver = Timed(calculator._scattering_solver, seconds, "collision")
    calculator._scattering_solver = solver
    isotope = calculator._isotope_solver
    if isotope is not None:
        if settings.linewidth_kernel == "latdyn" and KernelIsotope.applies(isotope, calculator.sigmas):
            isotope = KernelIsotope(isotope, interaction, calculator.sigmas, solver.kernel.device)
        calculator._isotope_solver = Timed(isotope, seconds, "isotope")

    def on_grid_point(i: int) -> None:
        if write_gamma:
            ConductivityRTAWriter.write_gamma(calculator, interaction, i, verbose=False)

    calculator.run(on_grid_point=on_grid_point)
    total = time.perf_counter() - start
    timings = {name: float(value) for name, value in seconds.items()}
    timings["assembly"] = total - sum(timings.values())
    return calculator, timings


def kappa_result(ph3: Phono3py, conductivity, settings: KappaSettings, start: float,
                 timings: dict | None = None) -> Kappa:
    """The :class:`Kappa` of a finished conductivity run (``conductivity``: phono3py's
    calculator; ``start``: its ``time.perf_counter()`` start; ``timings``: see
    :attr:`Kappa.timings`)."""
    n_temperatures = len(settings.temperatures)
    if settings.method == "wigner":
        matrix = np.array(conductivity.mode_kappa_matrix[0])  # (nT, nq, nb, nb, 6)
        bands = np.arange(matrix.shape[2])
        mode_particle = matrix[:, :, bands, bands, :]
        coherence = matrix.copy()
        coherence[:, :, bands, bands, :] = 0.0
        kappa_particle = np.array(conductivity.kappa_intra[0])
        kappa_coherence = np.array(conductivity.kappa_inter[0])
    else:
        mode_particle = np.array(conductivity.mode_kappa[0])
        coherence = None
        kappa_particle = np.array(conductivity.kappa[0])
        kappa_coherence = np.zeros((n_temperatures, 6))
    kappa = kappa_particle + kappa_coherence
    gamma_isotope = conductivity.gamma_isotope
    return Kappa(
        temperatures=_readonly(conductivity.temperatures),
        kappa=_readonly(kappa),
        kappa_particle=_readonly(kappa_particle),
        kappa_coherence=_readonly(kappa_coherence),
        kappa_trace_average=_readonly(kappa[:, :3].mean(axis=1)),
        qpoints=_readonly(conductivity.qpoints),
        weights=_readonly(conductivity.grid_weights, dtype=int),
        frequencies=_readonly(conductivity.frequencies),
        heat_capacity=_readonly(conductivity.mode_heat_capacities),
        gamma=_readonly(conductivity.gamma[0]),
        gamma_isotope=None if gamma_isotope is None else _readonly(gamma_isotope[0]),
        group_velocities=_readonly(conductivity.group_velocities),
        mode_kappa_particle=_readonly(mode_particle),
        mode_kappa_coherence=None if coherence is None else _readonly(coherence),
        method=settings.method,
        mesh=_readonly(ph3.mesh_numbers, dtype=int),
        isotope=settings.isotope,
        boundary_mfp=settings.boundary_mfp,
        seconds=time.perf_counter() - start,
        kernel=settings.linewidth_kernel,
        timings=dict(timings or {}),
    )
