"""The batched force-backend interface.

A backend maps a list of structures with the same number of atoms to an array of forces:
``forces(structures) -> (n_structures, n_atoms, 3)`` in eV/Å. The default wraps any ASE
calculator and loops; torch backends may evaluate a whole batch in one call. A loaded model
builds its own (:meth:`latdyn.models.loaded.LoadedModel.backend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator


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
