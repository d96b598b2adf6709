"""``--symmetrize`` and ``--rotations``: options of every command that computes forces."""

from __future__ import annotations

import argparse

from latdyn.symmetrize.calculator import DEFAULT_ROTATION_ORDER, SYMMETRIZE_MODES


def add_symmetrize_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--symmetrize none|spacegroup|o3|full`` and ``--rotations ORDER``."""
    group = parser.add_argument_group("symmetrization")
    group.add_argument("--symmetrize", default="none", choices=list(SYMMETRIZE_MODES),
                       help="symmetrize the model's predictions: spacegroup projects forces "
                       "onto each structure's symmetry (cheap), o3 averages over rotated copies "
                       "(costly), full does both (default: %(default)s)")
    group.add_argument("--rotations", type=int, default=None, metavar="ORDER",
                       help="Lebedev order of the O(3) average of o3/full (3, 5, 7, ...; "
                       f"default {DEFAULT_ROTATION_ORDER}: 48 evaluations per structure)")
