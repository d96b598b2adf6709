"""Molecular-dynamics diagnostics of a model: energy conservation in NVE."""

from latdyn.dynamics.conservation import (
    ASYMMETRY_THRESHOLDS,
    DRIFT_THRESHOLD,
    ConservationResult,
    ConservationSettings,
    EnergyTrace,
    run_conservation,
)

__all__ = [
    "ASYMMETRY_THRESHOLDS",
    "DRIFT_THRESHOLD",
    "ConservationResult",
    "ConservationSettings",
    "EnergyTrace",
    "run_conservation",
]
