"""``summary.json`` content and the table of ``latdyn check-model``; the writer."""

from __future__ import annotations

from pathlib import Path

from latdyn.diagnostics.check import ModeCheck, ModelCheck, RunDiagnostics, check_verdict
from latdyn.diagnostics.equivariance import EquivarianceError
from latdyn.diagnostics.gamma import GammaModes
from latdyn.files import atomic_open, staged_output, write_json
from latdyn.provenance import run_record


def _equivariance(result: EquivarianceError) -> dict:
    return {
        "error": result.error,
        "rms_force_eV_per_A": result.rms_force,
        "n_rotations": result.n_rotations,
        "rattle_A": result.rattle,
    }


def _gamma(result: GammaModes) -> dict:
    return {
        "max_splitting_THz": result.max_splitting,
        "max_optical_splitting_THz": result.max_optical_splitting,
        "acoustic_frequencies_THz": result.acoustic_frequencies.tolist(),
        "max_acoustic_THz": result.max_acoustic,
        "degenerate_sets_THz": [list(s) for s in result.degenerate_sets],
        "frequencies_THz": result.frequencies.tolist(),
        "n_operations": result.n_operations,
    }


def diagnostics_summary(diagnostics: RunDiagnostics) -> dict:
    """The ``model_diagnostics`` part of a run's ``summary.json``."""
    return {
        "equivariance_raw_model": _equivariance(diagnostics.equivariance),
        "raw_permutation_asymmetry": diagnostics.raw_permutation_asymmetry,
        "raw_asr_violation": diagnostics.raw_asr_violation,
        "gamma_fitted_force_constants": _gamma(diagnostics.gamma),
    }


def _mode_summary(check: ModeCheck) -> dict:
    fc = check.force_constants
    return {
        "mode": check.mode,
        "symmetrization": check.symmetrization,
        "equivariance": _equivariance(check.equivariance),
        "raw_permutation_asymmetry": fc.raw_permutation_asymmetry,
        "raw_asr_violation": fc.raw_asr_violation,
        "gamma": _gamma(check.gamma),
        "n_evaluations": check.n_evaluations,
        "force_seconds": check.force_seconds,
        "cost_multiplier": check.cost_multiplier,
    }


def check_summary(check: ModelCheck, inputs: dict) -> dict:
    """The content of ``summary.json`` of ``latdyn check-model``."""
    from dataclasses import asdict

    from latdyn.provenance import package_versions

    return {
        "command": "check-model",
        "inputs": inputs,
        "settings": asdict(check.settings),
        "model": check.model,
        "versions": package_versions(),
        "structure": {
            "formula": check.primitive.get_chemical_formula(),
            "n_atoms_primitive": len(check.primitive),
            "cell": check.primitive.cell.tolist(),
            "space_group": str(check.symmetry),
        },
        "supercell": {"matrix": check.supercell_matrix.tolist(),
                      "n_atoms": check.n_supercell_atoms,
                      "n_displaced_supercells": check.n_displacements},
        "modes": [_mode_summary(m) for m in check.modes],
        "verdict": check_verdict(check),
    }


def check_table(check: ModelCheck) -> str:
    """One line per mode (Γ splittings, equivariance error, ||Φ-Φᵀ||/||Φ||, ASR, model
    evaluations and their ratio to the raw model's), then the verdict line."""
    header = (f"{'mode':<11}{'evals':>7}{'cost x':>8}{'Γ split THz':>13}{'optical':>10}"
              f"{'equiv err':>11}{'|Φ-Φᵀ|/|Φ|':>12}{'ASR viol':>10}{'max|ac| THz':>13}"
              f"{'force s':>9}")
    lines = [header, "-" * len(header)]
    for m in check.modes:
        fc = m.force_constants
        lines.append(
            f"{m.mode:<11}{m.n_evaluations:>7d}{m.cost_multiplier:>8.0f}"
            f"{m.gamma.max_splitting:>13.2e}{m.gamma.max_optical_splitting:>10.2e}"
            f"{m.equivariance.error:>11.2e}"
            f"{fc.raw_permutation_asymmetry:>12.2e}{fc.raw_asr_violation:>10.2e}"
            f"{m.gamma.max_acoustic:>13.2e}{m.force_seconds:>9.1f}"
        )
    lines.append(check_verdict(check))
    return "\n".join(lines) + "\n"


def write_check(check: ModelCheck, out_dir: str | Path, inputs: dict) -> dict:
    """Write ``table.txt`` and ``summary.json`` (last) under ``out_dir``; returns the summary."""
    with staged_output(out_dir) as out:
        with atomic_open(out / "table.txt") as handle:
            handle.write(check_table(check))
        summary = check_summary(check, inputs)
        summary["outputs"] = ["table.txt", "summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
