"""``latdyn models``: list the registered MLIPs."""

from __future__ import annotations

import argparse
import importlib.util


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(name, help="list the available models",
                                   description="List the registered models and whether their "
                                   "package is installed.")
    parser.add_argument("--debug", action="store_true", help="full tracebacks on errors")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latdyn.models.registry import DEFAULT_MODEL, available_models

    for spec in available_models():
        installed = importlib.util.find_spec(spec.package) is not None
        status = "installed" if installed else f"needs `pip install latdyn[{spec.package}]`"
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        print(f"{spec.name:12s} {spec.description}{default} [{status}]")
    print("package.module:factory  any ASE calculator returned by a factory you provide")
    return 0
