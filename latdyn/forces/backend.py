"""The batched force-backend interface.

A backend maps a list of structures with the same number of atoms to an array of forces:
``forces(structures) -> (n_structures, n_atoms, 3)`` in eV/Å. The default wraps any ASE
calculator and loops; torch backends may evaluate a whole batch in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from latdyn.forces.allocator import keep_freed_memory
from latdyn.models.registry import LoadedModel


@runtime_checkable
class ForceBackend(Protocol):
    """Anything that turns structures into forces.

    Attributes
    ----------
    identity
        A string that identifies the predictions (model, version, dtype, options); two backends
        with the same identity give the same forces, so it keys the force cache.
    batch_size
        How many structures one call to :meth:`forces` should receive.
    """

    identity: str
    batch_size: int

    def forces(self, structures: Sequence[Atoms]) -> np.ndarray:
        """Forces (eV/Å), shape ``(len(structures), n_atoms, 3)``."""
        ...


class ASECalculatorBackend:
    """Evaluate structures one at a time with an ASE calculator."""

    batch_size = 1

    def __init__(self, calculator: Calculator, identity: str):
        self.calculator = calculator
        self.identity = identity

    def forces(self, structures: Sequence[Atoms]) -> np.ndarray:
        out = []
        for atoms in structures:
            work = atoms.copy()
            work.calc = self.calculator
            out.append(np.array(work.get_forces(), dtype=float))
        return np.array(out, dtype=float).reshape(len(structures), -1, 3)


def make_backend(model: LoadedModel, batch_size: int | None = None) -> ForceBackend:
    """The force backend for a loaded model.

    SevenNet models get the batched backend: ``batch_size`` structures per model call, by
    default 8 on a GPU and 1 on the CPU (where batching measured 2x slower for 64-atom MgO
    supercells: the CPU is already saturated by one graph). Any other calculator is evaluated
    one structure at a time. Either way freed memory is kept for the next call
    (:func:`latdyn.forces.allocator.keep_freed_memory`).
    """
    keep_freed_memory()
    if type(model.calculator).__name__ == "SevenNetCalculator":
        from latdyn.forces.sevenn import SevenNetBatchBackend

        if batch_size is None:
            batch_size = 8 if model.device == "cuda" else 1
        return SevenNetBatchBackend(model.calculator, model.identity, batch_size=batch_size)
    return ASECalculatorBackend(model.calculator, model.identity)
