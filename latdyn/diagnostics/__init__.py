"""Symmetry diagnostics of models: equivariance error, Γ splitting, raw sum-rule checks."""

from latdyn.diagnostics.check import (
    CheckSettings,
    ModeCheck,
    ModelCheck,
    RunDiagnostics,
    check_model,
    parse_modes,
    run_diagnostics,
)
from latdyn.diagnostics.equivariance import EquivarianceError, equivariance_error
from latdyn.diagnostics.gamma import GammaModes, gamma_dynamical_matrix, gamma_modes

__all__ = [
    "CheckSettings",
    "EquivarianceError",
    "GammaModes",
    "ModeCheck",
    "ModelCheck",
    "RunDiagnostics",
    "check_model",
    "equivariance_error",
    "gamma_dynamical_matrix",
    "gamma_modes",
    "parse_modes",
    "run_diagnostics",
]
