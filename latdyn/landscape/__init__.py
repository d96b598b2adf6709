"""Symmetry-restricted energy landscapes: Wyckoff free parameters and PES slices along them."""

from latdyn.landscape.slice import (
    EnergyLandscape,
    ReferenceComparison,
    SliceAxis,
    SliceSettings,
    compare_with_reference,
    evaluate_energies,
    run_slice,
)
from latdyn.landscape.wyckoff import InternalModes, find_internal_modes

__all__ = [
    "EnergyLandscape",
    "InternalModes",
    "ReferenceComparison",
    "SliceAxis",
    "SliceSettings",
    "compare_with_reference",
    "evaluate_energies",
    "find_internal_modes",
    "run_slice",
]
