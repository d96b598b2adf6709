"""Wyckoff free parameters by projection, and symmetry-restricted energy landscapes."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from ase.spacegroup import crystal

from latdyn.cli.main import main
from latdyn.errors import InputError
from latdyn.landscape import (
    SliceSettings,
    compare_with_reference,
    evaluate_energies,
    find_internal_modes,
    run_slice,
)
from latdyn.landscape.output import read_reference_energies
from latdyn.landscape.slice import build_axes, structure_at
from latdyn.models.registry import load_model
from latdyn.relax import RelaxSettings, run_relax
from latdyn.settings import ModelSettings
from latdyn.structure import get_symmetry

#: Projector identities hold to round-off.
LINALG_TOL = 1e-10


@pytest.fixture
def wurtzite():
    return bulk("AlN", "wurtzite", a=3.11, c=4.98)


@pytest.fixture
def relaxed_wurtzite(wurtzite):
    """Wurtzite AlN with EMT-relaxed internal coordinate (cell kept, space group fixed)."""
    settings = RelaxSettings(fmax=1e-5, max_steps=200, relax_cell=False, optimizer="BFGS")
    return run_relax(wurtzite, EMT(), settings).atoms


def run_cli(args: list[str]) -> int:
    """``main(args)``; argparse's usage errors exit through SystemExit."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


def test_wurtzite_has_one_free_parameter_the_anion_z(wurtzite):
    modes = find_internal_modes(wurtzite)
    assert modes.n_modes == 1
    assert modes.n_invariant == 2  # both z coordinates; one combination is a translation
    np.testing.assert_allclose(np.abs(modes.polar_axes), [[0, 0, 1]], atol=LINALG_TOL)
    mode = modes.modes[0]
    nitrogen = np.array(wurtzite.get_chemical_symbols()) == "N"
    np.testing.assert_allclose(mode[~nitrogen], 0.0, atol=LINALG_TOL)
    np.testing.assert_allclose(mode[nitrogen], [[0, 0, 1], [0, 0, 1]], atol=LINALG_TOL)
    assert modes.labels[0] == "N[1,3] +z"


@pytest.mark.parametrize("atoms", [bulk("NaCl", "rocksalt", a=5.64),
                                   bulk("ZnS", "zincblende", a=5.41),
                                   bulk("Ti", "hcp", a=2.95, c=4.68)],
                         ids=["rocksalt", "zincblende", "hcp"])
def test_no_free_parameter(atoms):
    assert find_internal_modes(atoms).n_modes == 0


def test_rutile_has_one_free_parameter():
    rutile = crystal(["Ti", "O"], basis=[(0, 0, 0), (0.305, 0.305, 0)], spacegroup=136,
                     cellpar=[4.59, 4.59, 2.96, 90, 90, 90])
    modes = find_internal_modes(rutile)
    assert modes.n_modes == 1 and modes.polar_axes.shape == (0, 3)


def test_projector_is_an_orthogonal_projector_and_modes_invariant(wurtzite):
    modes = find_internal_modes(wurtzite.repeat((1, 1, 2)))
    projector = modes.projector
    np.testing.assert_allclose(projector @ projector, projector, atol=LINALG_TOL)
    np.testing.assert_allclose(projector, projector.T, atol=LINALG_TOL)
    assert modes.n_modes == 1
    vector = modes.modes[0].ravel()
    np.testing.assert_allclose(projector @ vector, vector, atol=LINALG_TOL)


def test_displacing_along_a_mode_keeps_the_space_group(wurtzite):
    settings = SliceSettings(dofs=(0,), lattice="a", amplitude_range=(-0.2, 0.2),
                             lattice_range=(0.9, 1.1))
    axes = build_axes(wurtzite, find_internal_modes(wurtzite), settings)
    assert axes[1].lattice_vectors == (0, 1)  # hexagonal a and b scale together
    moved = structure_at(wurtzite, axes, (0.13, 1.07))
    assert get_symmetry(moved).number == get_symmetry(wurtzite).number == 186
    np.testing.assert_allclose(moved.cell.cellpar()[[0, 2]], [3.11 * 1.07, 4.98])


def test_evaluate_energies_matches_the_calculator(wurtzite):
    model = load_model("emt")
    structures = [wurtzite, wurtzite.repeat((1, 1, 2))]
    energies = evaluate_energies(model, structures)
    assert energies.shape == (2,)
    expected = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = EMT()
        expected.append(atoms.get_potential_energy())
    np.testing.assert_allclose(energies, expected, rtol=1e-12)


def test_emt_minimum_sits_at_the_relaxed_structure(relaxed_wurtzite):
    """Start 0.03 Å off the relaxed anion z: the slice's minimum is back at the relaxed one."""
    modes = find_internal_modes(relaxed_wurtzite)
    offset = 0.03
    start = relaxed_wurtzite.copy()
    start.positions += offset * modes.modes[0]
    settings = SliceSettings(model="emt", grid=41, progress=False)
    landscape = run_slice(start, settings)
    spacing = 0.2 / 40
    assert landscape.energies.shape == (41,)
    assert landscape.features.minimum.coordinates[0] == pytest.approx(-offset, abs=spacing)
    assert landscape.features.refined_minimum[0] == pytest.approx(-offset, abs=0.2 * spacing)
    assert landscape.features.minimum.energy == 0.0
    assert landscape.features.saddles == ()


def test_2d_slice_and_reference_comparison(relaxed_wurtzite):
    settings = SliceSettings(model="emt", dofs=(0,), lattice="c", grid=9, progress=False)
    landscape = run_slice(relaxed_wurtzite, settings)
    assert landscape.energies.shape == (9, 9)
    assert len(landscape.symmetry_checks) == 4
    shifted = compare_with_reference(landscape, landscape.energies + 3.0)
    assert shifted.rms_difference == pytest.approx(0.0, abs=1e-9)
    assert shifted.minimum_shift == pytest.approx((0.0, 0.0))


@pytest.mark.parametrize("kwargs", [{"dofs": ()}, {"dofs": (0, 1, 2)}, {"grid": 2},
                                    {"amplitude_range": (0.1, -0.1)}, {"lattice": "q"},
                                    {"dofs": (0, 1), "lattice": "c"},
                                    {"model": {"rotations": 3}},
                                    {"model": {"symmetrize": "full", "rotations": 4}}])
def test_bad_settings(kwargs):
    with pytest.raises(InputError):
        if "model" in kwargs:
            kwargs = {"model": ModelSettings(**kwargs["model"])}
        SliceSettings(**kwargs)


@pytest.fixture
def wurtzite_poscar(tmp_path, relaxed_wurtzite):
    path = tmp_path / "POSCAR"
    write(path, relaxed_wurtzite, format="vasp", direct=True)
    return path


def test_cli_slice_with_dft_reference(tmp_path, wurtzite_poscar):
    out = tmp_path / "out"
    args = ["pes-slice", str(wurtzite_poscar), "--model", "emt", "--grid", "11",
            "--no-progress"]
    assert run_cli([*args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["internal_modes"]["n_modes"] == 1
    assert summary["structure"]["space_group"] == "P6_3mc (186)"
    assert summary["landscape"]["refined_minimum"][0] == pytest.approx(0.0, abs=0.02)
    assert (out / "landscape.png").stat().st_size > 0
    # A "DFT" table: the model's own energies plus a parabola in dof0.
    with open(out / "grid.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 11
    dft = tmp_path / "dft.csv"
    with open(dft, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dof0", "energy_eV"])
        for row in reversed(rows):
            writer.writerow([row["dof0"], float(row["energy_eV"]) + float(row["dof0"]) ** 2])
    out2 = tmp_path / "out2"
    assert run_cli([*args, "--dft", str(dft), "--out", str(out2)]) == 0
    reference = json.loads((out2 / "summary.json").read_text())["reference"]
    assert reference["rms_difference_meV_per_atom"] > 0
    with open(out2 / "grid.csv") as handle:
        assert "difference_meV_per_atom" in handle.readline()


def grid_energies(out) -> np.ndarray:
    with open(out / "grid.csv") as handle:
        return np.array([float(row["energy_eV"]) for row in csv.DictReader(handle)])


def test_cli_slice_spacegroup_symmetrization_is_recorded_and_changes_nothing(tmp_path,
                                                                            wurtzite_poscar):
    args = ["pes-slice", str(wurtzite_poscar), "--model", "emt", "--grid", "5", "--no-progress"]
    assert run_cli([*args, "--out", str(tmp_path / "raw")]) == 0
    assert run_cli([*args, "--symmetrize", "spacegroup", "--out", str(tmp_path / "sg")]) == 0
    np.testing.assert_allclose(grid_energies(tmp_path / "sg"), grid_energies(tmp_path / "raw"),
                               rtol=0, atol=1e-8)
    summary = json.loads((tmp_path / "sg" / "summary.json").read_text())
    assert summary["symmetrization"]["symmetrize"] == "spacegroup"
    assert summary["symmetrization"]["n_structures"] == 5
    assert summary["model"]["options"]["symmetrize"] == "spacegroup"
    assert summary["relaxation"] is None


def test_o3_average_changes_an_anisotropic_landscape(relaxed_wurtzite):
    settings = SliceSettings(model="latdyn.models.testing:anisotropic_emt", grid=3,
                             progress=False)
    raw = run_slice(relaxed_wurtzite, settings)
    averaged = run_slice(relaxed_wurtzite, replace(settings, model=ModelSettings(
        settings.model.name, symmetrize="o3", rotations=3)))
    assert np.abs(averaged.energies - raw.energies).max() > 1e-4  # eV per cell
    record = averaged.symmetrization
    assert record["evaluations_per_structure"] == 48
    assert record["n_model_evaluations"] == 48 * 3
    assert raw.symmetrization["symmetrize"] == "none"


def test_cli_relax_then_slice(tmp_path, wurtzite):
    """--relax moves the anion to the EMT minimum before slicing (unrelaxed, the slice's
    minimum is 0.016 Å off), space group kept."""
    poscar = tmp_path / "POSCAR"
    write(poscar, wurtzite, format="vasp", direct=True)
    out = tmp_path / "out"
    assert run_cli(["pes-slice", str(poscar), "--model", "emt", "--grid", "5", "--relax",
                    "--no-progress", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["relaxation"]["converged"] and summary["relaxation"]["n_steps"] > 0
    assert summary["structure"]["space_group"] == "P6_3mc (186)"
    assert summary["landscape"]["refined_minimum"][0] == pytest.approx(0.0, abs=0.005)


def test_read_reference_rejects_points_off_the_grid(tmp_path, wurtzite):
    axes = build_axes(wurtzite, find_internal_modes(wurtzite), SliceSettings(grid=5))
    path = tmp_path / "dft.csv"
    path.write_text("dof0,energy_eV\n0.0,1.0\n0.0123,2.0\n")
    with pytest.raises(InputError, match="not on the grid"):
        read_reference_energies(path, axes)


def test_cli_no_free_parameter_exits_2(tmp_path, capsys):
    poscar = tmp_path / "POSCAR"
    write(poscar, bulk("Cu", "fcc", a=3.61), format="vasp")
    out = tmp_path / "out"
    assert run_cli(["pes-slice", str(poscar), "--model", "emt", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no symmetry-preserving internal degree of freedom" in err[0]
    assert not out.exists()
    # A lattice parameter can still be scanned.
    assert run_cli(["pes-slice", str(poscar), "--model", "emt", "--lattice", "a", "--dof",
                    "--grid", "7", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["axes"][0]["name"] == "lattice_a"


@pytest.mark.parametrize("extra", [["--dof", "3"], ["--dft", "missing.csv"],
                                   ["--dft", "BADCOLUMNS"], ["--grid", "2"],
                                   ["--rotations", "5"]])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, wurtzite_poscar, capsys, extra):
    if "BADCOLUMNS" in extra:
        bad = tmp_path / "bad.csv"
        bad.write_text("x,energy\n0,1\n")
        extra = ["--dft", str(bad)]
    else:
        extra = [str(tmp_path / e) if e.endswith(".csv") else e for e in extra]
    out = tmp_path / "out"
    status = run_cli(["pes-slice", str(wurtzite_poscar), "--model", "emt", "--out", str(out),
                      *extra])
    assert status == 2
    assert not out.exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
