"""Grid CSV, reference-energy CSV reader and ``summary.json`` of ``latdyn pes-slice``.

The grid CSV has one row per grid point (last axis fastest): one column per axis (named as the
axis: ``dof0`` in Å, ``lattice_c`` as a scale factor), ``energy_eV`` (the cell's total energy)
and ``relative_meV_per_atom``; with a reference, also ``reference_energy_eV``,
``reference_relative_meV_per_atom`` and ``difference_meV_per_atom``. A reference (DFT) table
for ``--dft`` is a CSV with the same axis columns and ``energy_eV``, in any row order.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from latdyn.errors import InputError
from latdyn.files import atomic_open, staged_output, write_json
from latdyn.landscape.slice import (
    EnergyLandscape,
    LandscapeFeatures,
    ReferenceComparison,
    SliceAxis,
    grid_coordinates,
    relative_mev_per_atom,
    structure_at,
)
from latdyn.provenance import package_versions, run_record

#: A reference row matches a grid point when every coordinate is within this fraction of the
#: axis' grid spacing.
MATCH_TOLERANCE = 1e-3

ENERGY_COLUMN = "energy_eV"


def read_reference_energies(path: str | Path, axes: Sequence[SliceAxis]) -> np.ndarray:
    """Reference cell energies (eV) on the grid of ``axes`` from a CSV table.

    Raises
    ------
    InputError
        The file is missing or unreadable, lacks a column, has a row off the grid, or does not
        cover every grid point exactly once.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"reference energy table {path} does not exist; check the path")
    names = [a.name for a in axes]
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {path} as CSV ({exc})") from None
    columns = set(rows[0]) if rows else set()
    missing = [c for c in [*names, ENERGY_COLUMN] if c not in columns]
    if missing:
        raise InputError(f"{path} lacks column(s) {', '.join(missing)}; it needs "
                         f"{', '.join([*names, ENERGY_COLUMN])} (one row per grid point)")
    shape = tuple(len(a.values) for a in axes)
    energies = np.full(shape, np.nan)
    for line, row in enumerate(rows, start=2):
        try:
            coordinates = [float(row[n]) for n in names]
            energy = float(row[ENERGY_COLUMN])
        except (TypeError, ValueError):
            raise InputError(f"{path} line {line}: not a number") from None
        index = tuple(_grid_index(axis, value, path, line)
                      for axis, value in zip(axes, coordinates, strict=True))
        if not np.isnan(energies[index]):
            raise InputError(f"{path} line {line}: grid point {coordinates} appears twice")
        energies[index] = energy
    n_missing = int(np.isnan(energies).sum())
    if n_missing:
        raise InputError(f"{path} covers {energies.size - n_missing} of the {energies.size} grid "
                         "points; give an energy for every point of the grid CSV")
    return energies


def _grid_index(axis: SliceAxis, value: float, path: Path, line: int) -> int:
    index = int(np.argmin(np.abs(axis.values - value)))
    spacing = float(axis.values[1] - axis.values[0])
    if abs(axis.values[index] - value) > MATCH_TOLERANCE * spacing:
        raise InputError(f"{path} line {line}: {axis.name}={value:g} is not on the grid "
                         f"({axis.values[0]:g} to {axis.values[-1]:g}, {len(axis.values)} points)")
    return index


def write_grid_csv(landscape: EnergyLandscape, path: str | Path,
                   comparison: ReferenceComparison | None = None) -> None:
    """The grid energies as CSV (see the module docstring), written atomically."""
    header = [a.name for a in landscape.axes] + [ENERGY_COLUMN, "relative_meV_per_atom"]
    columns = [landscape.energies.ravel(), landscape.relative_energies.ravel()]
    if comparison is not None:
        header += ["reference_energy_eV", "reference_relative_meV_per_atom",
                   "difference_meV_per_atom"]
        reference_relative = relative_mev_per_atom(comparison.reference_energies,
                                                   len(landscape.structure))
        columns += [comparison.reference_energies.ravel(), reference_relative.ravel(),
                    comparison.difference.ravel()]
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for point, values in zip(grid_coordinates(landscape.axes), zip(*columns, strict=True),
                                 strict=True):
            writer.writerow([f"{v:.10g}" for v in (*point, *values)])


def features_summary(features: LandscapeFeatures) -> dict:
    """The minimum and stationary points as JSON-ready data (coordinates, meV/atom)."""
    return {
        "minimum": asdict(features.minimum),
        "refined_minimum": list(features.refined_minimum),
        "local_minima": [asdict(p) for p in features.minima],
        "saddle_points": [asdict(p) for p in features.saddles],
    }


def slice_summary(landscape: EnergyLandscape, inputs: dict,
                  comparison: ReferenceComparison | None = None) -> dict:
    """The content of ``summary.json`` for a landscape."""
    atoms = landscape.structure
    modes = landscape.modes
    minimum = structure_at(atoms, landscape.axes, landscape.features.refined_minimum)
    relaxation = landscape.relaxation
    summary = {
        "command": "pes-slice",
        "inputs": inputs,
        "settings": asdict(landscape.settings),
        "model": landscape.model,
        "symmetrization": landscape.symmetrization,
        "versions": package_versions(),
        "relaxation": None if relaxation is None else {
            "converged": relaxation.converged, "n_steps": relaxation.n_steps,
            "max_force_eV_per_A": relaxation.max_force, "energy_eV": relaxation.energy,
            "seconds": relaxation.seconds},
        "structure": {
            "formula": atoms.get_chemical_formula(),
            "n_atoms": len(atoms),
            "space_group": str(modes.symmetry),
            "cell_A": np.array(atoms.cell).tolist(),
            "scaled_positions": atoms.get_scaled_positions().tolist(),
            "symbols": atoms.get_chemical_symbols(),
        },
        "internal_modes": {
            "n_modes": modes.n_modes,
            "rank_of_projector": modes.n_invariant,
            "polar_axes": modes.polar_axes.tolist(),
            "labels": list(modes.labels),
            "displacements_per_A": modes.modes.tolist(),
        },
        "axes": [{"name": a.name, "label": a.label, "unit": a.unit,
                  "first": float(a.values[0]), "last": float(a.values[-1]),
                  "n_points": len(a.values)} for a in landscape.axes],
        "symmetry_at_grid_corners": {k: str(v) for k, v in landscape.symmetry_checks.items()},
        "landscape": {
            **features_summary(landscape.features),
            "energy_range_meV_per_atom": float(landscape.relative_energies.max()),
            "minimum_structure": {
                "cell_A": np.array(minimum.cell).tolist(),
                "scaled_positions": minimum.get_scaled_positions().tolist(),
            },
        },
        "timings_s": {"energies": landscape.seconds},
    }
    if comparison is not None:
        summary["reference"] = {
            **features_summary(comparison.reference_features),
            "rms_difference_meV_per_atom": comparison.rms_difference,
            "max_abs_difference_meV_per_atom": float(np.abs(comparison.difference).max()),
            "minimum_shift_model_minus_reference": list(comparison.minimum_shift),
        }
    return summary


def write_slice_run(landscape: EnergyLandscape, out_dir: str | Path, inputs: dict,
                    comparison: ReferenceComparison | None = None) -> dict:
    """Write ``grid.csv``, ``landscape.png`` and (last) ``summary.json``; returns the summary."""
    from latdyn.landscape.plot import plot_landscape

    with staged_output(out_dir) as out:
        write_grid_csv(landscape, out / "grid.csv", comparison)
        atoms = landscape.structure
        title = f"{atoms.get_chemical_formula()} {landscape.modes.symmetry} — {landscape.model['name']}"
        plot_landscape(landscape, out / "landscape.png", comparison, title=title)
        summary = slice_summary(landscape, inputs, comparison)
        summary["outputs"] = ["grid.csv", "landscape.png", "summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
