"""Phonon modes at Γ grouped into the degenerate sets that symmetry requires.

The dynamical matrix at Γ is averaged over the point group of the primitive cell (the
representation of each space-group operation on the ``3 n`` displacements, atom permutations
included); the eigenspaces of that symmetrized matrix are the sets of modes symmetry makes
degenerate (accidental degeneracies are split with a random group-invariant matrix). The
splitting of a set is the spread of the eigenvalues of the actual dynamical matrix restricted
to it (first-order degenerate perturbation theory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms, units
from phonopy import Phonopy

from latdyn.structure.convert import to_ase_atoms
from latdyn.symmetrize.spacegroup import find_operations

#: sqrt(eV / (Å² amu)) in THz (angular frequency to frequency included).
TO_THZ = float(np.sqrt(units._e / units._amu) * 1e10 / (2.0 * np.pi) / 1e12)

#: Eigenvalues closer than this, relative to the largest, are taken to be degenerate.
DEGENERACY_TOLERANCE = 1e-8


@dataclass(frozen=True)
class GammaModes:
    """Modes at Γ and how far symmetry-required degeneracies are split.

    Attributes
    ----------
    frequencies
        All frequencies at Γ from the symmetric part of the dynamical matrix (THz, negative
        means imaginary), ascending, shape ``(3 n_prim,)``.
    degenerate_sets
        For every set of modes symmetry makes degenerate, the frequencies (THz) of the actual
        dynamical matrix restricted to it, ascending.
    max_splitting
        Largest spread within a degenerate set (THz).
    max_optical_splitting
        Largest spread within a degenerate set orthogonal to the rigid translations (THz). The
        acoustic sets' spread is that of frequencies near zero, where ``sqrt`` magnifies a tiny
        sum-rule violation; this one is what a degeneracy check of the optical modes sees.
    acoustic_frequencies
        Frequencies of the dynamical matrix restricted to the rigid translations (THz),
        shape ``(3,)``; zero when the translational sum rule holds.
    n_operations
        Number of symmetry operations of the primitive cell used.
    """

    frequencies: np.ndarray
    degenerate_sets: tuple[tuple[float, ...], ...]
    max_splitting: float
    max_optical_splitting: float
    acoustic_frequencies: np.ndarray
    n_operations: int

    @property
    def max_acoustic(self) -> float:
        """Largest ``|acoustic frequency|`` at Γ (THz)."""
        return float(np.abs(self.acoustic_frequencies).max())


def _frequencies(eigenvalues: np.ndarray) -> np.ndarray:
    return np.sign(eigenvalues) * np.sqrt(np.abs(eigenvalues)) * TO_THZ


def gamma_dynamical_matrix(phonon: Phonopy, force_constants: np.ndarray | None = None):
    """Mass-weighted dynamical matrix at Γ, ``(3 n_prim, 3 n_prim)`` in eV/(Å² amu).

    Built directly from the force constants (full ``(n, n, 3, 3)`` or compact
    ``(n_prim, n, 3, 3)``, default ``phonon.force_constants``), without symmetrizing it.
    """
    fc = np.asarray(phonon.force_constants if force_constants is None else force_constants)
    primitive = phonon.primitive
    p2s = np.asarray(primitive.p2s_map)
    s2p = np.asarray(primitive.s2p_map)
    masses = np.asarray(primitive.masses, dtype=float)
    n = len(p2s)
    rows = fc[p2s] if fc.shape[0] == fc.shape[1] else fc
    matrix = np.zeros((n, 3, n, 3))
    for b, sb in enumerate(p2s):
        matrix[:, :, b, :] = rows[:, s2p == sb].sum(axis=1)
    matrix /= np.sqrt(np.outer(masses, masses))[:, None, :, None]
    return matrix.reshape(3 * n, 3 * n)


def _clusters(values: np.ndarray, tolerance: float) -> list[np.ndarray]:
    order = np.argsort(values)
    groups, current = [], [order[0]]
    for i in order[1:]:
        if values[i] - values[current[-1]] <= tolerance:
            current.append(i)
        else:
            groups.append(np.array(current))
            current = [i]
    groups.append(np.array(current))
    return groups


def degenerate_subspaces(matrix: np.ndarray, representation: np.ndarray,
                         seed: int = 0) -> list[np.ndarray]:
    """Orthonormal bases ``(3n, d)`` of the irreducible subspaces symmetry makes degenerate.

    ``representation`` is ``(n_ops, 3n, 3n)``; ``matrix`` any real symmetric matrix.
    """
    def average(x: np.ndarray) -> np.ndarray:
        return np.einsum("gij,jk,glk->il", representation, x, representation) / len(
            representation)

    symmetric = average(0.5 * (matrix + matrix.T))
    values, vectors = np.linalg.eigh(symmetric)
    scale = max(np.abs(values).max(), 1e-30)
    generic = average(np.random.default_rng(seed).standard_normal(matrix.shape))
    generic = 0.5 * (generic + generic.T)
    subspaces = []
    for group in _clusters(values, DEGENERACY_TOLERANCE * scale):
        basis = vectors[:, group]
        if len(group) == 1:
            subspaces.append(basis)
            continue
        inner_values, inner_vectors = np.linalg.eigh(basis.T @ generic @ basis)
        inner_scale = max(np.abs(inner_values).max(), 1e-30)
        for inner in _clusters(inner_values, 1e-6 * inner_scale):
            subspaces.append(basis @ inner_vectors[:, inner])
    return subspaces


def point_group_representation(primitive: Atoms, symprec: float = 1e-5) -> np.ndarray:
    """Matrices ``(n_ops, 3n, 3n)`` of the space-group operations acting on displacements at Γ.

    Operation ``g`` maps the displacement of atom ``a`` to ``R_g u_a`` on atom ``g(a)``.
    """
    operations = find_operations(primitive, symprec)
    n = len(primitive)
    representation = np.zeros((operations.n_operations, n, 3, n, 3))
    for g, (rotation, permutation) in enumerate(
            zip(operations.rotations, operations.permutations, strict=True)):
        representation[g, permutation, :, np.arange(n), :] = rotation
    return representation.reshape(-1, 3 * n, 3 * n)


def gamma_modes(phonon: Phonopy, force_constants: np.ndarray | None = None,
                symprec: float = 1e-5) -> GammaModes:
    """Γ frequencies, symmetry-required degenerate sets and their splitting (see module doc)."""
    matrix = gamma_dynamical_matrix(phonon, force_constants)
    representation = point_group_representation(to_ase_atoms(phonon.primitive), symprec)
    symmetric = 0.5 * (matrix + matrix.T)
    masses = np.asarray(phonon.primitive.masses, dtype=float)
    translations = np.kron(np.sqrt(masses)[:, None], np.eye(3))
    translations /= np.linalg.norm(translations, axis=0)
    sets, optical_spreads = [], [0.0]
    for basis in degenerate_subspaces(symmetric, representation):
        if basis.shape[1] > 1:
            values = np.sort(_frequencies(np.linalg.eigvalsh(basis.T @ symmetric @ basis)))
            sets.append(tuple(values.tolist()))
            if np.linalg.norm(translations.T @ basis) ** 2 < 0.5 * basis.shape[1]:
                optical_spreads.append(float(values[-1] - values[0]))
    sets.sort()
    splitting = max((s[-1] - s[0] for s in sets), default=0.0)

    acoustic = _frequencies(np.linalg.eigvalsh(translations.T @ symmetric @ translations))
    frequencies = np.sort(_frequencies(np.linalg.eigvalsh(symmetric)))
    frequencies.flags.writeable = False
    acoustic.flags.writeable = False
    return GammaModes(
        frequencies=frequencies,
        degenerate_sets=tuple(sets),
        max_splitting=float(splitting),
        max_optical_splitting=max(optical_spreads),
        acoustic_frequencies=acoustic,
        n_operations=len(representation),
    )
