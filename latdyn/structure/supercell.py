"""Supercell matrices: parsing user input and the automatic choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from latdyn.errors import InputError
from latdyn.structure.symmetry import DEFAULT_SYMPREC, conventional_transformation

#: Default minimum face-to-face width (Å) of an automatic supercell.
DEFAULT_MIN_LENGTH = 10.0


def parse_supercell(values: Sequence[int] | Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """A 3x3 integer supercell matrix from 3 integers (diagonal), 9 integers or a 3x3 array."""
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"supercell {values!r} is not a list of integers") from None
    if array.size == 3:
        array = np.diag(array.ravel())
    elif array.size == 9:
        array = array.reshape(3, 3)
    else:
        raise InputError(f"supercell needs 3 or 9 integers, got {array.size}")
    if not np.allclose(array, np.rint(array)):
        raise InputError(f"supercell entries must be integers, got {array.ravel().tolist()}")
    matrix = np.rint(array).astype(int)
    if round(np.linalg.det(matrix)) <= 0:
        raise InputError(
            f"supercell matrix {matrix.tolist()} has determinant {round(np.linalg.det(matrix))}; "
            "give positive multiples such as 4 4 4"
        )
    return matrix


def face_widths(cell: np.ndarray) -> np.ndarray:
    """Distances (Å) between opposite faces of the cell spanned by the rows of ``cell``."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(np.linalg.det(cell))
    return np.array(
        [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    )


def choose_supercell(
    primitive: Atoms, min_length: float = DEFAULT_MIN_LENGTH, symprec: float = DEFAULT_SYMPREC
) -> np.ndarray:
    """Automatic supercell matrix relative to ``primitive``.

    The smallest multiple ``diag(n1, n2, n3)`` of the standardized conventional cell whose
    face-to-face widths are all at least ``min_length`` Å. Returned relative to the primitive
    cell: ``supercell_lattice = M @ primitive.cell``.
    """
    if min_length <= 0:
        raise InputError(f"minimum supercell length must be positive, got {min_length}")
    to_conventional = conventional_transformation(primitive, symprec=symprec)
    conventional = to_conventional @ np.array(primitive.cell)
    multiples = np.maximum(1, np.ceil(min_length / face_widths(conventional) - 1e-8)).astype(int)
    return np.diag(multiples) @ to_conventional


def unitcell_indices(unitcell: Atoms, supercell: Atoms, tol: float = 1e-4) -> np.ndarray:
    """For each atom of ``supercell``, the index of the ``unitcell`` atom it repeats.

    ``supercell`` must be a periodic repetition of ``unitcell`` (any supercell matrix): every
    atom sits on a unit-cell atom of the same element up to a lattice vector of the unit cell
    (``tol`` in fractional coordinates).

    Raises
    ------
    ValueError
        Some supercell atom repeats no unit-cell atom.
    """
    inverse = np.linalg.inv(np.array(unitcell.cell))
    unit = unitcell.positions @ inverse
    indices = np.empty(len(supercell), dtype=int)
    for i, (position, number) in enumerate(
        zip(supercell.positions @ inverse, supercell.numbers, strict=True)
    ):
        difference = position[None] - unit
        difference -= np.rint(difference)
        match = np.flatnonzero((np.abs(difference).max(axis=1) < tol)
                               & (unitcell.numbers == number))
        if len(match) != 1:
            raise ValueError(f"supercell atom {i} repeats {len(match)} unit-cell atoms")
        indices[i] = match[0]
    return indices


@dataclass(frozen=True)
class SupercellSpec:
    """A supercell as the user gives it: a matrix, or the automatic choice.

    Attributes
    ----------
    matrix
        3x3 integers relative to the unit cell (3 or 9 integers are accepted and parsed once,
        here); ``None`` chooses automatically (:func:`choose_supercell`).
    min_length
        Minimum face-to-face width (Å) of the automatic supercell.
    """

    matrix: tuple | None = None
    min_length: float = DEFAULT_MIN_LENGTH

    def __post_init__(self):
        if self.matrix is not None:
            object.__setattr__(self, "matrix", tuple(map(tuple, parse_supercell(self.matrix)
                                                         .tolist())))
        if not self.min_length > 0:
            raise InputError(f"the supercell's minimum length must be positive, got "
                             f"{self.min_length}")

    def resolve(self, atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> np.ndarray:
        """The 3x3 supercell matrix of ``atoms``: the given one, or the automatic choice."""
        if self.matrix is None:
            return choose_supercell(atoms, min_length=self.min_length, symprec=symprec)
        return np.array(self.matrix, dtype=int)
