"""latdyn: phonons and lattice thermal conductivity from machine-learned interatomic potentials.

The command line is the top-level ``cli/`` folder of the repository, installed as
``latdyn.cli`` (setuptools ``package-dir``). Run from a source checkout (``PYTHONPATH`` at the
checkout, or an editable install), :func:`_map_checkout_cli` maps ``latdyn.cli`` to that
checkout's ``cli/``, so a worktree uses its own command line.
"""

import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"


class _CheckoutCLIFinder:
    """Finds ``latdyn.cli`` in a source checkout's top-level ``cli/`` folder."""

    folder: Path

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != "latdyn.cli":
            return None
        return importlib.util.spec_from_file_location(
            "latdyn.cli", cls.folder / "__init__.py",
            submodule_search_locations=[str(cls.folder)])


def _map_checkout_cli() -> None:
    """Map ``latdyn.cli`` to ``../cli`` when this ``latdyn`` is a source checkout's (an
    installed wheel holds ``latdyn/cli`` itself, and no ``cli`` beside the package)."""
    package = Path(__file__).resolve().parent
    folder = package.parent / "cli"
    if (package / "cli").is_dir() or not (folder / "__init__.py").is_file():
        return
    _CheckoutCLIFinder.folder = folder
    sys.meta_path.insert(0, _CheckoutCLIFinder)


_map_checkout_cli()
