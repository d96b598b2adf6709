"""``summary.json`` of a κ run: built from :class:`~latdyn.workflows.kappa.KappaWorkflowResult`
(the κ section from :class:`~latdyn.kappa.record.KappaRecord`)."""

from __future__ import annotations

import numpy as np

from latdyn.anharmonic.convergence import FC3Convergence
from latdyn.anharmonic.holdout import FC3Holdout
from latdyn.forces import ForceEvaluation
from latdyn.harmonic.nac import nac_summary
from latdyn.kappa.gate import GAMMA_ACOUSTIC_TOLERANCE
from latdyn.kappa.record import KappaRecord
from latdyn.provenance import package_versions
from latdyn.settings import settings_record
from latdyn.workflows.kappa import KappaWorkflowResult
from latdyn.workflows.kappa_protocol import TwoStageRelaxResult
from latdyn.workflows.phonons import structure_summary


def _relax_stages_summary(stages: TwoStageRelaxResult) -> dict:
    def stage(result):
        return {
            "space_group_before": str(result.symmetry_before),
            "space_group_after": str(result.symmetry_after),
            "converged": result.converged,
            "n_steps": result.n_steps,
            "max_force_eV_per_A": result.max_force,
            "energy_eV": result.energy,
        }

    return {"stage1": stage(stages.stage1), "stage2": stage(stages.stage2),
            "kept_stage1": stages.kept_stage1}


def _convergence_summary(convergence: FC3Convergence | None) -> dict | None:
    if convergence is None:
        return None
    return {
        "tolerance": convergence.tolerance,
        "converged": convergence.converged,
        "mesh": convergence.mesh.tolist(),
        "levels": [{"n_supercells": level.n_supercells,
                    "kappa_trace_average": list(level.kappa),
                    "relative_change": level.relative_change,
                    "holdout_residual": level.holdout_residual,
                    "seconds": level.seconds} for level in convergence.levels],
    }


def _holdout_summary(holdout: FC3Holdout | None, method: str) -> dict | None:
    if holdout is None:
        return None
    return {
        "warning": holdout.warning(method),
        "n_pairs": holdout.settings.n_pairs,
        "distance_A": holdout.settings.distance,
        "random_seed": holdout.settings.random_seed,
        "residual": holdout.residual,
        "pair_residuals": holdout.pair_residuals.tolist(),
        "even_part_norm_eV_per_A": holdout.even_part_norm,
        "n_computed": holdout.n_computed,
        "seconds": holdout.seconds,
    }


def _forces_summary(evaluation: ForceEvaluation | None, residual: np.ndarray | None) -> dict:
    if evaluation is None:
        return {"n_computed": 0, "n_from_cache": 0}
    return {
        "n_computed": evaluation.n_computed,
        "n_from_cache": evaluation.n_cached,
        "max_residual_force_eV_per_A": float(np.abs(residual).max()),
    }


def kappa_summary(result: KappaWorkflowResult, inputs: dict) -> dict:
    """The content of ``summary.json`` for a κ run (gated or not)."""
    disp = result.displacements
    ph3 = disp.phono3py
    gate = result.gate
    structure = structure_summary(result.structure)
    if result.relax_stages is not None:
        structure["relaxation_stages"] = _relax_stages_summary(result.relax_stages)
    fc3 = result.fc3
    cache = result.settings.execution.cache_record()
    summary = {
        "command": "kappa",
        "protocol": result.settings.protocol,
        "inputs": inputs,
        # the cache folder actually used (also when $LATDYN_CACHE_DIR or the default chose it)
        "settings": settings_record(result.settings, cache["dir"]),
        "force_cache": cache,
        "model": result.model,
        "symmetrization": result.symmetrization,
        "versions": package_versions(),
        "structure": structure,
        "primitive_matrix": np.array(ph3.primitive_matrix).tolist()
        if ph3.primitive_matrix is not None else None,
        "n_atoms_primitive": len(ph3.primitive),
        "supercells": {
            "fc2": {"matrix": np.array(disp.settings.fc2_supercell).tolist(),
                    "n_atoms": len(disp.fc2_supercell)},
            "fc3": {"matrix": np.array(disp.settings.fc3_supercell).tolist(),
                    "n_atoms": len(disp.fc3_supercell)},
        },
        "displacements": {
            "fc2": {"method": disp.settings.fc2_method,
                    "distance_A": disp.settings.fc2_distance,
                    "n_displaced_supercells": result.n_fc2_supercells,
                    **_forces_summary(result.fc2_forces, result.fc2_residual_forces)},
            "fc3": {"method": disp.settings.fc3_method,
                    "distance_A": disp.settings.fc3_distance,
                    "random_seed": disp.settings.random_seed
                    if disp.settings.fc3_method == "random" else None,
                    "n_displaced_supercells": result.n_fc3_supercells,
                    **_forces_summary(result.fc3_forces, result.fc3_residual_forces),
                    "n_computed": result.n_fc3_computed,
                    "n_from_cache": result.n_fc3_supercells - result.n_fc3_computed
                    if result.fc3_forces is not None else 0,
                    "convergence": _convergence_summary(result.fc3_convergence)},
        },
        "force_constants": {
            "fc2": {"solver": result.fc2.solver,
                    "raw_asr_violation": result.fc2.raw_asr_violation,
                    "raw_permutation_asymmetry": result.fc2.raw_permutation_asymmetry,
                    "asr_violation": result.fc2.asr_violation},
            "fc3": None if fc3 is None else {
                "solver": fc3.solver, "method": fc3.method,
                "raw_asr_violation": fc3.raw_asr_violation, "asr_violation": fc3.asr_violation,
                "holdout": _holdout_summary(result.fc3_holdout, fc3.method)},
        },
        "gate": {
            "passed": gate.passed,
            "forced": gate.forced,
            "reasons": list(gate.reasons),
            "kappa_computed": result.kappa is not None,
            "lowest_frequency_THz": gate.lowest_frequency,
            "gamma_frequencies_THz": list(gate.gamma_frequencies),
            "imaginary": gate.imaginary,
            "imaginary_tolerance_THz": result.settings.gate.imaginary_tolerance,
            "gamma_acoustic_tolerance_THz": GAMMA_ACOUSTIC_TOLERANCE,
            "mesh": result.harmonic.mesh.tolist(),
        },
        "nac": nac_summary(result.displacements.phono3py.nac_params),
        "kappa": None if result.kappa is None else KappaRecord.from_result(result.kappa).summary(),
        "timings_s": {**result.timings, "total": sum(result.timings.values())},
    }
    return summary
