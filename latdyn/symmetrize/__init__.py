"""Symmetrized MLIP predictions: O(3) averaging and space-group projection at inference time.

See Bigi, Pegolo, Mazitov, Ceriotti, arXiv:2601.16195 for the method.
"""

from latdyn.symmetrize.calculator import (
    DEFAULT_ROTATION_ORDER,
    SYMMETRIZE_MODES,
    SymmetrizationSettings,
    SymmetrizedBackend,
    SymmetrizedCalculator,
)
from latdyn.symmetrize.model import (
    symmetrization_record,
    symmetrization_settings,
    symmetrize_model,
    unwrapped_model,
)
from latdyn.symmetrize.rotations import (
    LEBEDEV_ORDERS,
    RotationQuadrature,
    o3_quadrature,
    random_rotations,
)
from latdyn.symmetrize.spacegroup import SpaceGroupOperations, find_operations

__all__ = [
    "DEFAULT_ROTATION_ORDER",
    "LEBEDEV_ORDERS",
    "SYMMETRIZE_MODES",
    "RotationQuadrature",
    "SpaceGroupOperations",
    "SymmetrizationSettings",
    "SymmetrizedBackend",
    "SymmetrizedCalculator",
    "find_operations",
    "o3_quadrature",
    "random_rotations",
    "symmetrization_record",
    "symmetrization_settings",
    "symmetrize_model",
    "unwrapped_model",
]
