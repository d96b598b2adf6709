"""What to screen: the materials of one multi-structure file or of a folder of structure files.

Each material gets a stable id (``info['name']``, ``info['mp_id']``, the file stem, or its index
in a multi-structure file) and optional per-material settings read from ``atoms.info``
(``fc2_supercell``, ``fc3_supercell``, ``supercell``, ``q_mesh``). A file of a folder that cannot
be read becomes a material with ``read_error`` set (recorded as failed); a missing or empty input
raises :class:`~latdyn.errors.InputError`.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.errors import InputError

logger = logging.getLogger(__name__)

#: ``atoms.info`` keys that set per-material settings.
OVERRIDE_KEYS = ("fc2_supercell", "fc3_supercell", "supercell", "q_mesh")

#: File name patterns of a folder input (case-insensitive).
_SUFFIXES = (".cif", ".vasp", ".poscar")
_PREFIXES = ("POSCAR", "CONTCAR")


@dataclass(frozen=True)
class Material:
    """One structure to screen.

    Attributes
    ----------
    id
        Unique material id (the store's key).
    position
        Order in the input (0-based).
    source
        Where it came from: a file, or ``file@index`` for a multi-structure file.
    atoms
        The structure as read (not yet validated); ``None`` when it could not be read.
    overrides
        Per-material settings from ``atoms.info``: a subset of :data:`OVERRIDE_KEYS`, values as
        tuples of integers.
    read_error
        Why the file could not be read, or ``None``.
    content_key
        SHA-256 of the structure's content (atomic numbers, cell, positions; exact float64
        bytes), or of the read error: a finished material is reused only while its content is
        the same, whatever its position or id in the input.
    """

    id: str
    position: int
    source: str
    atoms: Atoms | None
    overrides: dict = field(default_factory=dict)
    read_error: str | None = None

    @property
    def content_key(self) -> str:
        digest = hashlib.sha256()
        if self.atoms is None:
            digest.update(f"unreadable:{self.read_error}".encode())
            return digest.hexdigest()
        digest.update(np.asarray(self.atoms.numbers, dtype=np.int64).tobytes())
        for array in (np.array(self.atoms.cell), self.atoms.positions):
            digest.update((np.ascontiguousarray(array, dtype=np.float64) + 0.0).tobytes())
        digest.update(repr(sorted(self.overrides.items())).encode())
        return digest.hexdigest()


def _is_structure_file(path: Path) -> bool:
    name = path.name.upper()
    return path.is_file() and (
        path.suffix.lower() in _SUFFIXES or any(name.startswith(p) for p in _PREFIXES)
    )


def _ase_format(path: Path) -> str | None:
    name = path.name.upper()
    if any(name.startswith(p) for p in _PREFIXES) or name.endswith((".VASP", ".POSCAR")):
        return "vasp"
    return None


def _read(path: Path, index) -> list[Atoms]:
    from ase.io import read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        images = read(path, index=index, format=_ase_format(path))
    return images if isinstance(images, list) else [images]


def _overrides(info: dict) -> dict:
    """Per-material settings of ``info``, as tuples of integers (validated later, per material)."""
    found = {}
    for key in OVERRIDE_KEYS:
        if key in info and info[key] is not None:
            value = info[key]
            if isinstance(value, str):
                value = value.replace(",", " ").split()
            found[key] = tuple(np.asarray(value).ravel().tolist())
    return found


def _named_id(atoms: Atoms) -> str | None:
    for key in ("name", "mp_id"):
        value = atoms.info.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _unique(ids: list[str]) -> list[str]:
    """Make repeated ids unique by appending ``-2``, ``-3``... in input order."""
    seen: dict[str, int] = {}
    unique = []
    for material_id in ids:
        seen[material_id] = seen.get(material_id, 0) + 1
        if seen[material_id] > 1:
            logger.warning("material id %r is repeated; calling it %s-%d", material_id,
                           material_id, seen[material_id])
            material_id = f"{material_id}-{seen[material_id]}"
        unique.append(material_id)
    return unique


def _from_file(path: Path) -> list[Material]:
    try:
        images = _read(path, ":")
    except Exception as exc:  # ASE raises many kinds of errors for unparsable files
        raise InputError(
            f"cannot read structures from {path} ({type(exc).__name__}: {exc}); give an extended "
            "XYZ file or a folder of POSCAR/CIF files"
        ) from None
    if not images:
        raise InputError(f"{path} contains no structures")
    ids = _unique([_named_id(a) or str(i) for i, a in enumerate(images)])
    return [
        Material(id=ids[i], position=i, source=f"{path}@{i}", atoms=atoms,
                 overrides=_overrides(atoms.info))
        for i, atoms in enumerate(images)
    ]


def _from_folder(folder: Path) -> list[Material]:
    files = sorted(p for p in folder.iterdir() if _is_structure_file(p))
    if not files:
        raise InputError(
            f"folder {folder} has no structure files (*.cif, *.vasp, POSCAR*, CONTCAR*)"
        )
    read: list[tuple[Path, Atoms | None, str | None]] = []
    for path in files:
        try:
            atoms, error = _read(path, 0)[0], None
        except Exception as exc:  # one unreadable file must not stop the screen
            atoms, error = None, f"cannot read {path.name}: {type(exc).__name__}: {exc}"
        read.append((path, atoms, error))
    ids = _unique([
        (_named_id(atoms) if atoms is not None else None) or path.stem
        for path, atoms, _ in read
    ])
    return [
        Material(id=ids[i], position=i, source=str(path), atoms=atoms,
                 overrides=_overrides(atoms.info) if atoms is not None else {},
                 read_error=error)
        for i, (path, atoms, error) in enumerate(read)
    ]


def discover_materials(path: str | Path) -> tuple[Material, ...]:
    """The materials of an extended XYZ (or any multi-structure) file or of a folder.

    Raises
    ------
    InputError
        ``path`` does not exist, cannot be read, or holds no structures.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist; give a multi-structure file or a folder")
    if path.is_dir():
        return tuple(_from_folder(path))
    if path.stat().st_size == 0:
        raise InputError(f"structure file {path} is empty")
    return tuple(_from_file(path))
