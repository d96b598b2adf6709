"""Anharmonic force constants: FC2/FC3 supercells, displacements and FC3 fitting (phono3py)."""

from latdyn.anharmonic.displacements import (
    DISPLACEMENT_METHODS,
    AnharmonicDisplacements,
    AnharmonicDisplacementSettings,
    run_anharmonic_displacements,
)
from latdyn.anharmonic.fc3 import (
    FC3_SOLVERS,
    ThirdOrderForceConstants,
    fc3_asr_violation,
    run_fc2,
    run_fc3,
)
from latdyn.anharmonic.holdout import (
    FC3Holdout,
    FC3HoldoutSettings,
    even_part_from_fc3,
    run_fc3_holdout,
)

__all__ = [
    "DISPLACEMENT_METHODS",
    "FC3_SOLVERS",
    "AnharmonicDisplacementSettings",
    "AnharmonicDisplacements",
    "FC3Holdout",
    "FC3HoldoutSettings",
    "ThirdOrderForceConstants",
    "even_part_from_fc3",
    "fc3_asr_violation",
    "run_anharmonic_displacements",
    "run_fc2",
    "run_fc3",
    "run_fc3_holdout",
]
