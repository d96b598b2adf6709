"""Options shared by several commands: each declared once here, with its converter.

The vocabulary: the structure positionally with ``--index``; ``--supercell`` (alias ``--dim``,
phonopy's name) and ``--min-length`` (default 10 Å); ``--mesh L`` or ``--mesh N N N``;
temperatures as ``--tmin/--tmax/--tstep`` or an explicit ``--temperatures T [T ...]``; the
force cache (``--cache-dir``, ``--no-cache``), ``--progress``/``--no-progress``; ``--born FILE``.

Every ``type=float`` option of every command is parsed by :func:`finite_float` (registered by
:class:`latdyn.cli.main.OneLineParser`), so NaN and ±inf are refused everywhere.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from latdyn.bounds import MAX_DISPLACEMENT, MAX_SYMPREC, MIN_DISPLACEMENT, MIN_SYMPREC
from latdyn.structure.supercell import DEFAULT_MIN_LENGTH


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


def add_cache_options(group) -> None:
    """``--cache-dir`` and ``--no-cache``."""
    group.add_argument("--cache-dir", default=None,
                       help="force-set cache folder, checked before any work (default: "
                       "$LATDYN_CACHE_DIR or ~/.cache/latdyn)")
    group.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the force-set cache")


def add_force_options(parser: argparse.ArgumentParser) -> None:
    """Options of commands that compute force sets: cache and progress."""
    group = parser.add_argument_group("force evaluation")
    add_cache_options(group)
    add_progress_options(group)


def add_structure_argument(parser: argparse.ArgumentParser, optional: bool = False,
                           help_text: str | None = None) -> None:
    """The positional structure and ``--index``."""
    kwargs = {"nargs": "?", "default": None} if optional else {}
    parser.add_argument("structure", type=Path, **kwargs,
                        help=help_text or "structure file: POSCAR/CONTCAR, CIF or extended XYZ")
    parser.add_argument("--index", default=0, type=int,
                        help="which structure of a multi-structure file (default: first)")


def add_structure_options(parser: argparse.ArgumentParser) -> None:
    """Positional structure plus relaxation options."""
    add_structure_argument(parser)
    relax = add_relax_options(parser)
    relax.add_argument("--allow-symmetry-change", action="store_true",
                       help="go on if the relaxation changes the space group")


def add_relax_options(parser: argparse.ArgumentParser):
    """``--no-relax``, ``--fmax``, ``--relax-steps``, ``--optimizer``, ``--symprec``; returns
    the argument group so a command can add its own symmetry-change option."""
    relax = parser.add_argument_group("relaxation")
    add_relax_switch(relax, True, "skip the relaxation", "relax before the calculation "
                     "(the default)")
    relax.add_argument("--fmax", type=positive_float, default=RELAX_DEFAULTS["fmax"],
                       help="force convergence of the relaxation, eV/Å (default: %(default)g)")
    relax.add_argument("--relax-steps", type=int, default=RELAX_DEFAULTS["relax_steps"],
                       help="step limit of the relaxation (default: %(default)s)")
    relax.add_argument("--optimizer", default=RELAX_DEFAULTS["optimizer"],
                       choices=["FIRE", "BFGS", "LBFGS"],
                       help="ASE optimizer (default: %(default)s)")
    add_symprec_option(relax)
    return relax


def add_relax_switch(group, default: bool, off: str, on: str) -> None:
    """``--relax`` / ``--no-relax`` (``dest="relax"``), in every command that relaxes: one
    syntax, each command's own default (``off`` and ``on``: what each spelling does)."""
    group.add_argument("--relax", dest="relax", default=default,
                       action=argparse.BooleanOptionalAction,
                       help=f"--relax: {on}; --no-relax: {off}")


def add_supercell_options(group, relative_to: str = "the standardized primitive cell",
                          automatic: str = "smallest multiple of the conventional cell with "
                          "all face-to-face widths at least this") -> None:
    """``--supercell`` (alias ``--dim``) and ``--min-length`` (default 10 Å)."""
    group.add_argument("--supercell", "--dim", dest="supercell", type=int, nargs="+",
                       metavar="N",
                       help=f"3 or 9 integers relative to {relative_to} (alias --dim, "
                       "phonopy's name; default: automatic, see --min-length)")
    group.add_argument("--min-length", type=positive_float, default=DEFAULT_MIN_LENGTH,
                       help=f"automatic supercell: {automatic}, Å (default: %(default)s)")


def add_mesh_option(group, default: float | None, what: str, *aliases: str,
                    shown: str | None = None) -> None:
    """``--mesh L`` (a length density, Å) or ``--mesh N N N`` (see :func:`mesh_value`);
    ``aliases``: other spellings; ``shown``: the default as the help states it."""
    shown = shown or ("the command's default" if default is None else f"{default:g}")
    group.add_argument("--mesh", *aliases, dest="mesh", type=float, nargs="+", metavar="N",
                       default=None if default is None else [default],
                       help=f"q-mesh of {what}: one length density in Å (phonopy's rule) or "
                       f"three integers (default: {shown})")


def mesh_value(values: list[float] | None):
    """``--mesh``: one length density or three integers (``None`` stays ``None``)."""
    from latdyn.errors import InputError

    if values is None:
        return None
    if len(values) == 1 and values[0] > 0:
        return float(values[0])
    if len(values) == 3 and all(float(v).is_integer() and v > 0 for v in values):
        return tuple(int(v) for v in values)
    raise InputError(f"--mesh needs one positive length or three positive integers, got "
                     f"{[float(v) for v in values]}")


def add_temperature_options(group, what: str, default_range: tuple[float, float, float],
                            default_list: tuple[float, ...] | None = None) -> None:
    """``--tmin/--tmax/--tstep`` (a range) or ``--temperatures T [T ...]`` (a list).

    ``default_list``: the temperatures when none of them is given (else the default range).
    """
    tmin, tmax, tstep = default_range
    fallback = (f"{', '.join(f'{t:g}' for t in default_list)} K unless a range option is given"
                if default_list else f"the range {tmin:g}..{tmax:g} K step {tstep:g}")
    group.add_argument("--tmin", type=float, metavar="K",
                       help=f"lowest temperature of {what}, K (default: {tmin:g})")
    group.add_argument("--tmax", type=float, metavar="K",
                       help=f"highest temperature of {what}, K (default: {tmax:g})")
    group.add_argument("--tstep", type=positive_float, metavar="K",
                       help=f"temperature step of {what}, K (default: {tstep:g})")
    group.add_argument("--temperatures", type=float, nargs="+", metavar="T",
                       help=f"explicit temperatures of {what}, K, instead of a range "
                       f"(default: {fallback})")
    group.set_defaults(temperature_defaults=(default_range, default_list))


def temperatures_value(args: argparse.Namespace) -> tuple[float, ...]:
    """The temperatures (K) of :func:`add_temperature_options`' options."""
    import numpy as np

    from latdyn.errors import InputError

    (tmin, tmax, tstep), default_list = args.temperature_defaults
    given = {name: getattr(args, name) for name in ("tmin", "tmax", "tstep")
             if getattr(args, name) is not None}
    if args.temperatures is not None:
        if given:
            raise InputError("give either --temperatures or --tmin/--tmax/--tstep, not both")
        return tuple(float(t) for t in args.temperatures)
    if not given and default_list:
        return tuple(default_list)
    tmin, tmax, tstep = (given.get("tmin", tmin), given.get("tmax", tmax),
                         given.get("tstep", tstep))
    if tmax < tmin:
        raise InputError(f"--tmax {tmax:g} is below --tmin {tmin:g}")
    return tuple(np.arange(tmin, tmax + 1e-9, tstep).tolist())


def add_born_options(group) -> None:
    """``--born FILE`` and ``--no-nac`` (NAC of polar crystals)."""
    group.add_argument("--born", type=Path, metavar="FILE",
                       help="phonopy BORN file (dielectric tensor and Born charges of the "
                       "independent atoms of the primitive cell, in the input structure's "
                       "frame): NAC for polar crystals (default: a file named BORN beside the "
                       "structure, as phonopy does)")
    group.add_argument("--no-nac", action="store_true",
                       help="no NAC, even with a BORN file beside the structure")


def born_value(args: argparse.Namespace, atoms, command: str):
    """The BORN file of a run (``--born``, or BORN beside the structure), saying on stderr
    when one was found automatically, and warning once when a compound has none."""
    from latdyn.harmonic.nac import find_born, looks_polar

    if args.no_nac:
        if args.born is not None:
            from latdyn.errors import InputError

            raise InputError("--born and --no-nac contradict each other; give one")
        return None
    born = find_born(args.structure, args.born)
    if born is not None and born.auto_found:
        print(f"latdyn {command}: NAC from {born.path} (found beside the structure; --no-nac "
              "to leave it out)", file=sys.stderr)
    elif born is None and looks_polar(atoms):
        print(f"latdyn {command}: warning: {atoms.get_chemical_formula(empirical=True)} has "
              "more than one species and no BORN file: if it is a polar insulator, LO–TO "
              "splitting is missing (give --born FILE)", file=sys.stderr)
    return born


def add_symprec_option(group) -> None:
    """``--symprec``."""
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
    no_relax = not getattr(args, "relax", True)
    return [(f"--{name.replace('_', '-')}",
             no_relax and getattr(args, name) != default, "a relaxation (drop --no-relax)")
            for name, default in RELAX_DEFAULTS.items()]


def supercell_values(values: list[int] | None):
    """Validate ``--supercell`` (3 or 9 integers) early, before any work."""
    if values is None:
        return None
    from latdyn.structure.supercell import parse_supercell

    return tuple(map(tuple, parse_supercell(values).tolist()))


def add_kappa_kernel_option(group, dest: str = "kappa_kernel") -> None:
    """``--kappa-kernel``: the κ step's three-phonon linewidth kernel."""
    group.add_argument("--kappa-kernel", dest=dest, choices=["latdyn", "phono3py"],
                       help="three-phonon linewidths of the κ step: latdyn (batched torch "
                       "kernel on --device; rta, wigner) or phono3py (its own); default: "
                       "latdyn, phono3py for lbte")


def model_settings_from(args: argparse.Namespace):
    """:class:`~latdyn.settings.ModelSettings` of ``--model``, ``--device``, ``--symmetrize``,
    ``--rotations``."""
    from latdyn.settings import ModelSettings

    return ModelSettings(name=args.model, device=args.device, symmetrize=args.symmetrize,
                         rotations=args.rotations)


def execution_settings_from(args: argparse.Namespace, progress: bool | None = None):
    """:class:`~latdyn.settings.ExecutionSettings` of ``--cache-dir``, ``--no-cache`` and the
    progress options (``progress`` overrides them)."""
    from latdyn.settings import ExecutionSettings

    return ExecutionSettings(cache_dir=args.cache_dir, use_cache=not args.no_cache,
                             progress=not args.no_progress if progress is None else progress)


#: Prefix of an option's ``dest`` that names a settings field (see :func:`field_changes`).
SETTINGS_DEST = "settings."


def field_changes(args: argparse.Namespace) -> dict:
    """The options whose ``dest`` is ``settings.`` and a settings field's path
    (``settings.fc3.method``, ``settings.fc_solver``) and that were given, as nested changes
    for :func:`latdyn.workflows.kappa_settings.with_changes`: one hop from option to field."""
    changes: dict = {}
    for dest, value in vars(args).items():
        if not dest.startswith(SETTINGS_DEST) or value is None:
            continue
        *groups, name = dest[len(SETTINGS_DEST):].split(".")
        target = changes
        for group in groups:
            target = target.setdefault(group, {})
        target[name] = value
    return changes


def relax_settings_from(args: argparse.Namespace, allow_symmetry_change: bool | None = None):
    """:class:`~latdyn.relax.RelaxSettings` of the relaxation options (``--fmax``,
    ``--relax-steps``, ``--optimizer``, ``--symprec``, ``--allow-symmetry-change``;
    ``allow_symmetry_change`` overrides the last)."""
    from latdyn.relax import RelaxSettings

    if allow_symmetry_change is None:
        allow_symmetry_change = args.allow_symmetry_change
    return RelaxSettings(fmax=args.fmax, max_steps=args.relax_steps, optimizer=args.optimizer,
                         symprec=args.symprec, allow_symmetry_change=allow_symmetry_change)
