"""Symmetry-reduced finite displacements of a supercell (phonopy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from phonopy import Phonopy

from latdyn.bounds import check_displacement
from latdyn.errors import InputError
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
from latdyn.structure.symmetry import DEFAULT_SYMPREC

#: Largest supercell (atoms) accepted without ``allow_large``.
MAX_SUPERCELL_ATOMS = 5000


@dataclass(frozen=True)
class DisplacementSettings:
    """Displacement settings.

    Attributes
    ----------
    supercell_matrix
        3x3 integer matrix, ``supercell_lattice = M @ unitcell_lattice`` (rows are vectors).
    distance
        Displacement amplitude (Å).
    plus_minus
        Displace each symmetry-independent direction both ways.
    symprec
        Symmetry tolerance (Å).
    """

    supercell_matrix: tuple = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    distance: float = 0.01
    plus_minus: bool = True
    symprec: float = DEFAULT_SYMPREC

    def __post_init__(self):
        check_displacement(self.distance)


@dataclass(frozen=True)
class Displacements:
    """The displaced supercells of a unit cell.

    Attributes
    ----------
    phonopy
        phonopy object holding the unit cell, supercell matrix and displacement dataset.
    supercell
        The undisplaced supercell, ``n_atoms`` atoms.
    displaced
        The displaced supercells (each ``n_atoms`` atoms).
    settings
        The settings used.
    """

    phonopy: Phonopy
    supercell: Atoms
    displaced: tuple[Atoms, ...]
    settings: DisplacementSettings

    @property
    def n_supercells(self) -> int:
        return len(self.displaced)


def run_displacements(unitcell: Atoms, settings: DisplacementSettings) -> Displacements:
    """Generate phonopy's symmetry-reduced displacements of ``unitcell``'s supercell.

    ``unitcell`` is used as phonopy's unit cell and primitive cell (no primitive matrix).
    """
    matrix = np.array(settings.supercell_matrix, dtype=int)
    n_atoms = len(unitcell) * round(abs(np.linalg.det(matrix)))
    if n_atoms > MAX_SUPERCELL_ATOMS:
        raise InputError(
            f"the supercell would have {n_atoms} atoms (> {MAX_SUPERCELL_ATOMS}); "
            "choose a smaller --supercell"
        )
    phonon = Phonopy(
        to_phonopy_atoms(unitcell),
        supercell_matrix=matrix,
        primitive_matrix=None,
        symprec=settings.symprec,
    )
    phonon.generate_displacements(distance=settings.distance, is_plusminus=settings.plus_minus)
    displaced = tuple(to_ase_atoms(cell) for cell in phonon.supercells_with_displacements)
    return Displacements(
        phonopy=phonon,
        supercell=to_ase_atoms(phonon.supercell),
        displaced=displaced,
        settings=settings,
    )
