"""Lattice thermal conductivity (phono3py): RTA, Wigner and LBTE, and the gate before FC3."""

from latdyn.kappa.conductivity import (
    KAPPA_KERNELS,
    KAPPA_METHODS,
    Kappa,
    KappaSettings,
    run_kappa,
)
from latdyn.kappa.gate import Gate, GridFrequencies, check_gate, grid_frequencies

__all__ = [
    "KAPPA_KERNELS",
    "KAPPA_METHODS",
    "Gate",
    "GridFrequencies",
    "Kappa",
    "KappaSettings",
    "check_gate",
    "grid_frequencies",
    "run_kappa",
]
