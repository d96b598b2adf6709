"""Space groups and standardized cells through spglib."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms

from latdyn.bounds import check_symprec
from latdyn.errors import StructureError

#: Default symmetry tolerance (Å) for finding space groups.
DEFAULT_SYMPREC = 1e-5


@dataclass(frozen=True)
class SymmetryInfo:
    """Space group of a structure.

    Attributes
    ----------
    number
        International space-group number (1-230).
    symbol
        Hermann-Mauguin symbol, e.g. ``Fd-3m``.
    n_operations
        Number of space-group operations of the given cell.
    symprec
        Tolerance used (Å).
    """

    number: int
    symbol: str
    n_operations: int
    symprec: float

    def __str__(self) -> str:
        return f"{self.symbol} ({self.number})"


def spglib_cell(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``(lattice, scaled_positions, numbers)`` tuple spglib expects."""
    return (np.array(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)


def get_symmetry(atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> SymmetryInfo:
    """Space group of ``atoms`` at tolerance ``symprec``."""
    check_symprec(symprec)
    dataset = spglib.get_symmetry_dataset(spglib_cell(atoms), symprec=symprec)
    if dataset is None:
        raise StructureError(f"spglib could not find the symmetry (symprec={symprec})")
    return SymmetryInfo(
        number=int(dataset.number),
        symbol=str(dataset.international),
        n_operations=len(dataset.rotations),
        symprec=symprec,
    )


def standardize_primitive(atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> Atoms:
    """The standardized primitive cell of ``atoms`` (spglib), keeping ``atoms.info``."""
    check_symprec(symprec)
    result = spglib.standardize_cell(spglib_cell(atoms), to_primitive=True, symprec=symprec)
    if result is None:
        raise StructureError(f"spglib could not standardize the cell (symprec={symprec})")
    lattice, positions, numbers = result
    primitive = Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)
    primitive.info.update(atoms.info)
    return primitive


def conventional_transformation(atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> np.ndarray:
    """Integer matrix ``T`` with ``conventional_lattice = T @ atoms.cell`` (rows are vectors).

    ``atoms`` must be a primitive cell; ``T`` maps it onto the standardized conventional cell.
    """
    check_symprec(symprec)
    dataset = spglib.get_symmetry_dataset(spglib_cell(atoms), symprec=symprec)
    if dataset is None:
        raise StructureError(f"spglib could not find the symmetry (symprec={symprec})")
    # spglib: (a_s, b_s, c_s) = (a, b, c) P^-1 with lattice vectors as columns.
    transform = np.linalg.inv(np.array(dataset.transformation_matrix)).T
    rounded = np.rint(transform)
    if not np.allclose(transform, rounded, atol=1e-4):
        return np.eye(3, dtype=int)
    return rounded.astype(int)

