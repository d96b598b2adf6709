"""Symmetry diagnostics of models: equivariance error, Γ splitting, raw sum-rule checks."""

from latdyn.diagnostics.check import (
    DEFAULT_CHECK_MODES,
    FULL_CHECK_MODES,
    CheckPlan,
    CheckSettings,
    ModeCheck,
    ModelCheck,
    RunDiagnostics,
    check_model,
    check_verdict,
    parse_modes,
    plan_check,
    run_diagnostics,
)
from latdyn.diagnostics.equivariance import EquivarianceError, equivariance_error
from latdyn.diagnostics.gamma import GammaModes, gamma_dynamical_matrix, gamma_modes

__all__ = [
    "DEFAULT_CHECK_MODES",
    "FULL_CHECK_MODES",
    "CheckPlan",
    "CheckSettings",
    "EquivarianceError",
    "GammaModes",
    "ModeCheck",
    "ModelCheck",
    "RunDiagnostics",
    "check_model",
    "check_verdict",
    "plan_check",
    "equivariance_error",
    "gamma_dynamical_matrix",
    "gamma_modes",
    "parse_modes",
    "run_diagnostics",
]
