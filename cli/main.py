"""Entry point of the ``latdyn`` command.

Each command lives in its own module of :mod:`latdyn.cli` with ``register(subparsers)`` and
``run(args) -> int``; heavy packages are imported only inside ``run``.

Exit status: 0 success, 2 bad input (one line on stderr saying what to do; the same with
``--debug``, which adds the traceback), 1 internal error, 130 interrupted; ``screen`` returns 3
when no material succeeded.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from latdyn import __version__

#: Command name -> module of latdyn.cli that implements it.
COMMANDS = {
    "phonons": "phonons",
    "models": "models",
    "check-model": "check_model",
    "kappa": "kappa",
    "qha": "qha",
    "screen": "screen",
    "conservation": "conservation",
    "pes-slice": "pes_slice",
    "benchmark": "benchmark",
    "compare": "compare",
    "data": "data",
}

#: Loggers shown at debug level with ``--debug`` (others stay at warnings).
DEBUG_LOGGERS = ("latdyn", "phonopy", "phono3py", "symfc")

#: File in the output folder that receives third-party warnings (and, with --debug, more).
LOG_NAME = "latdyn.log"


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line with exit status 2.

    Every ``type=float`` option is parsed by :func:`latdyn.cli.options.finite_float`, so NaN and
    ±inf are refused by every command.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from latdyn.cli.options import finite_float

        self.register("type", float, finite_float)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="latdyn",
        description="Phonons and lattice thermal conductivity from machine-learned "
        "interatomic potentials.",
    )
    parser.add_argument("--version", action="version", version=f"latdyn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND",
                                       parser_class=OneLineParser)
    for name, module in COMMANDS.items():
        importlib.import_module(f"latdyn.cli.{module}").register(subparsers, name)
    return parser


class _LatdynOnly(logging.Filter):
    """Pass latdyn's records and drop third-party ones (or the reverse, with ``invert``)."""

    def __init__(self, invert: bool = False):
        super().__init__()
        self.invert = invert

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == "latdyn" or record.name.startswith("latdyn.")
        return ours != self.invert


class _LazyFileHandler(logging.FileHandler):
    """Append to a log file created (with its folder) only when something is logged."""

    def __init__(self, path: Path):
        super().__init__(path, mode="a", delay=True)

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record):  # an unwritable log must not stop the run
        pass


def configure_logging(debug: bool, log_file: Path | None, stage_lines: bool = True) -> None:
    """stderr: latdyn's warnings (with --debug: latdyn's, phonopy's and phono3py's debug
    logging plus third-party warnings, never matplotlib's font manager). ``log_file`` (in the
    output folder; created only when something is written to it) receives third-party warnings,
    which stay off the terminal without --debug, and with --debug everything. ``stage_lines``:
    each stage's one-line announcement (``latdyn.stages``), plain, on stderr."""
    logging.captureWarnings(False)  # re-install, in case something restored showwarning
    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for name in ("matplotlib", "PIL", "h5py", "numba", "urllib3", "fsspec", "asyncio",
                 "distributed", "torch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.NOTSET)
    fmt = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setFormatter(fmt)
    if not debug:
        terminal.addFilter(_LatdynOnly())
    root.addHandler(terminal)
    stages = logging.getLogger("latdyn.stages")
    for handler in list(stages.handlers):
        stages.removeHandler(handler)
    stages.propagate = False
    stages.setLevel(logging.INFO if stage_lines else logging.WARNING)
    stages.addHandler(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        handler = _LazyFileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG if debug else logging.WARNING)
        if not debug:  # latdyn's own warnings are on the terminal already
            handler.addFilter(_LatdynOnly(invert=True))
        root.addHandler(handler)


def resolve_progress(args: argparse.Namespace) -> None:
    """Progress bars only on a terminal, unless --progress or --no-progress forces it."""
    if not hasattr(args, "no_progress"):
        return
    forced = getattr(args, "force_progress", False)
    args.quiet = args.no_progress  # --no-progress also silences the stage lines
    args.no_progress = not forced and (args.no_progress or not sys.stderr.isatty())


def check_paths(args: argparse.Namespace) -> None:
    """--out and --cache-dir must be usable folders: checked before any work."""
    from latdyn.files import check_writable_folder

    if isinstance(getattr(args, "out", None), Path):
        check_writable_folder(args.out, "--out")
    if hasattr(args, "cache_dir") and not getattr(args, "no_cache", False):
        from latdyn.forces.cache import default_cache_dir

        check_writable_folder(Path(args.cache_dir) if args.cache_dir else default_cache_dir(),
                              "--cache-dir" if args.cache_dir else "the force cache "
                              "($LATDYN_CACHE_DIR or ~/.cache/latdyn; set --cache-dir or "
                              "--no-cache)")


def main(argv: list[str] | None = None) -> int:
    """Run ``latdyn``; returns the exit status (0 ok, 2 bad input, 1 internal error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    from latdyn.errors import LatdynError
    from latdyn.provenance import record_command_line

    record_command_line(["latdyn", *argv])
    resolve_progress(args)
    stage_lines = not getattr(args, "quiet", False)
    configure_logging(debug, None, stage_lines)
    try:
        check_paths(args)
        if isinstance(getattr(args, "out", None), Path):
            configure_logging(debug, args.out / LOG_NAME, stage_lines)
        return int(args.handler(args) or 0)
    except LatdynError as exc:
        print(f"latdyn {args.command}: error: {exc}", file=sys.stderr)
        if debug:
            import traceback

            traceback.print_exc()
        return 2
    except KeyboardInterrupt:
        print(f"latdyn {args.command}: interrupted; finished force sets are cached, "
              "rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"latdyn {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        if debug:
            import traceback

            traceback.print_exc()
        return 1
    finally:
        logging.shutdown()


if __name__ == "__main__":
    sys.exit(main())
