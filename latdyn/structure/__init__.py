"""Crystal structures: reading, validation, symmetry and supercells."""

from latdyn.structure.io import read_structure
from latdyn.structure.supercell import choose_supercell, parse_supercell
from latdyn.structure.symmetry import SymmetryInfo, get_symmetry, standardize_primitive

__all__ = [
    "SymmetryInfo",
    "choose_supercell",
    "get_symmetry",
    "parse_supercell",
    "read_structure",
    "standardize_primitive",
]
