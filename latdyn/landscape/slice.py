"""Energy on a 1D or 2D grid of symmetry-preserving coordinates (after Parackal, Armiento and
Trybel, arXiv 2602.02237).

Each grid axis is either an internal mode (:mod:`latdyn.landscape.wyckoff`, amplitude in Å) or a
lattice parameter (a scale factor on the lattice vectors equivalent to ``a``, ``b`` or ``c``).
Every grid point keeps the space group; it is checked with spglib at the grid corners. With
``symmetrize`` the energies (and the optional relaxation) come from the symmetrized model: the
O(3) average changes energies, the space-group projection only forces and stress.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from latdyn.errors import InputError
from latdyn.landscape.wyckoff import InternalModes, find_internal_modes
from latdyn.models.loaded import LoadedModel
from latdyn.relax import RelaxResult, RelaxSettings, run_relax
from latdyn.settings import ModelSettings, model_settings
from latdyn.structure.symmetry import DEFAULT_SYMPREC, SymmetryInfo, get_symmetry
from latdyn.symmetrize import symmetrization_record

LATTICE_PARAMETERS = ("a", "b", "c")


@dataclass(frozen=True)
class SliceSettings:
    """Settings of ``latdyn pes-slice``.

    Attributes
    ----------
    model
        The MLIP, its device and symmetrization (a bare name: that model on the CPU).
    dofs
        Indices of the internal modes to scan (0, 1 or 2 of them).
    lattice
        ``a``, ``b`` or ``c``: also scan that lattice parameter (with the lattice vectors
        symmetry-equivalent to it); ``None`` keeps the cell.
    grid
        Points per axis.
    amplitude_range
        Smallest and largest mode amplitude (Å), relative to the input structure.
    lattice_range
        Smallest and largest lattice scale factor.
    symprec
        Symmetry tolerance (Å).
    progress
        Show a progress bar.
    relax
        Relax positions and cell (space group fixed) with the model before slicing.
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    dofs: tuple[int, ...] = (0,)
    lattice: str | None = None
    grid: int = 41
    amplitude_range: tuple[float, float] = (-0.1, 0.1)
    lattice_range: tuple[float, float] = (0.97, 1.03)
    symprec: float = DEFAULT_SYMPREC
    progress: bool = True
    relax: bool = False

    def __post_init__(self):
        object.__setattr__(self, "model", model_settings(self.model))
        n_axes = len(self.dofs) + (self.lattice is not None)
        if n_axes == 0:
            raise InputError("nothing to scan: give at least one --dof or --lattice")
        if n_axes > 2:
            raise InputError(f"a slice has 1 or 2 axes, {n_axes} were asked for "
                             "(--dof and --lattice together)")
        if len(set(self.dofs)) != len(self.dofs) or any(d < 0 for d in self.dofs):
            raise InputError(f"--dof needs distinct non-negative indices, got {list(self.dofs)}")
        if self.lattice is not None and self.lattice not in LATTICE_PARAMETERS:
            raise InputError(f"unknown lattice parameter {self.lattice!r}; "
                             f"choose one of {', '.join(LATTICE_PARAMETERS)}")
        if self.grid < 3:
            raise InputError(f"--grid needs at least 3 points, got {self.grid}")
        low, high = self.amplitude_range
        if not low < high:
            raise InputError(f"--range needs LOW < HIGH, got {low} {high}")
        low, high = self.lattice_range
        if not 0 < low < high:
            raise InputError(f"--lattice-range needs 0 < LOW < HIGH, got {low} {high}")


@dataclass(frozen=True)
class SliceAxis:
    """One grid axis.

    Attributes
    ----------
    name
        ``dof0``, ``dof1``... for modes, ``lattice_a`` etc. for a lattice parameter; also the
        column name in the grid CSV.
    label
        Human-readable description (the mode label or the scaled lattice vectors).
    unit
        ``"Å"`` (mode amplitude) or ``"scale"`` (lattice factor).
    values
        Grid coordinates, shape ``(n_points,)``.
    mode
        Displacement pattern, shape ``(n_atoms, 3)`` (largest atomic shift 1 per Å of
        amplitude); ``None`` for a lattice axis.
    lattice_vectors
        Indices of the lattice vectors scaled together; empty for a mode axis.
    """

    name: str
    label: str
    unit: str
    values: np.ndarray
    mode: np.ndarray | None = None
    lattice_vectors: tuple[int, ...] = ()


@dataclass(frozen=True)
class GridPoint:
    """A marked point of the landscape: grid index, coordinates and energy (meV/atom)."""

    index: tuple[int, ...]
    coordinates: tuple[float, ...]
    energy: float


@dataclass(frozen=True)
class LandscapeFeatures:
    """Stationary points of a gridded landscape.

    Attributes
    ----------
    minimum
        The lowest grid point.
    refined_minimum
        Coordinates of the minimum refined by a parabola through the three points along each axis
        (equal to the grid minimum's on an edge).
    minima
        Interior local minima (lower than all neighbours).
    saddles
        2D: interior points where the energy around the 8 neighbours changes sign at least four
        times; 1D: interior local maxima (barriers along the line).
    """

    minimum: GridPoint
    refined_minimum: tuple[float, ...]
    minima: tuple[GridPoint, ...]
    saddles: tuple[GridPoint, ...]


@dataclass(frozen=True)
class EnergyLandscape:
    """The model's energy on a symmetry-preserving grid.

    Attributes
    ----------
    structure
        The reference structure (grid origin for modes, scale 1 for the lattice): the input,
        or the relaxed one with ``settings.relax``.
    relaxation
        The relaxation, or ``None``.
    modes
        All internal modes of the structure.
    axes
        The grid axes (1 or 2).
    energies
        Total energy of the cell in eV, shape ``(n_points_0[, n_points_1])``.
    features
        Minimum, local minima and saddle points of the relative energy.
    symmetry_checks
        Space group found at each grid corner, ``{corner coordinates as text: SymmetryInfo}``.
    model
        Provenance of the model.
    symmetrization
        Mode, settings and cost multiplier of the model's symmetrization (see
        :func:`latdyn.symmetrize.symmetrization_record`).
    seconds
        Wall time of the energy evaluation (s).
    settings
        The settings used.
    """

    structure: Atoms
    relaxation: RelaxResult | None
    modes: InternalModes
    axes: tuple[SliceAxis, ...]
    energies: np.ndarray
    features: LandscapeFeatures
    symmetry_checks: dict
    model: dict
    symmetrization: dict
    seconds: float
    settings: SliceSettings = field(repr=False)

    @property
    def relative_energies(self) -> np.ndarray:
        """Energies in meV/atom relative to the grid minimum, same shape as ``energies``."""
        return relative_mev_per_atom(self.energies, len(self.structure))


def relative_mev_per_atom(energies: np.ndarray, n_atoms: int) -> np.ndarray:
    """``(E - min E) / n_atoms`` in meV/atom for cell energies ``E`` in eV."""
    energies = np.asarray(energies, dtype=float)
    return (energies - energies.min()) * 1000.0 / n_atoms


def evaluate_energies(model: LoadedModel, structures: Sequence[Atoms], progress: bool = False,
                      desc: str = "energies") -> np.ndarray:
    """Potential energies (eV per cell) of ``structures``, shape ``(n,)``.

    The energy path of the force backend: ``ForceBackend`` returns only forces, so each structure
    is evaluated with ``model.calculator`` in turn (one call per structure).
    """
    energies = np.empty(len(structures))
    for i, atoms in enumerate(tqdm(structures, desc=desc, unit="cell", leave=False,
                                   disable=not progress)):
        work = atoms.copy()
        work.calc = model.calculator
        energies[i] = float(work.get_potential_energy())
    return energies


def equivalent_lattice_vectors(atoms: Atoms, parameter: str, symprec: float) -> tuple[int, ...]:
    """Indices of the lattice vectors the space group maps onto ``parameter``'s (``a`` = 0...).

    Scaling them together keeps the space group (for hexagonal ``a``: ``a`` and ``b``).
    """
    import spglib

    from latdyn.structure.symmetry import spglib_cell

    axis = LATTICE_PARAMETERS.index(parameter)
    dataset = spglib.get_symmetry_dataset(spglib_cell(atoms), symprec=symprec)
    related = {axis}
    for rotation in dataset.rotations:
        image = np.abs(rotation[:, axis])
        if image.sum() == 1:
            related.add(int(np.argmax(image)))
    return tuple(sorted(related))


def build_axes(atoms: Atoms, modes: InternalModes,
               settings: SliceSettings) -> tuple[SliceAxis, ...]:
    """The grid axes of ``settings`` for ``atoms``.

    Raises
    ------
    InputError
        A mode index does not exist (in particular, the structure has no free parameter).
    """
    for dof in settings.dofs:
        if dof >= modes.n_modes:
            if modes.n_modes == 0:
                raise InputError(
                    f"{atoms.get_chemical_formula()} in {modes.symmetry} has no "
                    "symmetry-preserving internal degree of freedom (every atom sits on a fixed "
                    "Wyckoff position); nothing to slice except a lattice parameter "
                    "(--lattice a --dof with no index)"
                )
            raise InputError(f"--dof {dof} does not exist: {atoms.get_chemical_formula()} in "
                             f"{modes.symmetry} has {modes.n_modes} free parameter(s), "
                             f"indices 0-{modes.n_modes - 1}")
    axes = [
        SliceAxis(name=f"dof{dof}", label=modes.labels[dof], unit="Å",
                  values=np.linspace(*settings.amplitude_range, settings.grid),
                  mode=modes.modes[dof])
        for dof in settings.dofs
    ]
    if settings.lattice is not None:
        vectors = equivalent_lattice_vectors(atoms, settings.lattice, settings.symprec)
        axes.append(SliceAxis(
            name=f"lattice_{settings.lattice}",
            label="scale of lattice vector(s) " + ",".join("abc"[i] for i in vectors),
            unit="scale", values=np.linspace(*settings.lattice_range, settings.grid),
            lattice_vectors=vectors))
    for axis in axes:
        axis.values.flags.writeable = False
    return tuple(axes)


def structure_at(reference: Atoms, axes: Sequence[SliceAxis],
                 coordinates: Sequence[float]) -> Atoms:
    """``reference`` moved to the grid point ``coordinates`` (one value per axis).

    Mode amplitudes displace the atoms in the reference cell; a lattice factor then scales its
    lattice vectors with the fractional coordinates kept.
    """
    atoms = reference.copy()
    positions = reference.positions.copy()
    cell = np.array(reference.cell)
    for axis, value in zip(axes, coordinates, strict=True):
        if axis.mode is not None:
            positions += value * axis.mode
    atoms.positions = positions
    for axis, value in zip(axes, coordinates, strict=True):
        if axis.mode is None:
            cell[list(axis.lattice_vectors)] *= value
    atoms.set_cell(cell, scale_atoms=True)
    return atoms


def grid_coordinates(axes: Sequence[SliceAxis]) -> list[tuple[float, ...]]:
    """All grid points in C order (last axis fastest)."""
    points = itertools.product(*(a.values for a in axes))
    return [tuple(float(v) for v in point) for point in points]


def check_symmetry(reference: Atoms, axes: Sequence[SliceAxis], expected: SymmetryInfo,
                   symprec: float) -> dict[str, SymmetryInfo]:
    """Space group at each grid corner; raise :class:`InputError` if it is not ``expected``."""
    found = {}
    for corner in itertools.product(*((a.values[0], a.values[-1]) for a in axes)):
        symmetry = get_symmetry(structure_at(reference, axes, corner), symprec)
        key = ", ".join(f"{a.name}={v:g}" for a, v in zip(axes, corner, strict=True))
        if symmetry.number != expected.number:
            raise InputError(f"the space group changes from {expected} to {symmetry} at the grid "
                             f"corner {key}; choose a smaller --range or --lattice-range")
        found[key] = symmetry
    return found


def find_features(relative: np.ndarray, axes: Sequence[SliceAxis]) -> LandscapeFeatures:
    """Minimum (grid and parabola-refined), interior local minima and saddles of ``relative``."""
    values = [a.values for a in axes]

    def point(index) -> GridPoint:
        index = tuple(int(i) for i in index)
        return GridPoint(index=index,
                         coordinates=tuple(float(v[i]) for v, i in zip(values, index, strict=True)),
                         energy=float(relative[index]))

    lowest = np.unravel_index(int(np.argmin(relative)), relative.shape)
    refined = [_parabola_minimum(relative, lowest, dim, values[dim]) for dim in range(len(axes))]
    minima, saddles = [], []
    interior = itertools.product(*(range(1, n - 1) for n in relative.shape))
    for index in interior:
        ring = _neighbour_ring(relative, index) - relative[index]
        if np.all(ring > 0):
            minima.append(point(index))
        elif _is_saddle(ring):
            saddles.append(point(index))
    return LandscapeFeatures(minimum=point(lowest), refined_minimum=tuple(refined),
                             minima=tuple(minima), saddles=tuple(saddles))


def _parabola_minimum(energies: np.ndarray, index: tuple, dim: int, values: np.ndarray) -> float:
    i = index[dim]
    if i == 0 or i == len(values) - 1:
        return float(values[i])
    take = [list(index) for _ in range(3)]
    for k, offset in enumerate((-1, 0, 1)):
        take[k][dim] = i + offset
    e_minus, e_0, e_plus = (float(energies[tuple(t)]) for t in take)
    curvature = e_minus - 2 * e_0 + e_plus
    if curvature <= 0:
        return float(values[i])
    step = values[i + 1] - values[i]
    return float(values[i] + 0.5 * step * (e_minus - e_plus) / curvature)


def _neighbour_ring(energies: np.ndarray, index: tuple) -> np.ndarray:
    """Neighbour energies: 2 in 1D; in 2D the 8 neighbours in cyclic order."""
    if energies.ndim == 1:
        i = index[0]
        return energies[[i - 1, i + 1]]
    i, j = index
    ring = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]
    return np.array([energies[i + di, j + dj] for di, dj in ring])


def _is_saddle(ring: np.ndarray) -> bool:
    """1D: a local maximum; 2D: four or more sign changes of ``ring`` (relative energies)."""
    if len(ring) == 2:
        return bool(np.all(ring < 0))
    return _sign_changes(ring) >= 4


def _sign_changes(ring: np.ndarray) -> int:
    signs = np.sign(ring)
    signs = signs[signs != 0]
    return int(np.sum(signs != np.roll(signs, 1))) if len(signs) else 0


def run_slice(atoms: Atoms, settings: SliceSettings | None = None,
              model: LoadedModel | None = None) -> EnergyLandscape:
    """Evaluate the model's energy on the symmetry-preserving grid of ``settings`` around ``atoms``
    (relaxed first with ``settings.relax``).

    ``model`` may be passed to reuse a loaded model; otherwise ``settings.model`` is loaded.
    Either way it is symmetrized as ``settings`` asks.

    Raises
    ------
    InputError
        The structure has no free parameter for a requested ``--dof``, or the space group changes
        within the grid.
    """
    settings = settings or SliceSettings()
    modes = find_internal_modes(atoms, settings.symprec)
    axes = build_axes(atoms, modes, settings)
    model, _ = settings.model.load(settings.symprec, model)
    model.check_elements(atoms)
    relaxation = None
    if settings.relax:
        relaxation = run_relax(atoms, model.calculator, RelaxSettings(symprec=settings.symprec))
        atoms = relaxation.atoms
        modes = find_internal_modes(atoms, settings.symprec)
        axes = build_axes(atoms, modes, settings)
    checks = check_symmetry(atoms, axes, modes.symmetry, settings.symprec)
    points = grid_coordinates(axes)
    start = time.perf_counter()
    energies = evaluate_energies(model, [structure_at(atoms, axes, p) for p in points],
                                 progress=settings.progress, desc="grid")
    seconds = time.perf_counter() - start
    energies = energies.reshape(tuple(len(a.values) for a in axes))
    energies.flags.writeable = False
    return EnergyLandscape(
        structure=atoms.copy(),
        relaxation=relaxation,
        modes=modes,
        axes=axes,
        energies=energies,
        features=find_features(relative_mev_per_atom(energies, len(atoms)), axes),
        symmetry_checks=checks,
        model=model.provenance(),
        symmetrization=symmetrization_record(model),
        seconds=seconds,
        settings=settings,
    )


@dataclass(frozen=True)
class ReferenceComparison:
    """The model's landscape against reference (DFT) energies on the same grid.

    Attributes
    ----------
    reference_energies
        Reference total energies of the cell in eV, same shape as the landscape's energies.
    difference
        Model minus reference, each relative to its own grid minimum, meV/atom.
    rms_difference
        Root mean square of ``difference`` over the grid (meV/atom).
    reference_features
        Minimum and stationary points of the reference landscape.
    minimum_shift
        Model's refined minimum minus the reference's, per axis (Å or scale).
    """

    reference_energies: np.ndarray
    difference: np.ndarray
    rms_difference: float
    reference_features: LandscapeFeatures
    minimum_shift: tuple[float, ...]


def compare_with_reference(landscape: EnergyLandscape,
                           reference_energies: np.ndarray) -> ReferenceComparison:
    """Compare ``landscape`` with reference cell energies (eV) on the same grid."""
    reference = np.asarray(reference_energies, dtype=float)
    if reference.shape != landscape.energies.shape:
        raise InputError(f"reference energies have shape {reference.shape}, the grid "
                         f"{landscape.energies.shape}")
    n_atoms = len(landscape.structure)
    reference_relative = relative_mev_per_atom(reference, n_atoms)
    difference = landscape.relative_energies - reference_relative
    features = find_features(reference_relative, landscape.axes)
    shift = tuple(m - r for m, r in zip(landscape.features.refined_minimum,
                                        features.refined_minimum, strict=True))
    for array in (reference, difference):
        array.flags.writeable = False
    return ReferenceComparison(
        reference_energies=reference,
        difference=difference,
        rms_difference=float(np.sqrt(np.mean(difference**2))),
        reference_features=features,
        minimum_shift=shift,
    )
