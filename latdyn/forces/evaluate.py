"""Evaluate forces on many structures through a backend, the cache and a progress bar."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from latdyn.errors import ModelError
from latdyn.forces.backend import ForceBackend
from latdyn.forces.cache import CacheEntryError, ForceCache, structure_key

logger = logging.getLogger(__name__)


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
    interrupted run resumes where it stopped. A backend whose ``identity`` is ``None`` (a model
    that declares no identity) is never cached. Cache entries that fail validation are
    recomputed, with one warning.

    Raises
    ------
    ModelError
        The model returned NaN or infinite forces (named by ``desc`` and position); nothing of
        that batch is cached.
    """
    start = time.perf_counter()
    results: list[np.ndarray | None] = [None] * len(structures)
    if getattr(backend, "identity", None) is None:
        cache = None
    keys = [structure_key(atoms, backend.identity) for atoms in structures] if cache else []
    if cache is not None:
        broken: dict[str, int] = {}
        for i, key in enumerate(keys):
            try:
                results[i] = cache.get(key, len(structures[i]))
            except CacheEntryError as exc:
                broken[str(exc)] = broken.get(str(exc), 0) + 1
        if broken:
            reasons = ", ".join(f"{n} {why}" for why, n in broken.items())
            n = sum(broken.values())
            logger.warning("%d force-cache entr%s (%s) under %s failed validation (%s); "
                           "recomputing", n, "y" if n == 1 else "ies", desc, cache.root, reasons)
    todo = [i for i, r in enumerate(results) if r is None]
    batch_size = max(1, int(getattr(backend, "batch_size", 1)))
    with tqdm(total=len(todo), desc=desc, unit="cell", disable=not progress or not todo,
              leave=False) as bar:
        for first in range(0, len(todo), batch_size):
            batch = todo[first : first + batch_size]
            forces = np.asarray(backend.forces([structures[i] for i in batch]), dtype=float)
            for i, f in zip(batch, forces, strict=True):
                if not np.all(np.isfinite(f)):
                    raise ModelError(
                        f"the model returned non-finite forces (NaN or inf) on {desc}: "
                        f"number {i + 1} of {len(structures)} ({len(structures[i])} atoms, "
                        f"{structures[i].get_chemical_formula()}); nothing of it was cached; "
                        "check the model on this structure")
            for i, f in zip(batch, forces, strict=True):
                results[i] = f
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
