"""The volume grid of a QHA run: scaled copies of the relaxed cell, relaxed at fixed volume.

Each cell is the relaxed reference cell scaled isotropically to its volume, then relaxed with
the space group kept (ASE's ``FixSymmetry``): cubic cells (space groups 195-230), whose shape
symmetry fixes, relax their atomic positions only; other cells also relax their shape at
constant volume (``FrechetCellFilter(constant_volume=True)``: the deviatoric stress is
relaxed, the volume stays), so c/a and the free internal coordinates follow the volume.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from latdyn.errors import InputError
from latdyn.relax import RelaxResult, RelaxSettings, run_relax
from latdyn.structure.symmetry import get_symmetry

#: Largest fractional volume change of the grid (exclusive), and the fewest volumes.
MAX_STRAIN_RANGE = 0.3
MIN_VOLUMES = 5


@dataclass(frozen=True)
class VolumeGridSettings:
    """The volumes of a QHA run.

    Attributes
    ----------
    n_volumes
        Number of volumes (at least 5; odd numbers include the reference volume).
    strain_range
        Volumes span ``V0 * (1 - strain_range) .. V0 * (1 + strain_range)``, evenly spaced
        (fraction, ``0 < strain_range < 0.3``).
    relax
        Relax each scaled cell at fixed volume (positions, and shape for non-cubic cells).
    relax_settings
        Optimizer, ``fmax``, step limit, symmetry tolerance of the fixed-volume relaxations.
    """

    n_volumes: int = 11
    strain_range: float = 0.05
    relax: bool = True
    relax_settings: RelaxSettings = dataclasses.field(default_factory=RelaxSettings)

    def __post_init__(self):
        if not self.n_volumes >= MIN_VOLUMES:
            raise InputError(f"the QHA needs at least {MIN_VOLUMES} volumes, got "
                             f"{self.n_volumes}; raise --volumes")
        if not 0 < self.strain_range < MAX_STRAIN_RANGE:
            raise InputError(f"the volume strain range must be above 0 and below "
                             f"{MAX_STRAIN_RANGE:.0%}, got {self.strain_range:g}; use e.g. "
                             "--strain-range 0.05")

    def volume_factors(self) -> np.ndarray:
        """``V / V0`` of each grid point, ascending, ``(n_volumes,)``."""
        return np.linspace(1 - self.strain_range, 1 + self.strain_range, self.n_volumes)


@dataclass(frozen=True)
class VolumeGrid:
    """Cells at fixed volumes.

    Attributes
    ----------
    cells
        One relaxed cell per volume (no calculator), ascending volume.
    volumes
        Cell volumes (Å³), ``(n_volumes,)``.
    energies
        Model energies of the cells (eV per cell), ``(n_volumes,)``.
    relaxations
        The fixed-volume relaxation of each cell (``None`` entries when not relaxed).
    shape_relaxed
        Whether the cell shape was relaxed (non-cubic cells) or only the positions.
    seconds
        Wall time (s).
    """

    cells: tuple
    volumes: np.ndarray
    energies: np.ndarray
    relaxations: tuple
    shape_relaxed: bool
    seconds: float

    @property
    def reference_index(self) -> int:
        """Index of the volume nearest the reference volume (the middle one)."""
        return len(self.volumes) // 2


def scaled_cell(atoms: Atoms, volume: float) -> Atoms:
    """``atoms`` scaled isotropically (fractional positions kept) to ``volume`` (Å³)."""
    cell = atoms.copy()
    cell.calc = None
    factor = (volume / atoms.get_volume()) ** (1.0 / 3.0)
    cell.set_cell(np.array(atoms.cell) * factor, scale_atoms=True)
    return cell


def relax_at_volume(atoms: Atoms, calculator: Calculator, settings: RelaxSettings,
                    shape: bool) -> RelaxResult:
    """Relax ``atoms`` at its volume with the space group kept (shape too if ``shape``)."""
    fixed = dataclasses.replace(settings, fix_symmetry=True, relax_cell=shape,
                                constant_volume=shape, fix_angles=False)
    return run_relax(atoms, calculator, fixed)


def run_volume_grid(reference: Atoms, calculator: Calculator,
                    settings: VolumeGridSettings) -> VolumeGrid:
    """Scale ``reference`` to each grid volume and relax it there (see the module notes)."""
    start = time.perf_counter()
    symmetry = get_symmetry(reference, settings.relax_settings.symprec)
    shape = not 195 <= symmetry.number <= 230
    cells, energies, relaxations = [], [], []
    for factor in settings.volume_factors():
        cell = scaled_cell(reference, reference.get_volume() * factor)
        result = None
        if settings.relax:
            result = relax_at_volume(cell, calculator, settings.relax_settings, shape)
            cell, energy = result.atoms, result.energy
        else:
            probe = cell.copy()
            probe.calc = calculator
            energy = float(probe.get_potential_energy())
        cells.append(cell)
        energies.append(energy)
        relaxations.append(result)
    return VolumeGrid(
        cells=tuple(cells),
        volumes=_readonly([c.get_volume() for c in cells]),
        energies=_readonly(energies),
        relaxations=tuple(relaxations),
        shape_relaxed=bool(shape and settings.relax),
        seconds=time.perf_counter() - start,
    )


def _readonly(values) -> np.ndarray:
    array = np.array(values, dtype=float)
    array.flags.writeable = False
    return array
