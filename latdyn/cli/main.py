"""Entry point of the ``latdyn`` command.

Each command lives in its own module of :mod:`latdyn.cli` with ``register(subparsers)`` and
``run(args) -> int``; heavy packages are imported only inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

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


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line with exit status 2."""

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


def main(argv: list[str] | None = None) -> int:
    """Run ``latdyn``; returns the exit status (0 ok, 2 bad input, 1 internal error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from latdyn.errors import LatdynError

    try:
        return int(args.handler(args) or 0)
    except LatdynError as exc:
        if debug:
            raise
        print(f"latdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"latdyn {args.command}: interrupted; finished force sets are cached, "
              "rerun to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"latdyn {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
