"""One option vocabulary across commands, stage lines, the cache record, screen's imaginary-mode
report and the κ figures' handling of meaningless mean free paths and of one temperature."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from latdyn.cli.main import build_parser, main
from latdyn.cli.options import mesh_value, temperatures_value
from latdyn.errors import InputError

FAST = ["--model", "emt", "--no-relax", "--mesh", "6", "6", "6", "--band-npoints", "5"]


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_mesh_syntax_is_the_same_everywhere():
    for command in ("phonons", "kappa", "screen", "compare"):
        extra = ["--dft", "d"] if command == "compare" else []
        assert mesh_value(parse(command, "x", *extra, "--mesh", "40").mesh) == 40.0
        assert mesh_value(parse(command, "x", *extra, "--mesh", "9", "9", "9").mesh) == (9, 9, 9)
    assert mesh_value(parse("kappa", "x", "--mesh-density", "30").mesh) == 30.0  # old spelling
    with pytest.raises(InputError, match="--mesh needs"):
        mesh_value([4, 4])


def test_dim_min_length_index_aliases():
    assert parse("phonons", "x", "--dim", "2", "2", "2").supercell == [2, 2, 2]
    assert parse("screen", "x", "--dim", "3", "3", "3").supercell == [3, 3, 3]
    kappa = parse("kappa", "x", "--dim", "2", "2", "2", "--dim-fc2", "4", "4", "4",
                  "--min-length", "12")
    from latdyn.cli.kappa import settings_from

    chosen = settings_from(kappa)
    assert chosen.fc3.supercell.matrix == ((2, 0, 0), (0, 2, 0), (0, 0, 2))
    assert chosen.fc2.supercell.matrix == ((4, 0, 0), (0, 4, 0), (0, 0, 4))
    assert chosen.fc2.supercell.min_length == 12
    for command in ("phonons", "screen", "conservation", "check-model"):
        assert parse(command, "x").min_length == 10.0, command
    assert parse("compare", "x", "--dft", "d", "--index", "2").index == 2
    check = parse("check-model", "x", "--cache-dir", "c", "--no-cache")
    assert check.cache_dir == "c" and check.no_cache


def test_temperature_options():
    assert temperatures_value(parse("kappa", "x")) == (300.0,)
    assert temperatures_value(parse("kappa", "x", "--temperatures", "200", "400")) == (200, 400)
    assert temperatures_value(parse("kappa", "x", "--tmin", "100", "--tmax", "300",
                                    "--tstep", "100")) == (100, 200, 300)
    assert temperatures_value(parse("phonons", "x", "--tmin", "100", "--tmax", "200",
                                    "--tstep", "50")) == (100, 150, 200)
    assert temperatures_value(parse("phonons", "x"))[-1] == 1000.0
    assert temperatures_value(parse("compare", "x", "--dft", "d"))[:2] == (100.0, 150.0)
    assert parse("conservation", "x", "--temperatures", "500").temperature == 500.0
    with pytest.raises(InputError, match="not both"):
        temperatures_value(parse("kappa", "x", "--temperatures", "300", "--tmax", "400"))
    with pytest.raises(InputError, match="below"):
        temperatures_value(parse("phonons", "x", "--tmin", "500", "--tmax", "400"))


def test_stage_lines_and_cache_record(tmp_path, capsys, isolated_cache):
    write(tmp_path / "POSCAR", bulk("Cu", "fcc", a=3.61), format="vasp")
    out = tmp_path / "run"
    assert main(["phonons", str(tmp_path / "POSCAR"), "--out", str(out), "--supercell", "2",
                 "2", "2", "--tmin", "100", "--tmax", "300", "--tstep", "100", *FAST]) == 0
    err = capsys.readouterr().err
    for stage in ("relax: standardizing", "forces: forces on 2 displaced supercells of 8 atoms",
                  "phonons: bands (5 q-points per segment), DOS and thermal properties on a "
                  "6x6x6 mesh (216 points", "diagnostics: model diagnostics"):
        assert f"latdyn phonons: {stage}" in err, stage
    summary = json.loads((out / "summary.json").read_text())
    assert summary["force_cache"] == {"used": True, "dir": str(isolated_cache.resolve()),
                                      "source": "LATDYN_CACHE_DIR"}
    assert summary["settings"]["execution"]["cache_dir"] == str(isolated_cache.resolve())
    assert summary["settings"]["phonons"]["temperatures"] == [100.0, 200.0, 300.0]
    assert main(["phonons", str(tmp_path / "POSCAR"), "--out", str(tmp_path / "quiet"),
                 "--supercell", "2", "2", "2", "--no-progress", "--no-cache", *FAST]) == 0
    assert capsys.readouterr().err == ""
    quiet = json.loads((tmp_path / "quiet" / "summary.json").read_text())
    assert quiet["force_cache"] == {"used": False, "dir": None, "source": None}


def test_imaginary_near_gamma_criterion():
    from latdyn.screen.tasks import imaginary_near_gamma_only

    q = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.5, 0.5, 0]])
    near = np.array([[0.0, 1, 2], [-0.3, 1, 2], [0.5, 1, 2]])
    far = np.array([[0.0, 1, 2], [0.2, 1, 2], [-0.4, 1, 2]])
    assert imaginary_near_gamma_only([(q, near)], 0.01)
    assert not imaginary_near_gamma_only([(q, far)], 0.01)
    assert not imaginary_near_gamma_only([(q, np.abs(near))], 0.01)  # none imaginary
    wrapped = np.array([[0.0, 0, 0], [0.95, 0, 0], [0.5, 0.5, 0]])  # 0.95 is -0.05
    assert imaginary_near_gamma_only([(wrapped, near)], 0.01)


def test_screen_report_shows_imaginary_modes(tmp_path, capsys):
    from latdyn.cli.screen import print_screen_report

    b2 = Atoms("CuPd", cell=np.eye(3) * 2.99, scaled_positions=[[0, 0, 0], [0.5] * 3], pbc=True)
    b2.info["name"] = "CuPd-B2"  # unstable at M with EMT
    cu = bulk("Cu", "fcc", a=3.61)
    cu.info["name"] = "Cu-fcc"
    write(tmp_path / "set.xyz", [cu, b2], format="extxyz")
    out = tmp_path / "screen"
    assert main(["screen", str(tmp_path / "set.xyz"), "--task", "phonons", "--supercell", "2",
                 "2", "2", "--no-progress", "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    line = next(row for row in printed.splitlines() if "CuPd-B2" in row and "lowest" in row)
    assert "IMAGINARY" in line and "THz" in line and "near Γ" not in line
    assert "lowest" in next(row for row in printed.splitlines() if "Cu-fcc" in row)
    summary = json.loads((out / "summary.json").read_text())
    [entry] = summary["imaginary"]
    assert entry["id"] == "CuPd-B2" and entry["lowest_frequency_THz"] < -0.1
    assert entry["near_gamma_only"] is False
    assert "usually removes them" not in printed
    assert (out / "acoustic_frequency_vs_mass.png").stat().st_size > 0

    # imaginary modes only near Γ: the hint
    entry.update(near_gamma_only=True)
    summary["ranking"]["lowest"] = []
    print_screen_report(summary, out)
    printed = capsys.readouterr().out
    assert "only near Γ in CuPd-B2" in printed and "--min-length" in printed


def test_kappa_figures_drop_meaningless_mfp_and_show_modes_at_one_temperature(tmp_path):
    from latdyn.anharmonic.specs import FC2Spec, FC3Spec
    from latdyn.kappa import KappaSettings
    from latdyn.kappa.plot import meaningful_mfp
    from latdyn.settings import ExecutionSettings
    from latdyn.structure.supercell import SupercellSpec
    from latdyn.workflows.kappa import KappaWorkflowSettings, run_kappa_workflow
    from latdyn.workflows.kappa_output import write_kappa_run

    paths = np.array([1e-48, 0.0, np.inf, np.nan, 0.5, 30.0, 200.0])
    shares = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1e-14, 2.0])
    assert meaningful_mfp(paths, shares).tolist() == [
        False, False, False, False, True, False, True]

    settings = KappaWorkflowSettings(
        model="emt", relax=False, fc2=FC2Spec(supercell=SupercellSpec((2, 2, 2))),
        fc3=FC3Spec(supercell=SupercellSpec(((-2, 2, 2), (2, -2, 2), (2, 2, -2)))),
        kappa=KappaSettings(mesh=(6, 6, 6)), execution=ExecutionSettings(progress=False))
    result = run_kappa_workflow(bulk("Cu", "fcc", a=3.61), settings)
    summary = write_kappa_run(result, tmp_path, {})
    assert {"kappa_temperature.png", "kappa_cumulative.png"} <= set(summary["outputs"])
    mfp = result.kappa.mean_free_paths[0].ravel()
    assert (mfp[np.isfinite(mfp)] < 1e-3).any()  # Γ's zero-velocity modes are there to drop
