"""Options shared by several commands, and the checks every command's options get.

Every ``type=float`` option of every command is parsed by :func:`finite_float` (registered by
:class:`latdyn.cli.main.OneLineParser`), so NaN and ±inf are refused everywhere.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from latdyn.bounds import MAX_DISPLACEMENT, MAX_SYMPREC, MIN_DISPLACEMENT, MIN_SYMPREC


def finite_float(text: str) -> float:
    """A float that is neither NaN nor ±inf (argparse type of every ``type=float`` option)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def displacement_float(text: str) -> float:
    """A displacement amplitude in [MIN_DISPLACEMENT, MAX_DISPLACEMENT) Å."""
    value = finite_float(text)
    if not MIN_DISPLACEMENT <= value < MAX_DISPLACEMENT:
        raise argparse.ArgumentTypeError(
            f"must be in [{MIN_DISPLACEMENT:g}, {MAX_DISPLACEMENT:g}) Å, got {text}")
    return value


def symprec_float(text: str) -> float:
    """A symmetry tolerance in [MIN_SYMPREC, MAX_SYMPREC] Å (spglib crashes far outside it)."""
    value = finite_float(text)
    if not MIN_SYMPREC <= value <= MAX_SYMPREC:
        raise argparse.ArgumentTypeError(
            f"must be in [{MIN_SYMPREC:g}, {MAX_SYMPREC:g}] Å, got {text}")
    return value


def add_common_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--model``, ``--device``, ``--out``, ``--debug`` (every command has them)."""
    group = parser.add_argument_group("common options")
    group.add_argument("--model", default="7net-0",
                       help="MLIP name (see `latdyn models`), FAMILY:PATH of a local checkpoint "
                       "or package.module:factory (its forces are cached only if the factory "
                       "or its calculator declares `latdyn_identity`; default: %(default)s)")
    group.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                       help="device for torch models (default: %(default)s)")
    group.add_argument("--out", type=Path, default=Path(default_out),
                       help="output folder, checked before any work; its files are replaced "
                       "together at the end of a run (default: %(default)s)")
    group.add_argument("--debug", action="store_true",
                       help="latdyn's and phonopy's debug logging, third-party warnings and full "
                       "tracebacks on errors (the exit status stays the same)")


def add_progress_options(group) -> None:
    """``--progress`` / ``--no-progress``: progress bars are shown only on a terminal unless
    one of them forces it (resolved in :func:`latdyn.cli.main.main`)."""
    group.add_argument("--progress", action="store_true", dest="force_progress",
                       help="show progress bars even when stderr is not a terminal")
    group.add_argument("--no-progress", action="store_true",
                       help="hide progress bars (default: shown only on a terminal)")


def add_force_options(parser: argparse.ArgumentParser) -> None:
    """Options of commands that compute force sets: cache and progress."""
    group = parser.add_argument_group("force evaluation")
    group.add_argument("--cache-dir", default=None,
                       help="force-set cache folder, checked before any work (default: "
                       "$LATDYN_CACHE_DIR or ~/.cache/latdyn)")
    group.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the force-set cache")
    add_progress_options(group)


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
    relax.add_argument("--fmax", type=positive_float, default=RELAX_DEFAULTS["fmax"],
                       help="force convergence of the relaxation, eV/Å (default: %(default)g)")
    relax.add_argument("--relax-steps", type=int, default=RELAX_DEFAULTS["relax_steps"],
                       help="step limit of the relaxation (default: %(default)s)")
    relax.add_argument("--optimizer", default=RELAX_DEFAULTS["optimizer"],
                       choices=["FIRE", "BFGS", "LBFGS"],
                       help="ASE optimizer (default: %(default)s)")
    add_symprec_option(relax)
    return relax


def add_symprec_option(group) -> None:
    group.add_argument("--symprec", type=symprec_float, default=1e-5,
                       help=f"symmetry tolerance, Å, from {MIN_SYMPREC:g} to {MAX_SYMPREC:g} "
                       "(default: %(default)g)")


#: Relaxation options and their defaults (refused with --no-relax when changed).
RELAX_DEFAULTS = {"fmax": 1e-4, "relax_steps": 300, "optimizer": "FIRE"}


def refuse_ignored(args: argparse.Namespace, pairs: list[tuple[str, bool, str]]) -> None:
    """Raise :class:`InputError` for the first option the chosen method would ignore.

    ``pairs``: (option as typed, whether it was given and is ignored, what would use it).
    """
    from latdyn.errors import InputError

    for option, ignored, needs in pairs:
        if ignored:
            raise InputError(f"{option} has no effect here: it needs {needs}; drop it or "
                             "change the method")


def relax_ignored(args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    """Relaxation options given with ``--no-relax``."""
    no_relax = getattr(args, "no_relax", False)
    return [(f"--{name.replace('_', '-')}",
             no_relax and getattr(args, name) != default, "a relaxation (drop --no-relax)")
            for name, default in RELAX_DEFAULTS.items()]


def supercell_values(values: list[int] | None):
    """Validate ``--supercell`` (3 or 9 integers) early, before any work."""
    if values is None:
        return None
    from latdyn.structure.supercell import parse_supercell

    return tuple(map(tuple, parse_supercell(values).tolist()))
