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

__all__ = [
    "DISPLACEMENT_METHODS",
    "FC3_SOLVERS",
    "AnharmonicDisplacementSettings",
    "AnharmonicDisplacements",
    "ThirdOrderForceConstants",
    "fc3_asr_violation",
    "run_anharmonic_displacements",
    "run_fc2",
    "run_fc3",
]
