"""Content-addressed on-disk cache of forces.

One ``.npz`` entry per structure, keyed by the SHA-256 of the backend identity and the exact
float64 bytes of its atomic numbers, cell and positions: two structures that differ at all,
however little (a displacement of 1e-9 Å), never share a key. Reruns reuse their entries because
the structures are computed deterministically from the input (relaxations are cached too, see
:mod:`latdyn.relax_cache`).

Each entry stores, beside the forces, what validates it: the key, the shape and the SHA-256 of
the forces. An entry that fails any check on reading (a truncated or foreign file, a folder in
its place, edited forces) is reported and recomputed, never used. Files are written atomically,
so an interrupted run never leaves a partial entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.files import atomic_path, write_json

#: Entry format version (part of each entry).
ENTRY_VERSION = 2


def default_cache_dir() -> Path:
    """``$LATDYN_CACHE_DIR``, else ``$XDG_CACHE_HOME/latdyn``, else ``~/.cache/latdyn``."""
    if os.environ.get("LATDYN_CACHE_DIR"):
        return Path(os.environ["LATDYN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latdyn"


def structure_key(atoms: Atoms, identity: str) -> str:
    """SHA-256 hex key of a structure evaluated by the backend called ``identity``.

    Uses the exact float64 bytes of the cell and positions (``-0.0`` counted as ``0.0``).
    """
    digest = hashlib.sha256()
    digest.update(identity.encode())
    digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for array in (np.array(atoms.cell), atoms.positions):
        digest.update((np.ascontiguousarray(array, dtype=np.float64) + 0.0).tobytes())
    return digest.hexdigest()


def forces_checksum(forces: np.ndarray) -> str:
    """SHA-256 of the float64 bytes of ``forces``."""
    return hashlib.sha256(np.ascontiguousarray(forces, dtype=np.float64).tobytes()).hexdigest()


class CacheEntryError(Exception):
    """An entry exists but cannot be trusted (the message says why)."""


class ForceCache:
    """Forces stored under ``root/forces/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def _path(self, key: str) -> Path:
        return self.root / "forces" / key[:2] / f"{key}.npz"

    def get(self, key: str, n_atoms: int) -> np.ndarray | None:
        """The cached forces for ``key`` (shape ``(n_atoms, 3)``), or ``None`` if absent.

        Raises
        ------
        CacheEntryError
            The entry exists but fails validation; it should be recomputed.
        """
        path = self._path(key)
        if not os.path.lexists(path):
            return None
        if not path.is_file():
            raise CacheEntryError("not a file")
        try:
            with np.load(path, allow_pickle=False) as entry:
                fields = {name: entry[name] for name in ("version", "key", "shape", "sha256",
                                                         "forces")}
        except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            raise CacheEntryError(f"unreadable ({type(exc).__name__})") from None
        forces = np.asarray(fields["forces"], dtype=np.float64)
        if int(fields["version"]) != ENTRY_VERSION or str(fields["key"]) != key:
            raise CacheEntryError("stored key differs")
        if tuple(fields["shape"].tolist()) != (n_atoms, 3) or forces.shape != (n_atoms, 3):
            raise CacheEntryError(f"shape {forces.shape} instead of {(n_atoms, 3)}")
        if str(fields["sha256"]) != forces_checksum(forces):
            raise CacheEntryError("checksum mismatch")
        if not np.all(np.isfinite(forces)):
            raise CacheEntryError("non-finite forces")
        return forces

    def _record_path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json"

    def get_record(self, kind: str, key: str) -> dict | None:
        """The JSON record ``kind/key`` (e.g. a relaxed structure), or ``None`` if absent.

        Raises
        ------
        CacheEntryError
            The record exists but is unreadable or stored under another key.
        """
        path = self._record_path(kind, key)
        if not os.path.lexists(path):
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise CacheEntryError(f"unreadable ({type(exc).__name__})") from None
        if not isinstance(record, dict) or record.get("key") != key:
            raise CacheEntryError("stored key differs")
        return record

    def put_record(self, kind: str, key: str, record: dict) -> None:
        """Store the JSON-able ``record`` as ``kind/key`` atomically."""
        path = self._record_path(kind, key)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        write_json(path, {**record, "key": key})

    def put(self, key: str, forces: np.ndarray) -> None:
        """Store ``forces`` under ``key`` atomically (replacing a broken entry)."""
        forces = np.ascontiguousarray(forces, dtype=np.float64)
        path = self._path(key)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, version=np.int64(ENTRY_VERSION), key=np.str_(key),
                     shape=np.array(forces.shape, dtype=np.int64),
                     sha256=np.str_(forces_checksum(forces)), forces=forces)


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
