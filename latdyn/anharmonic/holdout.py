"""How well FC3 predicts the model's forces on supercells it was not fitted to.

A held-out set of ± pairs of random displacements (every atom moved by ``distance`` in a random
direction, each pattern and its opposite) is evaluated with the model. The even part of a pair's
forces, ``E = F(u) + F(-u) = -Φ3:uu + O(u⁴)``, depends on FC3 alone (FC2 and the fourth-order
term cancel), so

    residual = ‖E - E_FC3‖ / ‖E‖   over all pairs

measures the fitted FC3 against the model itself, for finite- and random-displacement fits
alike. Its floor is the fifth-order term and the model's numerical noise. The held-out seeds
(``random_seed + HOLDOUT_SEED_OFFSET``) are apart from those of the fit and of the convergence
check, so no held-out supercell was fitted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from phono3py import Phono3py
from phonopy.harmonic.displacement import get_random_displacements_dataset
from phonopy.structure.cells import Primitive

from latdyn.bounds import check_displacement
from latdyn.errors import InputError
from latdyn.structure.convert import to_ase_atoms

#: Seed offset of the held-out patterns from the run's random seed.
HOLDOUT_SEED_OFFSET = 10_000

#: Held-out residual above which a κ from a random-displacement FC3 is flagged as untrusted.
#: Fits whose κ holds reach 0.1-2 % (Tersoff Si, MgO, SiC, SevenNet-0 Si at 0.01-0.015 Å);
#: SevenNet-0 Si at 0.03 Å, whose κ is 21-81 % off, 3.5-6 %
#: (``reference_data/fc3_trust_Si_7net-0.md``).
TRUST_RESIDUAL_RANDOM = 0.02
#: The same for finite-displacement FC3, whose residual stays at 2-3 % where κ is right.
TRUST_RESIDUAL_FD = 0.05
#: Residual at or above which no κ is reported: the FC3 misses half of the model's forces.
UNUSABLE_RESIDUAL = 0.5


@dataclass(frozen=True)
class FC3HoldoutSettings:
    """The held-out check.

    Attributes
    ----------
    n_pairs
        ± pairs of random displacements (``2 * n_pairs`` supercells).
    distance
        Displacement of every atom (Å).
    random_seed
        Seed of the patterns.
    """

    n_pairs: int
    distance: float
    random_seed: int = HOLDOUT_SEED_OFFSET

    def __post_init__(self):
        if self.n_pairs < 1:
            raise InputError(f"the FC3 held-out check needs >= 1 ± pair, got {self.n_pairs}")
        check_displacement(self.distance, "the held-out displacement")


@dataclass(frozen=True)
class FC3Holdout:
    """FC3 against held-out model forces.

    Attributes
    ----------
    settings
        The check's settings.
    residual
        ``‖E - E_FC3‖ / ‖E‖`` over all pairs (dimensionless).
    pair_residuals
        The same per pair, ``(n_pairs,)``.
    even_part_norm
        ``‖E‖ / sqrt(n_pairs)``, the size of what is predicted (eV/Å).
    n_computed
        Supercells the model evaluated (the rest came from the force cache).
    seconds
        Wall time: forces and prediction (s).
    """

    settings: FC3HoldoutSettings
    residual: float
    pair_residuals: np.ndarray
    even_part_norm: float
    n_computed: int
    seconds: float

    def warning(self, method: str) -> str | None:
        """Why a κ from this FC3 (``method``: ``fd`` or ``random``) is not to be trusted, or
        ``None`` (see :func:`trust_warning`)."""
        return trust_warning(self.residual, method, self.settings.distance)


def trust_warning(residual: float, method: str, distance: float) -> str | None:
    """A one-line warning when the held-out residual of an FC3 fitted from ``method``
    displacements at ``distance`` Å is above :data:`TRUST_RESIDUAL_RANDOM` (random) or
    :data:`TRUST_RESIDUAL_FD` (finite displacements); ``None`` below."""
    limit = TRUST_RESIDUAL_RANDOM if method == "random" else TRUST_RESIDUAL_FD
    if residual <= limit:
        return None
    return (f"the FC3 misses held-out model forces by {residual:.1%} (trusted up to "
            f"{limit:.0%}): κ may be far off; the model's forces at {distance:g} Å are not "
            "described by an FC3 (try a smaller --fc3-displacement, e.g. 0.01, or more "
            "supercells)")


def even_part_from_fc3(fc3: np.ndarray, primitive: Primitive,
                       displacements: np.ndarray) -> np.ndarray:
    """``-Φ3:uu`` on every supercell atom, ``(n_patterns, n_atoms, 3)`` eV/Å.

    ``fc3`` is compact, ``(n_primitive_atoms, n_atoms, n_atoms, 3, 3, 3)`` eV/Å³ (phono3py's
    layout); ``displacements`` are ``(n_patterns, n_atoms, 3)`` Å. The rows of the other
    supercell atoms follow from the pure translations: for a translation permuting atoms by
    ``π``, ``Φ(π a, π b, π c) = Φ(a, b, c)``.
    """
    u = np.asarray(displacements, dtype=float)
    prediction = np.zeros_like(u)
    for index, atom in enumerate(primitive.p2s_map):
        for permutation in primitive.atomic_permutations:
            moved = u[:, permutation]
            prediction[:, permutation[atom]] = -np.einsum(
                "ijcab,nia,njb->nc", fc3[index], moved, moved, optimize=True)
    return prediction


def displaced_supercells(ph3: Phono3py, displacements: np.ndarray) -> list[Atoms]:
    """``ph3``'s FC3 supercell moved by each of ``displacements`` ``(n, n_atoms, 3)`` Å."""
    perfect = to_ase_atoms(ph3.supercell)
    cells = []
    for shift in displacements:
        cell = perfect.copy()
        cell.positions = perfect.positions + shift
        cells.append(cell)
    return cells


def even_part_residual(fc3: np.ndarray, primitive: Primitive, displacements: np.ndarray,
                       forces: np.ndarray) -> tuple[float, np.ndarray]:
    """How well ``fc3`` predicts the even part of ± pair forces.

    ``displacements`` and ``forces`` (residual subtracted) are ``(2 n, n_atoms, 3)``: ``n``
    patterns, then their opposites. Returns ``‖E - E_FC3‖ / ‖E‖`` over all pairs and the same
    per pair, ``(n,)``.
    """
    n = len(displacements) // 2
    even = np.asarray(forces[:n]) + np.asarray(forces[n:])
    error = even - even_part_from_fc3(fc3, primitive, displacements[:n])
    per_pair = np.linalg.norm(error.reshape(n, -1), axis=1) / np.maximum(
        np.linalg.norm(even.reshape(n, -1), axis=1), 1e-300)
    return float(np.linalg.norm(error) / max(np.linalg.norm(even), 1e-300)), per_pair


def holdout_displacements(n_atoms: int, settings: FC3HoldoutSettings) -> np.ndarray:
    """The held-out patterns then their opposites, ``(2 n_pairs, n_atoms, 3)`` Å."""
    return get_random_displacements_dataset(settings.n_pairs, n_atoms, settings.distance,
                                            random_seed=settings.random_seed,
                                            is_plusminus=True)


def run_fc3_holdout(
    ph3: Phono3py,
    fc3: np.ndarray,
    evaluate: Callable[[Sequence[Atoms]], tuple[np.ndarray, int]],
    settings: FC3HoldoutSettings,
) -> FC3Holdout:
    """Compare ``fc3`` (compact, on ``ph3``'s FC3 supercell) with held-out model forces.

    ``evaluate`` returns the forces of displaced supercells, residual subtracted,
    ``(n, n_atoms, 3)`` eV/Å, and how many of them the model computed.
    """
    start = time.perf_counter()
    displacements = holdout_displacements(len(ph3.supercell), settings)
    forces, n_computed = evaluate(displaced_supercells(ph3, displacements))
    residual, per_pair = even_part_residual(fc3, ph3.primitive, displacements, forces)
    per_pair.flags.writeable = False
    n = settings.n_pairs
    even = np.asarray(forces[:n]) + np.asarray(forces[n:])
    return FC3Holdout(
        settings=settings,
        residual=residual,
        pair_residuals=per_pair,
        even_part_norm=float(np.linalg.norm(even) / np.sqrt(n)),
        n_computed=n_computed,
        seconds=time.perf_counter() - start,
    )
