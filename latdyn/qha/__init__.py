"""Quasi-harmonic approximation: volume grid, phonopy's QHA fit, Grüneisen parameters."""

from latdyn.qha.gruneisen import Gruneisen, run_gruneisen
from latdyn.qha.qha import QHAError, QHAInputs, QHAResult, QHASettings, run_qha
from latdyn.qha.volumes import VolumeGrid, VolumeGridSettings, run_volume_grid

__all__ = [
    "Gruneisen",
    "QHAError",
    "QHAInputs",
    "QHAResult",
    "QHASettings",
    "VolumeGrid",
    "VolumeGridSettings",
    "run_gruneisen",
    "run_qha",
    "run_volume_grid",
]
