"""Conversion between ASE ``Atoms`` and phonopy's ``PhonopyAtoms``."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from phonopy.structure.atoms import PhonopyAtoms


def to_phonopy_atoms(atoms: Atoms) -> PhonopyAtoms:
    """``PhonopyAtoms`` with the cell, positions, numbers and masses of ``atoms``."""
    return PhonopyAtoms(
        numbers=atoms.numbers,
        cell=np.array(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(wrap=False),
        masses=atoms.get_masses(),
    )


def to_ase_atoms(cell: PhonopyAtoms) -> Atoms:
    """Periodic ASE ``Atoms`` from a ``PhonopyAtoms``."""
    return Atoms(
        numbers=cell.numbers,
        cell=cell.cell,
        scaled_positions=cell.scaled_positions,
        masses=cell.masses,
        pbc=True,
    )
