"""Harmonic force constants: displacements and FC2 fitting."""

from latdyn.harmonic.displacements import Displacements, DisplacementSettings, run_displacements
from latdyn.harmonic.force_constants import (
    ForceConstants,
    asr_violation,
    permutation_asymmetry,
    run_fc2,
)
from latdyn.harmonic.solvers import FC_SOLVERS

__all__ = [
    "FC_SOLVERS",
    "DisplacementSettings",
    "Displacements",
    "ForceConstants",
    "asr_violation",
    "permutation_asymmetry",
    "run_displacements",
    "run_fc2",
]
