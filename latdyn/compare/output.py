"""Write a comparison: overlay figures, both phonon results (HDF5) and ``summary.json`` (last)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latdyn.compare.compare import Comparison, kappa_temperature_index
from latdyn.compare.plot import plot_band_dos_overlay, plot_kappa_overlay
from latdyn.files import staged_output, write_json
from latdyn.phonon.output import write_phonons_hdf5
from latdyn.provenance import package_versions, run_record
from latdyn.settings import settings_record


def _kappa_summary(comparison: Comparison) -> dict | None:
    dft, mlip = comparison.kappa_dft, comparison.kappa_mlip
    if dft is None or mlip is None:
        return None
    k = kappa_temperature_index(dft.temperatures)
    return {
        "method": dft.method,
        "mesh": dft.mesh.tolist(),
        "isotope": dft.isotope,
        "unit": "W/(m K)",
        "temperatures_K": dft.temperatures.tolist(),
        "dft_trace_average": dft.kappa_trace_average.tolist(),
        "mlip_trace_average": mlip.kappa_trace_average.tolist(),
        "temperature_of_ratio_K": float(dft.temperatures[k]),
        "dft_tensor": dict(zip(("xx", "yy", "zz", "yz", "xz", "xy"),
                               dft.kappa[k].tolist(), strict=True)),
        "mlip_tensor": dict(zip(("xx", "yy", "zz", "yz", "xz", "xy"),
                                mlip.kappa[k].tolist(), strict=True)),
        "ratio_mlip_over_dft": comparison.kappa_ratio,
    }


def comparison_summary(comparison: Comparison, inputs: dict) -> dict:
    """The content of ``summary.json`` for a comparison."""
    dataset = comparison.dataset
    stats = comparison.frequencies
    relax = comparison.relax
    cache = comparison.settings.execution.cache_record()
    settings = settings_record(comparison.settings, cache["dir"])
    return {
        "command": "compare",
        "inputs": inputs,
        "settings": settings,
        "force_cache": cache,
        "model": comparison.model,
        "symmetrization": comparison.symmetrization,
        "versions": package_versions(),
        "dataset": {
            "directory": str(dataset.directory),
            "kind": dataset.kind,
            "files": dataset.files,
            "formula": dataset.unitcell.get_chemical_formula(),
            "n_atoms_unitcell": len(dataset.unitcell),
            "supercell_matrix": dataset.supercell_matrix.tolist(),
            "fc3_supercell_matrix": None if dataset.fc3_supercell_matrix is None
            else dataset.fc3_supercell_matrix.tolist(),
            "primitive_matrix": np.round(dataset.primitive_matrix, 10).tolist(),
            "nac": dataset.nac_params is not None,
            "random_displacements": dataset.is_random,
        },
        "mlip": {
            "relaxed_positions": relax is not None,
            "relaxation": None if relax is None else {
                "converged": relax.converged, "n_steps": relax.n_steps,
                "max_force_eV_per_A": relax.max_force,
                "space_group_after": str(relax.symmetry_after)},
            "n_displaced_supercells": comparison.n_supercells,
            "n_computed": comparison.n_computed,
            "n_from_cache": comparison.n_cached,
            "max_residual_force_eV_per_A": comparison.max_residual_force,
            "has_imaginary_modes": comparison.mlip.imaginary.has_imaginary,
            "lowest_frequency_THz": comparison.mlip.imaginary.min_frequency,
        },
        "fc_solver": comparison.fc_solver,
        "frequencies": {
            "mesh": stats.mesh.tolist(),
            "n_irreducible_qpoints": stats.n_qpoints,
            "mae_THz": stats.mae,
            "rmse_THz": stats.rmse,
            "max_abs_THz": stats.max_abs,
            "mean_difference_THz": stats.mean_difference,
        },
        "gamma": {
            "dft_THz": comparison.gamma_dft.tolist(),
            "mlip_THz": comparison.gamma_mlip.tolist(),
            "difference_THz": (comparison.gamma_mlip - comparison.gamma_dft).tolist(),
            "max_abs_difference_THz": float(np.abs(comparison.gamma_mlip
                                                   - comparison.gamma_dft).max()),
        },
        "kappa": _kappa_summary(comparison),
        "timings_s": {**comparison.timings, "total": sum(comparison.timings.values())},
    }


def write_comparison(comparison: Comparison, out_dir: str | Path, inputs: dict) -> dict:
    """Write ``band_dos.png/pdf``, ``kappa.png/pdf`` (with κ), ``phonons_dft.h5``,
    ``phonons_mlip.h5`` and ``summary.json`` (last). Returns the summary."""
    with staged_output(out_dir) as out:
        title = (f"{comparison.dataset.unitcell.get_chemical_formula()} "
                 f"({comparison.dataset.directory.name}): DFT vs {comparison.model['name']}")
        outputs = []
        plot_band_dos_overlay(comparison, [out / "band_dos.png", out / "band_dos.pdf"], title)
        outputs += ["band_dos.png", "band_dos.pdf"]
        if comparison.kappa_dft is not None:
            plot_kappa_overlay(comparison, [out / "kappa.png", out / "kappa.pdf"], title)
            outputs += ["kappa.png", "kappa.pdf"]
        write_phonons_hdf5(comparison.dft, out / "phonons_dft.h5")
        write_phonons_hdf5(comparison.mlip, out / "phonons_mlip.h5")
        outputs += ["phonons_dft.h5", "phonons_mlip.h5"]
        summary = comparison_summary(comparison, inputs)
        summary["outputs"] = outputs + ["summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
