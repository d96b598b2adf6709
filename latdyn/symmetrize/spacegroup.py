"""Projection of forces and stress onto the subspace invariant under a structure's space group.

The operations are those spglib finds for the structure itself: for a displaced supercell they
are the operations that leave the displaced configuration invariant (its site symmetry), so the
projected forces obey exactly the symmetry that configuration has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from latdyn.errors import StructureError
from latdyn.structure.symmetry import DEFAULT_SYMPREC, spglib_cell


@dataclass(frozen=True)
class SpaceGroupOperations:
    """Space-group operations of one structure in Cartesian form.

    Attributes
    ----------
    rotations
        Cartesian rotation matrices, shape ``(n_ops, 3, 3)``: ``r -> R @ r + t``.
    permutations
        Atom permutations, shape ``(n_ops, n_atoms)``: operation ``g`` moves atom ``i`` onto
        atom ``permutations[g, i]`` (modulo lattice vectors).
    symprec
        Tolerance used (Å).
    """

    rotations: np.ndarray
    permutations: np.ndarray
    symprec: float

    @property
    def n_operations(self) -> int:
        return len(self.rotations)

    def project_forces(self, forces: np.ndarray) -> np.ndarray:
        """Group average ``(1/|G|) sum_g R_g F_{g^-1(j)}`` of forces ``(n_atoms, 3)`` (eV/Å)."""
        forces = np.asarray(forces, dtype=float)
        out = np.zeros_like(forces)
        for rotation, permutation in zip(self.rotations, self.permutations, strict=True):
            out[permutation] += forces @ rotation.T
        return out / self.n_operations

    def project_stress(self, stress: np.ndarray) -> np.ndarray:
        """Group average ``(1/|G|) sum_g R_g S R_g^T`` of a ``(3, 3)`` stress tensor."""
        stress = np.asarray(stress, dtype=float)
        return np.einsum("gij,jk,glk->il", self.rotations, stress, self.rotations) / (
            self.n_operations
        )

    def max_force_violation(self, forces: np.ndarray) -> float:
        """Largest ``|R_g F_i - F_{g(i)}|`` over operations and atoms (eV/Å)."""
        forces = np.asarray(forces, dtype=float)
        worst = 0.0
        for rotation, permutation in zip(self.rotations, self.permutations, strict=True):
            worst = max(worst, float(np.abs(forces @ rotation.T - forces[permutation]).max()))
        return worst


def find_operations(atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> SpaceGroupOperations:
    """The space-group operations of ``atoms`` (spglib) with the atom permutations they induce.

    Raises
    ------
    StructureError
        spglib finds no symmetry, or an operation does not map the atoms onto themselves.
    """
    import spglib
    from scipy.spatial import cKDTree

    symmetry = spglib.get_symmetry(spglib_cell(atoms), symprec=symprec)
    if symmetry is None:
        raise StructureError(f"spglib could not find the symmetry (symprec={symprec})")
    lattice = np.array(atoms.cell)
    fractional = atoms.get_scaled_positions(wrap=True)
    numbers = atoms.numbers
    tree = cKDTree(_unit_interval(fractional), boxsize=1.0)
    # Cartesian r = lattice.T @ x, so R = lattice.T @ W @ inv(lattice.T).
    rotations = np.einsum("ij,gjk,kl->gil", lattice.T, symmetry["rotations"],
                          np.linalg.inv(lattice.T))
    permutations = np.empty((len(rotations), len(atoms)), dtype=int)
    for g, (w, t) in enumerate(zip(symmetry["rotations"], symmetry["translations"],
                                   strict=True)):
        _, nearest = tree.query(_unit_interval(fractional @ w.T + t))
        if (np.any(numbers[nearest] != numbers)
                or len(np.unique(nearest)) != len(atoms)):
            raise StructureError(
                f"space-group operation {g} does not map the structure onto itself "
                f"(symprec={symprec}); try another --symprec"
            )
        permutations[g] = nearest
    rotations.flags.writeable = False
    permutations.flags.writeable = False
    return SpaceGroupOperations(rotations, permutations, float(symprec))


def _unit_interval(fractional: np.ndarray) -> np.ndarray:
    """Fractional coordinates wrapped into ``[0, 1)`` (``np.mod`` can return exactly 1)."""
    wrapped = np.mod(fractional, 1.0)
    wrapped[wrapped >= 1.0] = 0.0
    return wrapped
