"""Comparison with DFT: MLIP and DFT phonons (and κ) on the same cell and displacements."""

from latdyn.compare.compare import (
    CellMatch,
    CompareSettings,
    Comparison,
    FrequencyStats,
    match_cell,
    run_compare,
)
from latdyn.compare.dataset import DFTDataset, load_dft_dataset

__all__ = [
    "CellMatch",
    "CompareSettings",
    "Comparison",
    "DFTDataset",
    "FrequencyStats",
    "load_dft_dataset",
    "match_cell",
    "run_compare",
]
