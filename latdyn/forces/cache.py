"""Content-addressed on-disk cache of forces.

One ``.npy`` file per structure, keyed by the SHA-256 of its atomic numbers, cell and positions
(rounded to 1e-8 Å) and the backend identity. Files are written atomically, so an interrupted
run never leaves a partial entry, and a later run (``phonons`` or ``kappa``) never recomputes
a force set it already has.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.files import atomic_path

#: Positions and cells are rounded to this many decimals (Å) before hashing.
KEY_DECIMALS = 8


def default_cache_dir() -> Path:
    """``$LATDYN_CACHE_DIR``, else ``$XDG_CACHE_HOME/latdyn``, else ``~/.cache/latdyn``."""
    if os.environ.get("LATDYN_CACHE_DIR"):
        return Path(os.environ["LATDYN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latdyn"


def structure_key(atoms: Atoms, identity: str) -> str:
    """SHA-256 hex key of a structure evaluated by the backend called ``identity``."""
    digest = hashlib.sha256()
    digest.update(identity.encode())
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (np.array(atoms.cell), atoms.positions):
        rounded = np.round(np.asarray(array, dtype=np.float64), KEY_DECIMALS) + 0.0
        digest.update(rounded.tobytes())
    return digest.hexdigest()


class ForceCache:
    """Forces stored under ``root/forces/<key[:2]>/<key>.npy``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.root / "forces" / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached forces for ``key``, or ``None``."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            return np.load(path)
        except (OSError, ValueError):  # a corrupted entry is recomputed
            return None

    def put(self, key: str, forces: np.ndarray) -> None:
        """Store ``forces`` under ``key`` atomically."""
        with atomic_path(self._path(key)) as tmp, open(tmp, "wb") as handle:
            np.save(handle, np.asarray(forces, dtype=np.float64))


def cache_record(cache_dir: str | os.PathLike | None, use_cache: bool) -> dict:
    """``summary.json``'s record of the force cache a run used: folder and where it came from
    (``--cache-dir``, ``$LATDYN_CACHE_DIR`` or the default)."""
    if not use_cache:
        return {"used": False, "dir": None, "source": None}
    if cache_dir is not None:
        source = "--cache-dir"
    elif os.environ.get("LATDYN_CACHE_DIR"):
        source = "LATDYN_CACHE_DIR"
    else:
        source = "default"
    return {"used": True, "dir": str(ForceCache(cache_dir).root.resolve()), "source": source}
