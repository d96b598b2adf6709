"""Force evaluation: one batched backend interface and a content-addressed cache."""

from latdyn.forces.backend import ASECalculatorBackend, ForceBackend
from latdyn.forces.cache import ForceCache, default_cache_dir
from latdyn.forces.evaluate import ForceEvaluation, evaluate_forces

__all__ = [
    "ASECalculatorBackend",
    "ForceBackend",
    "ForceCache",
    "ForceEvaluation",
    "default_cache_dir",
    "evaluate_forces",
]
