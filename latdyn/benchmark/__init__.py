"""Benchmarks against DFT: the κSRME set (Póta et al., arXiv 2408.00755)."""

from latdyn.benchmark.ksrme import (
    FAILURE_SCORE,
    BenchmarkMetrics,
    CompoundScore,
    aggregate,
    kappa_average,
    kappa_srd,
    kappa_sre,
    kappa_srme,
    score_compound,
)
from latdyn.benchmark.reference import ReferenceCompound, load_reference, select_compounds

__all__ = [
    "FAILURE_SCORE",
    "BenchmarkMetrics",
    "CompoundScore",
    "ReferenceCompound",
    "aggregate",
    "kappa_average",
    "kappa_sre",
    "kappa_srd",
    "kappa_srme",
    "load_reference",
    "score_compound",
    "select_compounds",
]
