"""Shared fixtures: an isolated force cache, the reference-data folder, small structures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ase.build import bulk

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "reference_data"

if "LATDYN_DATA_DIR" not in os.environ and SHARED_DATA.exists():
    os.environ["LATDYN_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty force cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LATDYN_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def data_dir() -> Path:
    path = Path(os.environ.get("LATDYN_DATA_DIR", SHARED_DATA))
    if not path.exists():
        pytest.fail(f"reference data not found at {path}; set LATDYN_DATA_DIR")
    return path


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
