"""Shared fixtures: an isolated force cache, the reference-data folder, small structures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ase.build import bulk

REPO = Path(__file__).resolve().parents[1]
#: Small excerpts of the reference data kept in the repository (tests/data/README.md).
EXCERPTS = REPO / "tests" / "data"
SHARED_DATA = REPO.parent / "shared" / "reference_data"
NO_DATA_REASON = ("needs the full reference data: set LATDYN_DATA_DIR to it or run "
                  "`latdyn data fetch` (README, Development)")


def full_data_dir() -> Path | None:
    """The full reference data: ``$LATDYN_DATA_DIR``, ``../shared/reference_data`` beside the
    checkout, or the folder ``latdyn data fetch`` fills; ``None`` when none holds the κSRME set.
    """
    from latdyn.datadir import data_dir

    if os.environ.get("LATDYN_DATA_DIR"):
        return Path(os.environ["LATDYN_DATA_DIR"])  # set on purpose: a wrong path fails
    for path in (SHARED_DATA, data_dir()):
        if (path / "ksrme").is_dir():
            return path
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Tests over the full reference data (marker ``needs_data`` or the ``data_dir`` fixture)
    skip, with the reason, when no data folder is found."""
    found = full_data_dir() is not None
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_data)
        if not found and item.get_closest_marker("needs_data"):
            item.add_marker(pytest.mark.skip(reason=NO_DATA_REASON))


@pytest.fixture
def data_dir() -> Path:
    """The full reference data folder."""
    path = full_data_dir()
    if path is None:
        pytest.skip(NO_DATA_REASON)
    if not path.exists():
        pytest.fail(f"LATDYN_DATA_DIR={path} does not exist; unset it or point it at the "
                    "reference data")
    return path


@pytest.fixture
def excerpt_dir() -> Path:
    """The excerpts in tests/data/: a data folder with the same layout as the full one."""
    return EXCERPTS


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty force cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LATDYN_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def cu_primitive():
    return bulk("Cu", "fcc", a=3.61)


def emt_forces(cells):
    """EMT forces on ASE or phonopy cells, ``(n_cells, n_atoms, 3)`` eV/Å."""
    import numpy as np
    from ase.calculators.emt import EMT

    from latdyn.structure.convert import to_ase_atoms

    out = []
    for cell in cells:
        atoms = to_ase_atoms(cell) if not hasattr(cell, "get_forces") else cell.copy()
        atoms.calc = EMT()
        out.append(atoms.get_forces())
    return np.array(out)


def sevenn_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("sevenn") is not None
