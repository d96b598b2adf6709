"""Symmetry-preserving internal degrees of freedom (the Wyckoff free parameters) by projection.

The space group acts on atomic displacements ``u`` (a vector of length ``3N``) through the
representation ``Γ(g)``: the displacement of atom ``i`` is rotated by the Cartesian rotation of
``g`` and carried to the atom ``g`` maps ``i`` onto. The displacements every operation leaves
unchanged form the range of the projector ``P = (1/|G|) Σ_g Γ(g)`` (eigenvalue 1). Uniform
translations along polar axes are in that range too; they change nothing and are removed by
pinning the first atom along those axes, which leaves exactly the free Wyckoff parameters (for
wurtzite: the anion ``z``; for rocksalt or zincblende: none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib
from ase import Atoms

from latdyn.errors import StructureError
from latdyn.structure.symmetry import DEFAULT_SYMPREC, SymmetryInfo, get_symmetry, spglib_cell

#: Eigenvalues of the projector above this count as 1 (they are 0 or 1 up to round-off).
EIGENVALUE_CUT = 0.5

#: Components smaller than this (Å, on a mode normalised to a largest atomic shift of 1 Å) are
#: taken as zero when the basis is made canonical and labelled.
ZERO_TOL = 1e-8


@dataclass(frozen=True)
class InternalModes:
    """Symmetry-preserving internal displacement patterns of a structure.

    Attributes
    ----------
    modes
        Displacement patterns, shape ``(n_modes, n_atoms, 3)``, Cartesian, dimensionless: each is
        scaled so that its largest atomic displacement is 1 (an amplitude of 1 Å moves that atom
        by 1 Å). The basis is canonical (reduced row echelon form) and the first atom is pinned
        along any polar axis, so no mode contains a uniform translation.
    labels
        One short label per mode naming the atoms that move and the direction, e.g.
        ``"N[1,3] +z"``.
    projector
        ``P = (1/|G|) Σ_g Γ(g)``, shape ``(3 n_atoms, 3 n_atoms)``, before translations are removed.
    n_invariant
        Rank of the projector (internal modes plus invariant translations).
    polar_axes
        Cartesian unit vectors of the uniform translations the space group leaves invariant,
        shape ``(n_polar, 3)``.
    symmetry
        Space group of the structure.
    """

    modes: np.ndarray
    labels: tuple[str, ...]
    projector: np.ndarray
    n_invariant: int
    polar_axes: np.ndarray
    symmetry: SymmetryInfo

    @property
    def n_modes(self) -> int:
        return int(self.modes.shape[0])


def cartesian_rotations(atoms: Atoms, rotations: np.ndarray) -> np.ndarray:
    """Fractional (spglib) rotations ``(n_ops, 3, 3)`` as Cartesian ones: ``L^T R L^-T``."""
    lattice_t = np.array(atoms.cell).T
    return np.einsum("ab,nbc,cd->nad", lattice_t, rotations, np.linalg.inv(lattice_t))


def atom_permutations(atoms: Atoms, rotations: np.ndarray, translations: np.ndarray,
                      symprec: float) -> np.ndarray:
    """``perm[g, i]``: the atom that operation ``g`` maps atom ``i`` onto, ``(n_ops, n_atoms)``.

    Raises
    ------
    StructureError
        An operation does not map the structure onto itself within ``max(10 symprec, 1e-3)`` Å.
    """
    scaled = atoms.get_scaled_positions()
    cell = np.array(atoms.cell)
    numbers = atoms.numbers
    tolerance = max(10 * symprec, 1e-3)
    perms = np.empty((len(rotations), len(atoms)), dtype=int)
    for g, (rotation, translation) in enumerate(zip(rotations, translations, strict=True)):
        images = scaled @ rotation.T + translation
        delta = images[:, None, :] - scaled[None, :, :]
        delta -= np.rint(delta)
        distance = np.linalg.norm(delta @ cell, axis=2)
        distance[numbers[:, None] != numbers[None, :]] = np.inf
        perms[g] = np.argmin(distance, axis=1)
        if (distance[np.arange(len(atoms)), perms[g]].max() > tolerance
                or len(set(perms[g].tolist())) != len(atoms)):
            raise StructureError(
                f"space-group operation {g} does not map the structure onto itself within "
                f"{tolerance:g} Å; symmetrize the structure or change --symprec"
            )
    return perms


def displacement_projector(atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> np.ndarray:
    """``(1/|G|) Σ_g Γ(g)`` over the space group of ``atoms``, shape ``(3N, 3N)``.

    ``Γ(g)`` has the block ``R_cart(g)`` at (atom ``perm_g(i)``, atom ``i``): it moves the
    rotated displacement of atom ``i`` to the atom ``g`` maps ``i`` onto.
    """
    dataset = spglib.get_symmetry_dataset(spglib_cell(atoms), symprec=symprec)
    if dataset is None:
        raise StructureError(f"spglib could not find the symmetry (symprec={symprec})")
    rotations = np.array(dataset.rotations, dtype=float)
    perms = atom_permutations(atoms, rotations, np.array(dataset.translations), symprec)
    cart = cartesian_rotations(atoms, rotations)
    n = len(atoms)
    projector = np.zeros((n, 3, n, 3))
    for rotation, perm in zip(cart, perms, strict=True):
        projector[perm, :, np.arange(n), :] += rotation
    return projector.reshape(3 * n, 3 * n) / len(rotations)


def find_internal_modes(atoms: Atoms, symprec: float = DEFAULT_SYMPREC) -> InternalModes:
    """The symmetry-preserving internal degrees of freedom of ``atoms`` (see module docstring)."""
    n = len(atoms)
    projector = displacement_projector(atoms, symprec)
    symmetric = 0.5 * (projector + projector.T)
    values, vectors = np.linalg.eigh(symmetric)
    invariant = vectors[:, values > EIGENVALUE_CUT]  # (3N, d), orthonormal
    # Uniform translations t (x) 1 that the group leaves invariant: the polar axes.
    uniform = np.kron(np.ones((n, 1)), np.eye(3)) / np.sqrt(n)  # (3N, 3)
    t_values, t_vectors = np.linalg.eigh(uniform.T @ symmetric @ uniform)
    polar = t_vectors[:, t_values > EIGENVALUE_CUT].T  # (k, 3)
    # Pin atom 0 along the polar axes: the displacements of the invariant space with no
    # component of atom 0 along them are a complement of the translations.
    constraint = np.zeros((len(polar), 3 * n))
    constraint[:, :3] = polar
    internal = invariant @ _null_space(constraint @ invariant)
    modes = _canonical_basis(internal.T).reshape(-1, n, 3)
    scale = np.linalg.norm(modes, axis=2).max(axis=1) if len(modes) else np.ones(0)
    modes = modes / scale[:, None, None]
    modes[np.abs(modes) < ZERO_TOL] = 0.0
    modes.flags.writeable = False
    projector.flags.writeable = False
    return InternalModes(
        modes=modes,
        labels=tuple(mode_label(atoms, mode) for mode in modes),
        projector=projector,
        n_invariant=int(invariant.shape[1]),
        polar_axes=polar,
        symmetry=get_symmetry(atoms, symprec),
    )


def _null_space(matrix: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Orthonormal basis of the null space of ``matrix`` (columns)."""
    if matrix.shape[0] == 0:
        return np.eye(matrix.shape[1])
    _, singular, vt = np.linalg.svd(matrix)
    rank = int(np.sum(singular > rtol * max(1.0, singular.max(initial=0.0))))
    return vt[rank:].T


def _canonical_basis(rows: np.ndarray) -> np.ndarray:
    """Reduced row echelon form of ``rows`` (linearly independent): a basis of their span that
    does not depend on how the span was found."""
    basis = np.array(rows, dtype=float)
    col = 0
    for r in range(basis.shape[0]):
        while col < basis.shape[1]:
            pivot = r + int(np.argmax(np.abs(basis[r:, col])))
            if abs(basis[pivot, col]) > 1e-6:
                break
            col += 1
        basis[[r, pivot]] = basis[[pivot, r]]
        basis[r] /= basis[r, col]
        others = np.arange(basis.shape[0]) != r
        basis[others] -= np.outer(basis[others, col], basis[r])
    return basis


def mode_label(atoms: Atoms, mode: np.ndarray) -> str:
    """``"N[1,3] +z"``-style label: the moving atoms grouped by element and direction."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, shift in enumerate(mode):
        norm = np.linalg.norm(shift)
        if norm < 1e-6:
            continue
        groups.setdefault((atoms[i].symbol, _direction(shift / norm)), []).append(i)
    return "; ".join(f"{symbol}[{','.join(map(str, idx))}] {direction}"
                     for (symbol, direction), idx in groups.items())


def _direction(unit: np.ndarray) -> str:
    for axis, name in enumerate("xyz"):
        if abs(abs(unit[axis]) - 1.0) < 1e-6:
            return f"{'+' if unit[axis] > 0 else '-'}{name}"
    return "(" + " ".join(f"{v:+.3f}" for v in unit) + ")"
