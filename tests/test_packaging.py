"""The package list of pyproject.toml: every package of the source tree, cli/ as latdyn.cli."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def source_packages() -> set[str]:
    """``latdyn`` and its subpackages, ``cli/`` counted as ``latdyn.cli``."""
    packages = {".".join(path.parent.relative_to(ROOT).parts)
                for path in (ROOT / "latdyn").rglob("__init__.py")}
    packages |= {".".join(("latdyn", *path.parent.relative_to(ROOT).parts))
                 for path in (ROOT / "cli").rglob("__init__.py")}
    return packages


def test_pyproject_lists_every_package_and_maps_the_cli():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(setuptools["packages"]) == source_packages()
    assert setuptools["package-dir"] == {"latdyn.cli": "cli"}
    assert not (ROOT / "latdyn" / "cli").exists()


def test_checkout_imports_its_own_cli():
    import latdyn.cli.main

    assert Path(latdyn.cli.main.__file__).resolve().parent == ROOT / "cli"
