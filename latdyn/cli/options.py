"""Options shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_common_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--model``, ``--device``, ``--out``, ``--debug`` (every command has them)."""
    group = parser.add_argument_group("common options")
    group.add_argument("--model", default="7net-0",
                       help="MLIP name (see `latdyn models`) or package.module:factory "
                       "(default: %(default)s)")
    group.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                       help="device for torch models (default: %(default)s)")
    group.add_argument("--out", type=Path, default=Path(default_out),
                       help="output folder (default: %(default)s)")
    group.add_argument("--debug", action="store_true",
                       help="verbose logging and full tracebacks on errors")


def add_force_options(parser: argparse.ArgumentParser) -> None:
    """Options of commands that compute force sets: cache and progress."""
    group = parser.add_argument_group("force evaluation")
    group.add_argument("--cache-dir", default=None,
                       help="force-set cache folder (default: $LATDYN_CACHE_DIR or "
                       "~/.cache/latdyn)")
    group.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the force-set cache")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_structure_options(parser: argparse.ArgumentParser) -> None:
    """Positional structure plus relaxation options."""
    parser.add_argument("structure", type=Path,
                        help="structure file: POSCAR/CONTCAR, CIF or extended XYZ")
    parser.add_argument("--index", default=0, type=int,
                        help="which structure of a multi-structure file (default: first)")
    relax = add_relax_options(parser)
    relax.add_argument("--allow-symmetry-change", action="store_true",
                       help="go on if the relaxation changes the space group")


def add_relax_options(parser: argparse.ArgumentParser):
    """``--no-relax``, ``--fmax``, ``--relax-steps``, ``--optimizer``, ``--symprec``; returns
    the argument group so a command can add its own symmetry-change option."""
    relax = parser.add_argument_group("relaxation")
    relax.add_argument("--no-relax", action="store_true", help="skip the relaxation")
    relax.add_argument("--fmax", type=positive_float, default=1e-4,
                       help="force convergence of the relaxation, eV/Å (default: %(default)g)")
    relax.add_argument("--relax-steps", type=int, default=300,
                       help="step limit of the relaxation (default: %(default)s)")
    relax.add_argument("--optimizer", default="FIRE", choices=["FIRE", "BFGS", "LBFGS"],
                       help="ASE optimizer (default: %(default)s)")
    relax.add_argument("--symprec", type=positive_float, default=1e-5,
                       help="symmetry tolerance, Å (default: %(default)g)")
    return relax


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def supercell_values(values: list[int] | None):
    """Validate ``--supercell`` (3 or 9 integers) early, before any work."""
    if values is None:
        return None
    from latdyn.structure.supercell import parse_supercell

    return tuple(map(tuple, parse_supercell(values).tolist()))


def add_kappa_kernel_option(group) -> None:
    """``--kappa-kernel``: the κ step's three-phonon linewidth kernel."""
    group.add_argument("--kappa-kernel", choices=["latdyn", "phono3py"],
                       help="three-phonon linewidths of the κ step: latdyn (batched torch "
                       "kernel on --device; rta, wigner) or phono3py (its own); default: "
                       "latdyn, phono3py for lbte")
