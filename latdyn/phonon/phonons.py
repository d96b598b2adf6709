"""Phonon properties from force constants (phonopy)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy

from latdyn.bounds import check_mesh_memory
from latdyn.errors import InputError

#: Frequencies below minus this (THz) count as imaginary.
DEFAULT_IMAGINARY_TOLERANCE = 0.01


@dataclass(frozen=True)
class PhononSettings:
    """What to compute.

    Attributes
    ----------
    band_npoints
        q-points per band segment (seekpath path) or per given segment.
    band_path
        Optional user path: a tuple of segments, each a tuple of fractional q-points (reciprocal
        basis of the unit cell), traversed in order. ``None`` uses seekpath's standard path.
    band_labels
        Labels of the path's points (one per point of ``band_path``, flattened).
    mesh
        q-mesh for DOS and thermal properties: three integers, or one number (phonopy's length
        density, Å).
    t_min, t_max, t_step
        Temperature grid (K) of the thermal properties.
    temperatures
        Explicit temperatures (K) instead of the grid, or ``None``.
    imaginary_tolerance
        Frequencies below ``-imaginary_tolerance`` (THz) are reported as imaginary.
    projected_dos
        Compute the atom-projected DOS.
    """

    band_npoints: int = 51
    band_path: tuple | None = None
    band_labels: tuple | None = None
    mesh: tuple | float = 60.0
    t_min: float = 0.0
    t_max: float = 1000.0
    t_step: float = 10.0
    temperatures: tuple | None = None
    imaginary_tolerance: float = DEFAULT_IMAGINARY_TOLERANCE
    projected_dos: bool = True

    def __post_init__(self):
        if self.band_npoints < 2:
            raise InputError(f"band_npoints must be >= 2, got {self.band_npoints}")
        if isinstance(self.mesh, (int, float)):
            if self.mesh <= 0:
                raise InputError(f"mesh density must be positive, got {self.mesh}")
        elif len(self.mesh) != 3 or any(int(m) < 1 for m in self.mesh):
            raise InputError(f"mesh needs three positive integers, got {list(self.mesh)}")
        if self.temperatures is not None:
            if not self.temperatures or min(self.temperatures) < 0:
                raise InputError(f"temperatures must be >= 0 K (at least one), got "
                                 f"{list(self.temperatures)}")
            object.__setattr__(self, "temperatures", tuple(map(float, self.temperatures)))
        if self.t_min < 0 or self.t_max < self.t_min or self.t_step <= 0:
            raise InputError(
                f"invalid temperature range {self.t_min}..{self.t_max} step {self.t_step} K"
            )


@dataclass(frozen=True)
class ImaginaryModes:
    """Where the lowest phonon frequencies are.

    Attributes
    ----------
    has_imaginary
        Whether any frequency is below ``-tolerance``.
    min_frequency
        Lowest frequency found on the band path and mesh (THz; negative means imaginary).
    min_qpoint
        Fractional q-point (reciprocal basis of the unit cell) of the lowest frequency.
    min_gamma_acoustic, min_gamma_optical
        Lowest acoustic and optical frequency at Γ (THz).
    n_imaginary_qpoints
        Number of band/mesh q-points with a frequency below ``-tolerance``.
    tolerance
        The tolerance used (THz).
    """

    has_imaginary: bool
    min_frequency: float
    min_qpoint: tuple
    min_gamma_acoustic: float
    min_gamma_optical: float
    n_imaginary_qpoints: int
    tolerance: float


@dataclass(frozen=True)
class Phonons:
    """Harmonic phonon properties. Frequencies in THz.

    Attributes
    ----------
    band_qpoints
        Fractional q-points of the band path, ``(n_q, 3)``.
    band_distances
        Cumulative path length (1/Å, phonopy convention), ``(n_q,)``.
    band_frequencies
        ``(n_q, n_bands)``.
    band_segment_starts
        Index of the first q-point of each segment, ``(n_segments,)``.
    band_labels
        Labels of the segment end points (phonopy's list, length ``n_segments + n_breaks + 1``).
    band_connections
        Whether segment ``i`` continues into segment ``i + 1`` (phonopy's path connections).
    mesh
        The q-mesh used, ``(3,)``.
    dos_frequencies, total_dos
        DOS on a frequency grid, ``(n_f,)`` each (states/THz per unit cell).
    projected_dos
        Atom-projected DOS ``(n_atoms, n_f)`` or ``None``.
    temperatures
        ``(n_T,)`` K.
    free_energy, entropy, heat_capacity
        Per unit cell: kJ/mol, J/K/mol, J/K/mol, ``(n_T,)`` each.
    gamma_frequencies
        Frequencies at Γ, ``(n_bands,)``.
    imaginary
        The imaginary-mode report.
    seconds
        Wall time (s).
    """

    band_qpoints: np.ndarray
    band_distances: np.ndarray
    band_frequencies: np.ndarray
    band_segment_starts: np.ndarray
    band_labels: tuple
    band_connections: tuple
    mesh: np.ndarray
    dos_frequencies: np.ndarray
    total_dos: np.ndarray
    projected_dos: np.ndarray | None
    temperatures: np.ndarray
    free_energy: np.ndarray
    entropy: np.ndarray
    heat_capacity: np.ndarray
    gamma_frequencies: np.ndarray
    imaginary: ImaginaryModes
    seconds: float


def _readonly(array) -> np.ndarray:
    array = np.array(array)
    array.flags.writeable = False
    return array


def _run_bands(phonon: Phonopy, settings: PhononSettings) -> None:
    if settings.band_path is None:
        phonon.auto_band_structure(npoints=settings.band_npoints)
        return
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    paths = [[list(map(float, q)) for q in segment] for segment in settings.band_path]
    qpoints, connections = get_band_qpoints_and_path_connections(
        paths, npoints=settings.band_npoints
    )
    labels = list(settings.band_labels) if settings.band_labels else None
    phonon.run_band_structure(qpoints, path_connections=connections, labels=labels)


def mesh_numbers(mesh, lattice) -> tuple[int, int, int]:
    """Three integers of a q-mesh given as such or as a length density (phonopy's rule)."""
    if isinstance(mesh, (int, float, np.integer, np.floating)):
        from phonopy.phonon.grid import length2mesh

        return tuple(int(n) for n in length2mesh(float(mesh), np.asarray(lattice)))
    return tuple(int(n) for n in mesh)


def phonon_mesh_bytes(mesh, n_bands: int, eigenvectors: bool) -> float:
    """Upper estimate (bytes) of what phonopy allocates for a mesh calculation: grid addresses
    and maps, frequencies and (for projected DOS) eigenvectors of every grid point."""
    points = float(np.prod(np.asarray(mesh, dtype=float)))
    return points * (48.0 + 8.0 * n_bands + (16.0 * n_bands**2 if eigenvectors else 0.0))


def run_phonons(phonon: Phonopy, settings: PhononSettings | None = None) -> Phonons:
    """Bands, DOS, thermal properties and the imaginary-mode report of ``phonon``.

    ``phonon`` must hold force constants.
    """
    settings = settings or PhononSettings()
    if phonon.force_constants is None:
        raise InputError("the phonopy object has no force constants; fit them first")
    start = time.perf_counter()
    _run_bands(phonon, settings)
    bands = phonon.band_structure
    segment_lengths = [len(q) for q in bands.qpoints]
    band_qpoints = np.concatenate(bands.qpoints)
    band_frequencies = np.concatenate(bands.frequencies)
    band_distances = np.concatenate(bands.distances)

    mesh = settings.mesh if isinstance(settings.mesh, (int, float)) else list(settings.mesh)
    numbers = mesh_numbers(mesh, phonon.primitive.cell)
    n_bands = 3 * len(phonon.primitive)
    check_mesh_memory(numbers, phonon_mesh_bytes(numbers, n_bands, settings.projected_dos),
                      "phonon")
    phonon.run_mesh(
        mesh,
        is_mesh_symmetry=not settings.projected_dos,
        with_eigenvectors=settings.projected_dos,
        is_gamma_center=True,
    )
    mesh_result = phonon.mesh
    phonon.run_total_dos()
    dos = phonon.total_dos
    projected = None
    if settings.projected_dos:
        phonon.run_projected_dos()
        projected = _readonly(phonon.projected_dos.projected_dos)
    phonon.run_thermal_properties(
        t_min=settings.t_min, t_max=settings.t_max, t_step=settings.t_step,
        temperatures=settings.temperatures, exclude_gamma_acoustic=True,
    )
    thermal = phonon.thermal_properties

    phonon.run_qpoints([[0.0, 0.0, 0.0]])
    gamma = np.array(phonon.qpoints.frequencies[0])
    imaginary = _imaginary_report(
        gamma,
        [(band_qpoints, band_frequencies), (mesh_result.qpoints, mesh_result.frequencies)],
        settings.imaginary_tolerance,
    )
    return Phonons(
        band_qpoints=_readonly(band_qpoints),
        band_distances=_readonly(band_distances),
        band_frequencies=_readonly(band_frequencies),
        band_segment_starts=_readonly(np.cumsum([0] + segment_lengths[:-1])),
        band_labels=tuple(bands.labels or ()),
        band_connections=tuple(bool(c) for c in bands.path_connections),
        mesh=_readonly(np.array(mesh_result.mesh_numbers)),
        dos_frequencies=_readonly(dos.frequency_points),
        total_dos=_readonly(dos.dos),
        projected_dos=projected,
        temperatures=_readonly(thermal.temperatures),
        free_energy=_readonly(thermal.free_energy),
        entropy=_readonly(thermal.entropy),
        heat_capacity=_readonly(thermal.heat_capacity),
        gamma_frequencies=_readonly(gamma),
        imaginary=imaginary,
        seconds=time.perf_counter() - start,
    )


def _imaginary_report(gamma: np.ndarray, samples, tolerance: float) -> ImaginaryModes:
    lowest, lowest_q, n_bad = np.inf, (0.0, 0.0, 0.0), 0
    for qpoints, frequencies in samples:
        per_q = frequencies.min(axis=1)
        k = int(np.argmin(per_q))
        if per_q[k] < lowest:
            lowest, lowest_q = float(per_q[k]), tuple(float(x) for x in qpoints[k])
        n_bad += int((per_q < -tolerance).sum())
    sorted_gamma = np.sort(gamma)
    return ImaginaryModes(
        has_imaginary=bool(lowest < -tolerance),
        min_frequency=lowest,
        min_qpoint=lowest_q,
        min_gamma_acoustic=float(sorted_gamma[:3].min()),
        min_gamma_optical=float(sorted_gamma[3:].min()) if len(gamma) > 3 else float("nan"),
        n_imaginary_qpoints=n_bad,
        tolerance=tolerance,
    )
