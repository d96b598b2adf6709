"""The gate before FC3: no κ for dynamically unstable or symmetry-broken structures.

Three-phonon scattering is meaningless around imaginary modes, and a structure whose space group
changed during relaxation is not the material asked for. Checked on the harmonic frequencies of
the whole κ q-mesh (phono3py's Brillouin-zone grid, Γ included), with the κSRME rules:

- a Γ optical mode below ``-tolerance``;
- a Γ acoustic mode below ``-gamma_acoustic_tolerance`` (numerical noise of the sum rule);
- any mode at another q-point below ``-tolerance``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from phono3py import Phono3py

from latdyn.bounds import check_mesh_memory
from latdyn.errors import InputError
from latdyn.structure.symmetry import SymmetryInfo

#: Γ acoustic modes down to minus this (THz) count as zero (κSRME's threshold).
GAMMA_ACOUSTIC_TOLERANCE = 0.01

#: Default tolerance (THz) for the other modes; the κSRME protocol uses 0.
DEFAULT_IMAGINARY_TOLERANCE = 0.01


@dataclass(frozen=True)
class GridFrequencies:
    """Harmonic frequencies on every point of phono3py's Brillouin-zone grid.

    Attributes
    ----------
    frequencies
        ``(n_grid, nb)`` THz, each row sorted ascending.
    qpoints
        Reduced coordinates of the grid points, ``(n_grid, 3)``.
    gamma_index
        Row of Γ.
    mesh
        The mesh, ``(3,)``.
    """

    frequencies: np.ndarray
    qpoints: np.ndarray
    gamma_index: int
    mesh: np.ndarray


@dataclass(frozen=True)
class GateSettings:
    """When the κ workflow stops before FC3.

    Attributes
    ----------
    imaginary_tolerance
        Modes below minus this (THz) are imaginary (Γ acoustic modes:
        :data:`GAMMA_ACOUSTIC_TOLERANCE`).
    force
        Compute FC3 and κ even if the gate fails.
    """

    imaginary_tolerance: float = DEFAULT_IMAGINARY_TOLERANCE
    force: bool = False

    def __post_init__(self):
        if self.imaginary_tolerance < 0:
            raise InputError(f"the imaginary-mode tolerance must be >= 0 THz, got "
                             f"{self.imaginary_tolerance}")


@dataclass(frozen=True)
class Gate:
    """Whether FC3 and κ are computed, and why not.

    Attributes
    ----------
    passed
        No imaginary modes and no symmetry change.
    reasons
        One sentence per failed check (empty when passed).
    forced
        The checks were overridden (``--force``); κ is computed even if they failed.
    lowest_frequency
        Lowest frequency on the grid outside Γ (THz).
    gamma_frequencies
        Frequencies at Γ (THz).
    imaginary
        Whether the harmonic phonons have imaginary modes (one of the reasons, if so).
    """

    passed: bool
    reasons: tuple[str, ...]
    forced: bool
    lowest_frequency: float
    gamma_frequencies: tuple[float, ...]
    imaginary: bool = False

    @property
    def proceed(self) -> bool:
        """Whether FC3 and κ are computed."""
        return self.passed or self.forced


def kappa_mesh_bytes(mesh, n_bands: int) -> float:
    """Lower estimate (bytes) of what phono3py needs for κ on ``mesh``: frequencies and
    eigenvectors on every grid point, and one grid point's interaction strengths over all its
    q-point triplets."""
    points = float(np.prod(np.asarray(mesh, dtype=float)))
    return points * (64.0 + 8.0 * n_bands + 16.0 * n_bands**2 + 8.0 * n_bands**3)


def grid_frequencies(ph3: Phono3py, mesh) -> GridFrequencies:
    """Harmonic frequencies of ``ph3`` (which must hold FC2) on its BZ grid for ``mesh``.

    Raises
    ------
    InputError
        The κ step on this mesh would need more memory than is available.
    """
    from latdyn.phonon.phonons import mesh_numbers

    numbers = mesh_numbers(mesh, ph3.primitive.cell)
    check_mesh_memory(numbers, kappa_mesh_bytes(numbers, 3 * len(ph3.primitive)), "κ")
    ph3.mesh_numbers = mesh
    ph3.init_phph_interaction()
    ph3.run_phonon_solver()
    frequencies, _, addresses = ph3.get_phonon_data()
    mesh_numbers = np.array(ph3.mesh_numbers, dtype=int)
    gamma = np.flatnonzero(np.all(addresses == 0, axis=1))
    return GridFrequencies(
        frequencies=np.array(frequencies),
        qpoints=addresses / mesh_numbers[None],
        gamma_index=int(gamma[0]),
        mesh=mesh_numbers,
    )


def imaginary_mode_reasons(
    grid: GridFrequencies,
    tolerance: float = DEFAULT_IMAGINARY_TOLERANCE,
    gamma_acoustic_tolerance: float = GAMMA_ACOUSTIC_TOLERANCE,
) -> list[str]:
    """Sentences describing the imaginary modes of ``grid`` (empty if there are none)."""
    at_gamma = np.sort(grid.frequencies[grid.gamma_index])
    others = np.delete(grid.frequencies, grid.gamma_index, axis=0)
    reasons = []
    if at_gamma[:3].min() < -gamma_acoustic_tolerance:
        reasons.append(f"imaginary acoustic mode at Γ ({at_gamma[:3].min():.4f} THz < "
                       f"-{gamma_acoustic_tolerance:g} THz)")
    if len(at_gamma) > 3 and at_gamma[3:].min() < -tolerance:
        reasons.append(f"imaginary optical mode at Γ ({at_gamma[3:].min():.4f} THz < "
                       f"-{tolerance:g} THz)")
    if len(others) and others.min() < -tolerance:
        n_bad = int(np.any(others < -tolerance, axis=1).sum())
        k = int(np.argmin(others.min(axis=1)))
        q = np.delete(grid.qpoints, grid.gamma_index, axis=0)[k]
        reasons.append(
            f"imaginary modes at {n_bad} q-points of the {'x'.join(map(str, grid.mesh))} mesh "
            f"(lowest {others.min():.4f} THz at q=({', '.join(f'{x:.3f}' for x in q)}))"
        )
    return reasons


def check_gate(
    grid: GridFrequencies,
    symmetry_before: SymmetryInfo,
    symmetry_after: SymmetryInfo,
    tolerance: float = DEFAULT_IMAGINARY_TOLERANCE,
    gamma_acoustic_tolerance: float = GAMMA_ACOUSTIC_TOLERANCE,
    allow_symmetry_change: bool = False,
    force: bool = False,
) -> Gate:
    """Check the harmonic frequencies and the space group before FC3.

    Parameters
    ----------
    grid
        Harmonic frequencies on the κ mesh.
    symmetry_before, symmetry_after
        Space group of the input and of the structure used.
    tolerance, gamma_acoustic_tolerance
        Imaginary-mode thresholds (THz), see the module docstring.
    allow_symmetry_change
        Do not fail on a changed space group.
    force
        Compute FC3 and κ even if a check fails (recorded in :attr:`Gate.forced`).
    """
    reasons = imaginary_mode_reasons(grid, tolerance, gamma_acoustic_tolerance)
    imaginary = bool(reasons)
    if symmetry_before.number != symmetry_after.number and not allow_symmetry_change:
        reasons.append(f"relaxation changed the space group from {symmetry_before} to "
                       f"{symmetry_after}")
    others = np.delete(grid.frequencies, grid.gamma_index, axis=0)
    return Gate(
        passed=not reasons,
        reasons=tuple(reasons),
        forced=bool(force and reasons),
        lowest_frequency=float(others.min()) if len(others) else float("nan"),
        gamma_frequencies=tuple(float(f) for f in np.sort(grid.frequencies[grid.gamma_index])),
        imaginary=imaginary,
    )
