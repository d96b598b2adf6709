"""Quasi-harmonic approximation: phonopy's QHA fits F(V; T) and derives the thermodynamics.

Inputs are one phonopy object with FC2 per volume and the static energies E(V); phonopy's
``run_qha`` computes the phonon free energies on one q-mesh (the same mesh numbers at every
volume), fits E(V) + F_ph(V; T) (+ pV) with the chosen equation of state at each temperature
and derives V(T), the volumetric expansion β(T), B(T), G(T) and C_p(T). Volumes with
imaginary modes are left out of the fit. The fit is trusted up to the last temperature whose
equilibrium volume lies inside the sampled volumes; every curve stops there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy

from latdyn.errors import InputError, LatdynError
from latdyn.phonon.phonons import mesh_numbers
from latdyn.qha.volumes import MIN_VOLUMES

logger = logging.getLogger(__name__)

#: Equations of state phonopy fits.
EOS_NAMES = ("vinet", "birch_murnaghan", "murnaghan")



def _ev_a3_to_gpa() -> float:
    from phonopy.physical_units import get_physical_units

    return get_physical_units().EVAngstromToGPa


def _ev_to_j_per_mol() -> float:
    from phonopy.physical_units import get_physical_units

    return get_physical_units().EvTokJmol * 1000.0


class QHAError(LatdynError):
    """The QHA cannot be done with these volumes (too few without imaginary modes, no fit)."""


@dataclass(frozen=True)
class QHASettings:
    """How the QHA fits and what it reports.

    Attributes
    ----------
    eos
        ``vinet`` (default), ``birch_murnaghan`` or ``murnaghan``.
    pressure
        Pressure (GPa) at which G(T) and V(T) are taken; ``0`` is ambient.
    mesh
        q-mesh of the phonon free energies: three integers, or a length (Å) turned into mesh
        numbers once, at the reference volume, so that every volume has the same mesh.
    t_min, t_max, t_step
        Temperature grid (K).
    """

    eos: str = "vinet"
    pressure: float = 0.0
    mesh: tuple | float = 60.0
    t_min: float = 0.0
    t_max: float = 1000.0
    t_step: float = 10.0

    def __post_init__(self):
        if self.eos not in EOS_NAMES:
            raise InputError(f"unknown equation of state {self.eos!r}; choose one of "
                             f"{', '.join(EOS_NAMES)}")
        if not math.isfinite(self.pressure):
            raise InputError(f"the pressure must be a finite number of GPa, got "
                             f"{self.pressure}")
        if isinstance(self.mesh, (int, float)):
            if not self.mesh > 0:
                raise InputError(f"mesh length must be positive, got {self.mesh}")
        elif len(self.mesh) != 3 or any(int(m) < 1 for m in self.mesh):
            raise InputError(f"mesh needs three positive integers, got {list(self.mesh)}")
        if not (self.t_min >= 0 and self.t_step > 0 and self.t_max >= self.t_min + 2 * self.t_step):
            raise InputError(f"invalid temperature range {self.t_min}..{self.t_max} step "
                             f"{self.t_step} K (the QHA needs at least three temperatures)")

    def temperatures(self) -> np.ndarray:
        """The grid handed to phonopy: one step beyond ``t_max`` (its finite differences use
        it), ``(n_T + 1,)``."""
        n = int(round((self.t_max - self.t_min) / self.t_step)) + 2
        return self.t_min + self.t_step * np.arange(n)


@dataclass(frozen=True)
class QHAInputs:
    """What the QHA fits.

    Attributes
    ----------
    phonopys
        One phonopy object with force constants per volume (ascending volume), all with the
        same supercell matrix.
    energies
        Static energies of the cells (eV per primitive cell), ``(n_volumes,)``.
    imaginary
        Whether each volume has imaginary modes (left out of the fit), ``(n_volumes,)``.
    reference_index
        The volume whose reciprocal lattice turns a mesh length into mesh numbers.
    """

    phonopys: Sequence[Phonopy]
    energies: np.ndarray
    imaginary: Sequence[bool]
    reference_index: int


@dataclass(frozen=True)
class QHAResult:
    """Quasi-harmonic thermodynamics per primitive cell, up to the trusted temperature.

    Attributes
    ----------
    volumes
        All sampled volumes (Å³), ``(n_V,)``; ``fitted`` says which entered the fit.
    energies
        Static energies E(V) (eV), ``(n_V,)``.
    fitted
        Volumes without imaginary modes, ``(n_V,)`` bool.
    mesh
        q-mesh numbers of the free energies, ``(3,)``.
    eos, pressure
        Equation of state and pressure (GPa).
    static_eos
        The static E(V) fit: ``{"E0_eV", "B0_GPa", "B0_prime", "V0_A3"}``.
    temperatures
        ``(n_T,)`` K, from ``t_min`` to the trusted limit.
    free_energy, entropy, heat_capacity_v_volumes
        Phonon F (kJ/mol), S and C_v (J/K/mol) at each fitted volume, ``(n_T, n_fit)``.
    helmholtz_volume
        E(V) + F_ph(V; T) (+ pV) at the fitted volumes (eV), ``(n_T, n_fit)``.
    eos_parameters
        ``[E0 (eV), B0 (eV/Å³), B0', V0 (Å³)]`` per temperature, ``(n_T, 4)``.
    equilibrium_volumes
        V(T) (Å³), ``(n_T,)``.
    gibbs_free_energy
        G(T) (eV), ``(n_T,)``.
    bulk_modulus
        B_T(T) (GPa), ``(n_T,)``.
    volumetric_expansion
        β(T) = dlnV/dT (1/K), ``(n_T,)``; the linear α of a cubic crystal is β/3.
    heat_capacity_p, heat_capacity_v
        C_p(T) (phonopy's polynomial fit) and C_v at V(T) (J/K/mol), ``(n_T,)``.
    gruneisen
        Thermodynamic Grüneisen parameter β B V / C_v, ``(n_T,)``.
    t_max_requested, t_max_trusted
        Requested highest temperature and the trusted limit (K).
    phonopy_result
        phonopy's ``QHAResult`` cut at the same temperature (its writers take it).
    seconds
        Wall time (s).
    """

    volumes: np.ndarray
    energies: np.ndarray
    fitted: np.ndarray
    mesh: np.ndarray
    eos: str
    pressure: float
    static_eos: dict
    temperatures: np.ndarray
    free_energy: np.ndarray
    entropy: np.ndarray
    heat_capacity_v_volumes: np.ndarray
    helmholtz_volume: np.ndarray
    eos_parameters: np.ndarray
    equilibrium_volumes: np.ndarray
    gibbs_free_energy: np.ndarray
    bulk_modulus: np.ndarray
    volumetric_expansion: np.ndarray
    heat_capacity_p: np.ndarray
    heat_capacity_v: np.ndarray
    gruneisen: np.ndarray
    t_max_requested: float
    t_max_trusted: float
    phonopy_result: object
    seconds: float

    @property
    def linear_expansion(self) -> np.ndarray:
        """β/3 (1/K), the linear expansion of a cubic crystal (the mean of the axes' else)."""
        return self.volumetric_expansion / 3.0

    @property
    def truncated(self) -> bool:
        """Whether the curves stop below the requested highest temperature."""
        return self.t_max_trusted < self.t_max_requested - 1e-9

    def at(self, temperature: float) -> int:
        """Index of ``temperature`` (K) on the grid; ``InputError`` outside the trusted range."""
        k = int(np.argmin(np.abs(self.temperatures - temperature)))
        if abs(self.temperatures[k] - temperature) > 1e-6:
            raise InputError(f"{temperature} K is not on the QHA grid (trusted up to "
                             f"{self.t_max_trusted:g} K)")
        return k


def qha_mesh_numbers(phonon: Phonopy, mesh) -> np.ndarray:
    """Mesh numbers of ``mesh`` (three integers, or a length in Å on ``phonon``'s cell), even
    ones raised by one: phonopy's QHA driver samples Monkhorst-Pack meshes, which are
    Γ-centred (and keep the point group) only for odd numbers."""
    numbers = np.array(mesh_numbers(mesh, phonon.primitive.cell), dtype=int)
    return numbers + (numbers % 2 == 0)


def _readonly(values, dtype=float) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


def _cut(result, n: int):
    """phonopy's ``QHAResult`` with its temperature-indexed arrays cut to the first ``n``."""
    cp = result.heat_capacity_P
    cp = dataclasses.replace(
        cp, heat_capacities=cp.heat_capacities[:n], dsdv=cp.dsdv[:n],
        volume_cv_parameters=cp.volume_cv_parameters[: n - 1],
        volume_entropy_parameters=cp.volume_entropy_parameters[: n - 1],
        volume_cv=cp.volume_cv[: n - 1], volume_entropy=cp.volume_entropy[: n - 1])
    lattice = result.lattice
    if lattice is not None:
        lattice = dataclasses.replace(
            lattice, lattice_parameters=lattice.lattice_parameters[:n],
            axial_thermal_expansions=lattice.axial_thermal_expansions[:n])
    per_t = ("temperatures", "helmholtz_volume", "eos_parameters", "equilibrium_volumes",
             "gibbs_free_energies", "entropy_temperature", "enthalpy_temperature",
             "bulk_moduli", "thermal_expansion", "gruneisen_parameters")
    return dataclasses.replace(result, heat_capacity_P=cp, lattice=lattice,
                               **{name: getattr(result, name)[:n] for name in per_t})


def _static_fit(volumes: np.ndarray, energies: np.ndarray, eos: str) -> dict:
    from phonopy.qha.eos import fit_to_eos, get_eos

    e0, b0, bp, v0 = fit_to_eos(volumes, energies, get_eos(eos))
    return {"E0_eV": float(e0), "B0_GPa": float(b0 * _ev_a3_to_gpa()), "B0_prime": float(bp),
            "V0_A3": float(v0)}


def run_qha(inputs: QHAInputs, settings: QHASettings | None = None) -> QHAResult:
    """Fit the quasi-harmonic free energy and derive the thermodynamics (module notes)."""
    from phonopy.qha.qha import run_qha as phonopy_run_qha
    from phonopy.qha.thermal import compute_thermal_properties

    settings = settings or QHASettings()
    start = time.perf_counter()
    phonopys = list(inputs.phonopys)
    volumes = np.array([ph.primitive.volume for ph in phonopys])
    energies = np.asarray(inputs.energies, dtype=float)
    if not np.isfinite(energies).all():
        raise QHAError("the model returned a non-finite energy at some volume; check the "
                       "structure and model")
    fitted = ~np.asarray(inputs.imaginary, dtype=bool)
    if fitted.sum() < MIN_VOLUMES:
        raise QHAError(f"only {int(fitted.sum())} of {len(volumes)} volumes are free of "
                       f"imaginary modes, the QHA needs {MIN_VOLUMES}; narrow --strain-range "
                       "or check the structure")
    if not fitted.all():
        logger.warning("volumes with imaginary modes left out of the QHA fit: %s Å³",
                       ", ".join(f"{v:.3f}" for v in volumes[~fitted]))
    used = [ph for ph, keep in zip(phonopys, fitted, strict=True) if keep]
    mesh = qha_mesh_numbers(phonopys[inputs.reference_index], settings.mesh)
    grid = settings.temperatures()
    free_energy, entropy, cv = compute_thermal_properties(
        used, grid, mesh, exclude_gamma_acoustic=True)
    pressure = settings.pressure if settings.pressure != 0 else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = phonopy_run_qha(used, grid, internal_energies=energies[fitted], mesh=mesh,
                                     pressure=pressure, eos=settings.eos,
                                     exclude_gamma_acoustic=True)
        except RuntimeError as exc:
            raise QHAError(f"phonopy's QHA fit failed ({exc}); widen --strain-range or add "
                           "volumes") from exc
    for warning in caught:
        logger.warning("phonopy QHA: %s", warning.message)
    v_eq = np.asarray(result.equilibrium_volumes)
    inside = (v_eq >= volumes[fitted].min()) & (v_eq <= volumes[fitted].max())
    n = int(np.argmin(inside)) if not inside.all() else len(v_eq)
    if n < 3:
        raise QHAError(f"the equilibrium volume leaves the sampled volumes "
                       f"({volumes[fitted].min():.3f}..{volumes[fitted].max():.3f} Å³) below "
                       f"{result.temperatures[min(n, len(v_eq) - 1)]:g} K; widen --strain-range")
    cut = _cut(result, n)
    if n < len(v_eq):
        logger.warning("the QHA minimum leaves the sampled volumes above %.0f K; curves stop "
                       "there (widen --strain-range to go further)", cut.temperatures[-1])
    kept = np.searchsorted(grid, cut.temperatures)
    cv_at_volume = [0.0] + [float(np.polyval(p, v)) for p, v in
                            zip(cut.heat_capacity_P.volume_cv_parameters,
                                cut.equilibrium_volumes[1:], strict=True)]
    return QHAResult(
        volumes=_readonly(volumes),
        energies=_readonly(energies),
        fitted=_readonly(fitted, bool),
        mesh=_readonly(mesh, int),
        eos=settings.eos,
        pressure=float(settings.pressure),
        static_eos=_static_fit(volumes[fitted], energies[fitted], settings.eos),
        temperatures=_readonly(cut.temperatures),
        free_energy=_readonly(free_energy[kept]),
        entropy=_readonly(entropy[kept]),
        heat_capacity_v_volumes=_readonly(cv[kept]),
        helmholtz_volume=_readonly(cut.helmholtz_volume),
        eos_parameters=_readonly(cut.eos_parameters),
        equilibrium_volumes=_readonly(cut.equilibrium_volumes),
        gibbs_free_energy=_readonly(cut.gibbs_free_energies),
        bulk_modulus=_readonly(np.asarray(cut.bulk_moduli) * _ev_a3_to_gpa()),
        volumetric_expansion=_readonly(cut.thermal_expansion),
        heat_capacity_p=_readonly(np.asarray(cut.heat_capacity_P.heat_capacities)
                                  * _ev_to_j_per_mol()),
        heat_capacity_v=_readonly(np.array(cv_at_volume) * _ev_to_j_per_mol()),
        gruneisen=_readonly(cut.gruneisen_parameters),
        t_max_requested=float(settings.t_max),
        t_max_trusted=float(cut.temperatures[-1]),
        phonopy_result=cut,
        seconds=time.perf_counter() - start,
    )
