"""The κSRME protocol's two-stage relaxation (Póta et al., arXiv 2408.00755).

Stage 1 relaxes positions and cell lengths (``FrechetCellFilter`` with the cell angles fixed) under
``FixSymmetry``; stage 2 repeats it without ``FixSymmetry``. If stage 2 changes the space group,
the stage-1 structure is kept. Both stages use the same optimizer, ``fmax`` and step limit.

Two details differ from the k_SRME code without changing results for its (exactly symmetric)
structures: ``FixSymmetry`` is built with the protocol's symprec (1e-5) rather than ASE's default
0.01, and stage 2 starts a new cell filter on the stage-1 structure instead of reusing stage 1's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ase import Atoms
from ase.calculators.calculator import Calculator

from latdyn.relax import RelaxResult, RelaxSettings, run_relax

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TwoStageRelaxResult:
    """The two stages of a κSRME relaxation.

    Attributes
    ----------
    stage1
        Relaxation with ``FixSymmetry``.
    stage2
        Relaxation of the stage-1 structure without ``FixSymmetry``.
    kept_stage1
        Stage 2 changed the space group, so the stage-1 structure is used.
    """

    stage1: RelaxResult
    stage2: RelaxResult
    kept_stage1: bool

    @property
    def final(self) -> RelaxResult:
        """The stage whose structure is used."""
        return self.stage1 if self.kept_stage1 else self.stage2

    def combined(self) -> RelaxResult:
        """One :class:`RelaxResult` for the whole relaxation: input symmetry before, the used
        structure's after, steps and time summed, converged if both stages converged."""
        final = self.final
        return RelaxResult(
            atoms=final.atoms,
            symmetry_before=self.stage1.symmetry_before,
            symmetry_after=final.symmetry_after,
            converged=self.stage1.converged and self.stage2.converged,
            n_steps=self.stage1.n_steps + self.stage2.n_steps,
            max_force=final.max_force,
            energy=final.energy,
            seconds=self.stage1.seconds + self.stage2.seconds,
        )


def two_stage_relax(
    atoms: Atoms, calculator: Calculator, settings: RelaxSettings
) -> TwoStageRelaxResult:
    """Relax ``atoms`` in two stages (see the module docstring).

    ``settings`` is used for stage 1 with ``fix_symmetry=True`` and for stage 2 with
    ``fix_symmetry=False``; a space-group change never raises here (the caller decides).
    """
    stage1_settings = replace(settings, fix_symmetry=True, allow_symmetry_change=True)
    stage1 = run_relax(atoms, calculator, stage1_settings)
    stage2 = run_relax(stage1.atoms, calculator, replace(stage1_settings, fix_symmetry=False))
    kept_stage1 = stage2.symmetry_after.number != stage1.symmetry_after.number
    if kept_stage1:
        logger.warning("stage 2 of the relaxation changed the space group from %s to %s; "
                       "keeping the stage-1 structure", stage1.symmetry_after,
                       stage2.symmetry_after)
    return TwoStageRelaxResult(stage1=stage1, stage2=stage2, kept_stage1=kept_stage1)
