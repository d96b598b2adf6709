"""Test models for ``latdyn screen``, importable as ``--model helpers_screen:FACTORY``.

The tests put this folder on ``PYTHONPATH`` so that the per-material child processes find it.
"""

from __future__ import annotations

import os
import time

from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.data import atomic_numbers

from latdyn.models.registry import EMT_ELEMENTS


class HangingOnPlatinum(Calculator):
    """EMT, except that a structure with platinum hangs (sleeps for an hour) and one with
    palladium kills its process (as a segmentation fault or the OOM killer would)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    supported_numbers = frozenset(atomic_numbers[s] for s in EMT_ELEMENTS)

    def __init__(self):
        super().__init__()
        self.base = EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if atomic_numbers["Pt"] in self.atoms.numbers:
            time.sleep(3600)
        if atomic_numbers["Pd"] in self.atoms.numbers:
            os._exit(3)
        work = self.atoms.copy()
        work.calc = self.base
        self.results = {
            "energy": work.get_potential_energy(),
            "free_energy": work.get_potential_energy(),
            "forces": work.get_forces(),
            "stress": work.get_stress(),
        }


def emt_hanging_on_pt() -> HangingOnPlatinum:
    return HangingOnPlatinum()
