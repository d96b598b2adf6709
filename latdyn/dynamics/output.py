"""Energy-trace CSV and ``summary.json`` of ``latdyn conservation``."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

import numpy as np

from latdyn.dynamics.conservation import ConservationResult
from latdyn.files import atomic_open, staged_output, write_json
from latdyn.provenance import package_versions, run_record

TRACE_COLUMNS = ("time_fs", "total_eV_per_atom", "potential_eV_per_atom",
                 "kinetic_eV_per_atom", "temperature_K")


def write_energy_trace(result: ConservationResult, path: str | Path) -> None:
    """One CSV row per MD step: time, total/potential/kinetic energy per atom, temperature."""
    trace = result.trace
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRACE_COLUMNS)
        for row in zip(trace.time, trace.total, trace.potential, trace.kinetic,
                       trace.temperature, strict=True):
            writer.writerow([f"{v:.12g}" for v in row])


def conservation_summary(result: ConservationResult, inputs: dict) -> dict:
    """The content of ``summary.json`` for a conservation run."""
    trace = result.trace
    settings = result.settings
    return {
        "command": "conservation",
        "inputs": inputs,
        "settings": asdict(settings),
        "model": result.model,
        "symmetrization": result.symmetrization,
        "versions": package_versions(),
        "supercell": {"matrix": np.asarray(result.supercell_matrix).tolist(),
                      "n_atoms": result.n_atoms},
        "md": {
            "ensemble": "NVE",
            "integrator": "ase.md.verlet.VelocityVerlet",
            "initial_velocities": f"Maxwell-Boltzmann at {2 * settings.temperature:g} K "
            f"(2 T), seed {settings.seed}, zero total momentum",
            "duration_ps": float(trace.time[-1]) / 1000.0,
        },
        "conservation": {
            "drift_meV_per_atom_per_ps": result.drift,
            "drift_stderr_meV_per_atom_per_ps": result.drift_stderr,
            "fluctuation_meV_per_atom": result.fluctuation,
            "max_deviation_meV_per_atom": result.max_deviation,
            "threshold_meV_per_atom_per_ps": settings.threshold,
            "drift_passed": result.drift_passed,
            "passed": result.passed,
            "verdict": "PASS" if result.passed else "FAIL",
            "verdict_basis": "|drift| below the threshold; the static check does not enter it",
        },
        "temperature_K": {
            "mean_second_half": result.mean_temperature,
            "min": float(trace.temperature.min()),
            "max": float(trace.temperature.max()),
            "initial": float(trace.temperature[0]),
            "final": float(trace.temperature[-1]),
        },
        "static_check": {
            "raw_permutation_asymmetry": result.permutation_asymmetry,
            "threshold": result.asymmetry_threshold,
            "flagged": result.static_flagged,
            "definition": "||Phi - Phi^T|| / ||Phi|| of the finite-difference FC2 "
            "(no sum rules); ~0 for forces that are the gradient of an energy, up to the "
            "finite-difference noise of the force precision (float32 noise can exceed the "
            "threshold while energy is conserved); flagged at or above the threshold",
        },
        "timings_s": {**result.timings, "total": sum(result.timings.values())},
    }


def write_conservation_run(result: ConservationResult, out_dir: str | Path, inputs: dict) -> dict:
    """Write ``energy_trace.csv``, ``energy_trace.png`` and (last) ``summary.json``."""
    from latdyn.dynamics.plot import plot_energy_trace

    with staged_output(out_dir) as out:
        write_energy_trace(result, out / "energy_trace.csv")
        plot_energy_trace(result, out / "energy_trace.png")
        summary = conservation_summary(result, inputs)
        summary["outputs"] = ["energy_trace.csv", "energy_trace.png", "summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
