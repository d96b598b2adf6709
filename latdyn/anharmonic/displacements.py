"""Displaced supercells for second- and third-order force constants (phono3py).

The FC2 and FC3 supercells are separate: FC2 needs a large supercell and few displacements, FC3 a
smaller one and many. FC3 displacements are either phono3py's symmetry-reduced pairs of finite
displacements (``fd``) or random displacements of every atom (``random``, fitted with symfc).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase import Atoms
from phono3py import Phono3py

from latdyn.anharmonic.specs import DISPLACEMENT_METHODS, FC2Spec, FC3Spec, check_method
from latdyn.bounds import check_displacement
from latdyn.errors import InputError
from latdyn.harmonic.displacements import MAX_SUPERCELL_ATOMS
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
from latdyn.structure.symmetry import DEFAULT_SYMPREC

__all__ = ["DISPLACEMENT_METHODS", "AnharmonicDisplacementSettings", "AnharmonicDisplacements",
           "run_anharmonic_displacements"]


@dataclass(frozen=True)
class AnharmonicDisplacementSettings:
    """Supercells and displacements for FC2 and FC3.

    Attributes
    ----------
    fc2_supercell, fc3_supercell
        3x3 integer matrices relative to the unit cell, ``supercell_lattice = M @ unit_lattice``.
    primitive_matrix
        Primitive cell relative to the unit cell (3x3, phono3py convention), ``"auto"`` to let
        phono3py find it, or ``None`` when the unit cell is primitive.
    fc2_distance, fc3_distance
        Displacement amplitudes (Å).
    fc2_plus_minus
        FC2: displace both ways (``True``), or only where the opposite displacement is not
        symmetry-equivalent (``"auto"``). Random FC2: ``True`` evaluates every pattern and its
        opposite (their difference is free of the FC3 term), anything else only the pattern.
    fc2_diagonal
        FC2: allow displacements along diagonal directions (fewer supercells).
    fc2_method
        ``fd`` (symmetry-reduced single displacements) or ``random`` (every atom displaced by
        ``fc2_distance`` in a random direction, fitted with symfc: one large supercell gives
        many more equations than FC2 has free constants).
    fc2_n_random
        Number of random FC2 supercells (``fc2_method="random"``).
    fc3_method
        ``fd`` (symmetry-reduced pairs of displacements) or ``random`` (every atom displaced by
        ``fc3_distance`` in a random direction).
    n_random
        Number of random displacement patterns; ``None``: ``n_random_factor`` times the number
        of supercells symfc needs at least (phono3py's estimate), as ± pairs with
        ``fc3_plus_minus`` (half as many patterns, as many supercells).
    n_random_factor
        Multiple of symfc's minimum for ``n_random=None`` (phono3py's default 4; at least 2,
        as a fit on barely enough supercells is ill-conditioned).
    fc3_plus_minus
        Random FC3: evaluate every pattern ``u`` and its opposite ``-u`` (two supercells a
        pattern). The pair's summed forces are even in ``u``, free of the FC2 and fourth-order
        terms that otherwise enter the FC3 fit as noise: on 7net-0 SiC, 32 supercells as 16
        pairs gave κ 4% below finite displacements, 32 independent ones 13% below.
    random_seed
        Seed of the random displacements (the same seed gives the same supercells, so the force
        cache is reused).
    symprec
        Symmetry tolerance (Å).
    """

    fc2_supercell: tuple
    fc3_supercell: tuple
    primitive_matrix: tuple | str | None = None
    fc2_distance: float = 0.01
    fc3_distance: float = 0.03
    fc2_plus_minus: bool | Literal["auto"] = True
    fc2_diagonal: bool = True
    fc2_method: str = "fd"
    fc2_n_random: int = 1
    fc3_method: str = "fd"
    n_random: int | None = None
    n_random_factor: float = 4.0
    fc3_plus_minus: bool = False
    random_seed: int = 0
    symprec: float = DEFAULT_SYMPREC

    def __post_init__(self):
        for name in ("fc2_distance", "fc3_distance"):
            check_displacement(getattr(self, name), name)
        check_method(self.fc2_method, "FC2")
        check_method(self.fc3_method, "FC3")
        if self.fc2_n_random < 1:
            raise InputError(f"the number of random FC2 supercells must be >= 1, got "
                             f"{self.fc2_n_random}")
        if self.n_random is not None and self.n_random < 1:
            raise InputError(f"the number of random supercells must be >= 1, got {self.n_random}")
        if not self.n_random_factor >= 2:
            raise InputError(f"the random-supercell factor must be >= 2, got "
                             f"{self.n_random_factor}")
        if self.fc2_plus_minus not in (True, False, "auto"):
            raise InputError(f"fc2_plus_minus must be True, False or 'auto', got "
                             f"{self.fc2_plus_minus!r}")


    @classmethod
    def from_specs(cls, fc2: FC2Spec, fc3: FC3Spec, fc2_matrix, fc3_matrix,
                   primitive_matrix: tuple | str | None = None, random_seed: int = 0,
                   symprec: float = DEFAULT_SYMPREC) -> AnharmonicDisplacementSettings:
        """The settings of the per-order choices ``fc2``, ``fc3`` with their supercells
        resolved to the matrices ``fc2_matrix``, ``fc3_matrix`` (3x3)."""
        return cls(
            fc2_supercell=tuple(map(tuple, np.asarray(fc2_matrix).tolist())),
            fc3_supercell=tuple(map(tuple, np.asarray(fc3_matrix).tolist())),
            primitive_matrix=primitive_matrix,
            fc2_distance=fc2.distance, fc3_distance=fc3.distance,
            fc2_plus_minus=fc2.plus_minus, fc2_diagonal=fc2.diagonal,
            fc2_method=fc2.method, fc2_n_random=fc2.n_random,
            fc3_method=fc3.method, n_random=fc3.n_random, n_random_factor=fc3.n_random_factor,
            fc3_plus_minus=fc3.plus_minus, random_seed=random_seed, symprec=symprec,
        )


@dataclass(frozen=True)
class AnharmonicDisplacements:
    """Displaced supercells of a unit cell for FC2 and FC3.

    Attributes
    ----------
    phono3py
        The phono3py object holding the unit cell, primitive cell, both supercells and both
        displacement datasets (no forces yet).
    fc2_supercell
        The undisplaced FC2 supercell.
    fc2_displaced
        The displaced FC2 supercells.
    fc3_supercell
        The undisplaced FC3 supercell.
    fc3_displaced
        The displaced FC3 supercells.
    settings
        The settings used.
    """

    phono3py: Phono3py
    fc2_supercell: Atoms
    fc2_displaced: tuple[Atoms, ...]
    fc3_supercell: Atoms
    fc3_displaced: tuple[Atoms, ...]
    settings: AnharmonicDisplacementSettings


def _check_size(unitcell: Atoms, matrix: np.ndarray, label: str) -> None:
    n_atoms = len(unitcell) * round(abs(np.linalg.det(matrix)))
    if n_atoms > MAX_SUPERCELL_ATOMS:
        raise InputError(
            f"the {label} supercell would have {n_atoms} atoms (> {MAX_SUPERCELL_ATOMS}); "
            f"choose a smaller --{label.lower()}-supercell"
        )


def run_anharmonic_displacements(
    unitcell: Atoms, settings: AnharmonicDisplacementSettings
) -> AnharmonicDisplacements:
    """Build the phono3py object of ``unitcell`` and generate FC2 and FC3 displacements."""
    fc2_matrix = np.array(settings.fc2_supercell, dtype=int)
    fc3_matrix = np.array(settings.fc3_supercell, dtype=int)
    _check_size(unitcell, fc2_matrix, "FC2")
    _check_size(unitcell, fc3_matrix, "FC3")
    primitive = settings.primitive_matrix
    if primitive is not None and not isinstance(primitive, str):
        primitive = np.array(primitive, dtype=float)
    ph3 = Phono3py(
        to_phonopy_atoms(unitcell),
        supercell_matrix=fc3_matrix,
        phonon_supercell_matrix=fc2_matrix,
        primitive_matrix=primitive,
        symprec=settings.symprec,
    )
    if settings.fc2_method == "random":
        ph3.generate_fc2_displacements(
            distance=settings.fc2_distance,
            number_of_snapshots=settings.fc2_n_random,
            random_seed=settings.random_seed,
            is_plusminus=settings.fc2_plus_minus is True,
        )
    else:
        ph3.generate_fc2_displacements(
            distance=settings.fc2_distance,
            is_plusminus=settings.fc2_plus_minus,
            is_diagonal=settings.fc2_diagonal,
        )
    if settings.fc3_method == "random":
        ph3.generate_displacements(
            distance=settings.fc3_distance,
            number_of_snapshots=settings.n_random or "auto",
            random_seed=settings.random_seed,
            is_plusminus=settings.fc3_plus_minus,
            number_estimation_factor=settings.n_random_factor
            / (2 if settings.fc3_plus_minus else 1),
        )
    else:
        ph3.generate_displacements(distance=settings.fc3_distance)
    return AnharmonicDisplacements(
        phono3py=ph3,
        fc2_supercell=to_ase_atoms(ph3.phonon_supercell),
        fc2_displaced=tuple(to_ase_atoms(c) for c in ph3.phonon_supercells_with_displacements),
        fc3_supercell=to_ase_atoms(ph3.supercell),
        fc3_displaced=tuple(to_ase_atoms(c) for c in ph3.supercells_with_displacements),
        settings=settings,
    )
