"""Quadratures of the rotation group O(3) and random rotations.

A quadrature of order ``L`` combines a Lebedev grid of order ``L`` on the sphere (the direction
of the rotated z axis, angles ``alpha, beta``) with ``L + 1`` equally spaced in-plane angles
``gamma``: ``R = Rz(alpha) Ry(beta) Rz(gamma)``. It integrates every Wigner D-function of
degree ``l <= L`` exactly, so a model averaged over it is equivariant up to terms of degree
``> L``. With inversion, each rotation also appears multiplied by ``-1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from latdyn.errors import InputError

#: Orders SciPy's Lebedev rule provides.
LEBEDEV_ORDERS = (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 35, 41, 47, 53, 59,
                  65, 71, 77, 83, 89, 95, 101, 107, 113, 119, 125, 131)


@dataclass(frozen=True)
class RotationQuadrature:
    """Rotations and weights that integrate over SO(3) or O(3).

    Attributes
    ----------
    rotations
        Orthogonal matrices, shape ``(n, 3, 3)``; a Cartesian vector ``v`` maps to ``R @ v``.
    weights
        Quadrature weights, shape ``(n,)``, summing to one.
    order
        Lebedev order ``L``.
    include_inversion
        Whether the improper rotations ``-R`` are included (O(3) instead of SO(3)).
    """

    rotations: np.ndarray
    weights: np.ndarray
    order: int
    include_inversion: bool

    @property
    def size(self) -> int:
        """Number of rotations (model evaluations per structure)."""
        return len(self.weights)


def _rz(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 1, 0], out[..., 1, 1] = c, -s, s, c
    out[..., 2, 2] = 1.0
    return out


def _ry(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 2], out[..., 2, 0], out[..., 2, 2] = c, s, -s, c
    out[..., 1, 1] = 1.0
    return out


def check_order(order: int) -> int:
    """Return ``order`` if SciPy has a Lebedev rule of that order, else raise InputError."""
    if order not in LEBEDEV_ORDERS:
        valid = ", ".join(map(str, LEBEDEV_ORDERS[:12]))
        raise InputError(f"no Lebedev grid of order {order}; choose one of {valid}, ...")
    return int(order)


@lru_cache(maxsize=16)
def o3_quadrature(order: int, include_inversion: bool = True) -> RotationQuadrature:
    """The rotation quadrature of Lebedev order ``order`` (see the module docstring)."""
    from scipy.integrate import lebedev_rule

    check_order(order)
    points, sphere_weights = lebedev_rule(order)
    x, y, z = points
    beta = np.arccos(np.clip(z, -1.0, 1.0))
    alpha = np.arctan2(y, x)
    n_gamma = order + 1
    gamma = 2.0 * np.pi * np.arange(n_gamma) / n_gamma
    outer = _rz(alpha) @ _ry(beta)  # (m, 3, 3)
    rotations = np.einsum("mij,gjk->mgik", outer, _rz(gamma)).reshape(-1, 3, 3)
    weights = np.repeat(sphere_weights / sphere_weights.sum(), n_gamma) / n_gamma
    if include_inversion:
        rotations = np.concatenate([rotations, -rotations])
        weights = np.concatenate([weights, weights]) / 2.0
    rotations.flags.writeable = False
    weights.flags.writeable = False
    return RotationQuadrature(rotations, weights, int(order), bool(include_inversion))


def random_rotations(n: int, seed: int = 0, include_inversion: bool = True) -> np.ndarray:
    """``n`` random orthogonal matrices ``(n, 3, 3)``, uniform (Haar) over SO(3).

    With ``include_inversion`` every other matrix is multiplied by ``-1`` (improper).
    """
    from scipy.spatial.transform import Rotation

    matrices = Rotation.random(n, random_state=np.random.default_rng(seed)).as_matrix()
    if include_inversion:
        matrices[1::2] *= -1.0
    return matrices
