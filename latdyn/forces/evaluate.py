"""Evaluate forces on many structures through a backend, the cache and a progress bar."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from latdyn.forces.backend import ForceBackend
from latdyn.forces.cache import ForceCache, structure_key


@dataclass(frozen=True)
class ForceEvaluation:
    """Forces on a list of structures.

    Attributes
    ----------
    forces
        Forces in eV/Å, shape ``(n_structures, n_atoms, 3)``.
    n_computed
        Structures the model evaluated in this call.
    n_cached
        Structures whose forces came from the cache.
    seconds
        Wall time of the evaluation (s).
    """

    forces: np.ndarray
    n_computed: int
    n_cached: int
    seconds: float


def evaluate_forces(
    backend: ForceBackend,
    structures: Sequence[Atoms],
    cache: ForceCache | None = None,
    progress: bool = True,
    desc: str = "forces",
) -> ForceEvaluation:
    """Forces on ``structures``, reading and filling ``cache`` when given.

    Structures missing from the cache are sent to the backend in batches of
    ``backend.batch_size``; each result is cached as soon as its batch finishes, so an
    interrupted run resumes where it stopped.
    """
    start = time.perf_counter()
    results: list[np.ndarray | None] = [None] * len(structures)
    keys = [structure_key(atoms, backend.identity) for atoms in structures]
    if cache is not None:
        for i, key in enumerate(keys):
            results[i] = cache.get(key)
            if results[i] is not None and results[i].shape != (len(structures[i]), 3):
                results[i] = None
    todo = [i for i, r in enumerate(results) if r is None]
    batch_size = max(1, int(getattr(backend, "batch_size", 1)))
    with tqdm(total=len(todo), desc=desc, unit="cell", disable=not progress or not todo,
              leave=False) as bar:
        for first in range(0, len(todo), batch_size):
            batch = todo[first : first + batch_size]
            forces = backend.forces([structures[i] for i in batch])
            for i, f in zip(batch, forces, strict=True):
                results[i] = np.asarray(f, dtype=float)
                if cache is not None:
                    cache.put(keys[i], results[i])
            bar.update(len(batch))
    return ForceEvaluation(
        forces=_readonly(np.array(results, dtype=float)),
        n_computed=len(todo),
        n_cached=len(structures) - len(todo),
        seconds=time.perf_counter() - start,
    )


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
