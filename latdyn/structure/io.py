"""Reading and validating crystal structures (POSCAR/CONTCAR, CIF, extended XYZ)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.errors import InputError, StructureError

#: Two atoms closer than this (Å) are taken to overlap.
MIN_INTERATOMIC_DISTANCE = 0.5

_VASP_NAMES = ("POSCAR", "CONTCAR")


def _guess_format(path: Path) -> str | None:
    name = path.name.upper()
    if any(name.startswith(stem) for stem in _VASP_NAMES) or name.endswith(".VASP"):
        return "vasp"
    return None


def read_structure(path: str | Path, index: int | str = 0) -> Atoms:
    """Read one periodic structure and check that it can be used.

    Parameters
    ----------
    path
        POSCAR/CONTCAR, CIF, extended XYZ or any format ASE reads.
    index
        Which structure of a multi-structure file (ASE index syntax).

    Raises
    ------
    InputError
        The file is missing or cannot be parsed.
    StructureError
        The structure has no 3D periodic cell or overlapping atoms.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"structure file {path} does not exist; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a structure file (POSCAR, CIF, extended XYZ)")
    if path.stat().st_size == 0:
        raise InputError(f"structure file {path} is empty")
    from ase.io import read

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = read(path, index=index, format=_guess_format(path))
    except Exception as exc:  # ASE raises many kinds of errors for unparsable files
        raise InputError(
            f"cannot read a structure from {path} ({type(exc).__name__}: {exc}); "
            "give a POSCAR, CIF or extended XYZ file"
        ) from None
    if isinstance(atoms, list):  # a slice index
        raise InputError("give the index of a single structure, not a slice")
    validate_structure(atoms, source=str(path))
    return atoms


def validate_structure(atoms: Atoms, source: str = "structure") -> None:
    """Raise :class:`StructureError` unless ``atoms`` is a 3D-periodic crystal without overlaps."""
    if len(atoms) == 0:
        raise StructureError(f"{source} contains no atoms")
    if not all(atoms.pbc) or atoms.cell.rank < 3 or abs(atoms.cell.volume) < 1e-6:
        raise StructureError(
            f"{source} has no 3D periodic cell (a molecule?); "
            "give a crystal with three lattice vectors and periodic boundaries"
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise StructureError(f"{source} has non-finite atomic positions")
    distance, pair = _min_distance(atoms)
    if distance < MIN_INTERATOMIC_DISTANCE:
        i, j = pair
        raise StructureError(
            f"{source}: atoms {i} ({atoms[i].symbol}) and {j} ({atoms[j].symbol}) are "
            f"{distance:.3f} Å apart (< {MIN_INTERATOMIC_DISTANCE} Å); remove duplicated atoms"
        )


def _min_distance(atoms: Atoms) -> tuple[float, tuple[int, int]]:
    """Shortest interatomic distance under periodic boundaries, and the pair."""
    from ase.neighborlist import neighbor_list

    if len(atoms) == 1:
        return float("inf"), (0, 0)
    i, j, d = neighbor_list("ijd", atoms, MIN_INTERATOMIC_DISTANCE + 1e-9, self_interaction=False)
    if len(d) == 0:
        return float("inf"), (0, 0)
    k = int(np.argmin(d))
    return float(d[k]), (int(i[k]), int(j[k]))
