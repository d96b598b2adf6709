"""Energy conservation in NVE MD: a gradient model passes, a strong curl force fails on its
drift, a weak one passes but is flagged by the static check; symmetrized models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from latdyn.cli.main import main
from latdyn.dynamics import ConservationSettings, run_conservation
from latdyn.dynamics.conservation import fit_drift, md_supercell_matrix
from latdyn.errors import InputError
from latdyn.settings import ModelSettings

NONCONSERVATIVE = "latdyn.models.testing:nonconservative_emt"
STRONGLY_NONCONSERVATIVE = "latdyn.models.testing:strongly_nonconservative_emt"
ANISOTROPIC = "latdyn.models.testing:anisotropic_emt"

#: Float64 EMT gradients: the finite-difference FC2 is symmetric to this.
GRADIENT_ASYMMETRY = 1e-5


@pytest.fixture
def cu_cubic():
    return bulk("Cu", "fcc", a=3.61, cubic=True)


@pytest.fixture
def cu_poscar(tmp_path, cu_cubic):
    path = tmp_path / "POSCAR"
    write(path, cu_cubic, format="vasp")
    return path


def test_emt_conserves_energy(cu_cubic):
    settings = ConservationSettings(model="emt", steps=200, timestep=2.0, supercell=(2, 2, 2),
                                    min_length=5.0, progress=False)
    result = run_conservation(cu_cubic, settings)
    assert result.n_atoms == 32
    assert result.trace.total.shape == (201,)
    assert result.drift_passed and result.passed and result.static_flagged is False
    assert abs(result.drift) < 0.1 * settings.threshold
    assert result.permutation_asymmetry < GRADIENT_ASYMMETRY
    # Started at 2T from the lattice: equipartition brings it near T.
    assert 150 < result.mean_temperature < 450
    np.testing.assert_allclose(result.trace.total, result.trace.potential + result.trace.kinetic)


def test_weak_curl_force_passes_on_drift_but_is_flagged(cu_cubic):
    """The verdict follows the drift alone; the static check flags the curl beside it."""
    settings = ConservationSettings(model=NONCONSERVATIVE, steps=200, timestep=2.0,
                                    supercell=(1, 1, 1), min_length=5.0, progress=False)
    result = run_conservation(cu_cubic, settings)
    assert abs(result.drift) < settings.threshold
    assert result.drift_passed and result.passed
    assert result.static_flagged is True
    assert result.permutation_asymmetry > result.asymmetry_threshold == 1e-3


def test_strong_curl_force_fails_on_drift(cu_cubic):
    settings = ConservationSettings(model=STRONGLY_NONCONSERVATIVE, steps=200, timestep=2.0,
                                    supercell=(2, 2, 2), min_length=5.0, progress=False)
    result = run_conservation(cu_cubic, settings)
    assert abs(result.drift) > 5 * settings.threshold
    assert not result.drift_passed and not result.passed
    assert result.static_flagged is True


def test_same_seed_same_trajectory(cu_cubic):
    settings = ConservationSettings(model="emt", steps=10, supercell=(1, 1, 1), static_check=False,
                                    progress=False, seed=7)
    first = run_conservation(cu_cubic, settings)
    second = run_conservation(cu_cubic, settings)
    np.testing.assert_array_equal(first.trace.total, second.trace.total)
    assert first.permutation_asymmetry is None and first.static_flagged is None


def test_fit_drift_recovers_slope():
    time_fs = np.arange(0, 1001, 2.0)
    total = 1e-3 * 0.5 * time_fs / 1000 + 2e-5 * np.sin(time_fs / 7.0)  # eV/atom
    slope, stderr, spread = fit_drift(time_fs, total)
    assert slope == pytest.approx(0.5, abs=0.01)
    assert stderr < 0.01
    assert spread == pytest.approx(2e-2 / np.sqrt(2), rel=0.05)


def test_automatic_supercell_is_wide_enough(cu_cubic):
    matrix = md_supercell_matrix(cu_cubic, ConservationSettings(min_length=10.0))
    np.testing.assert_array_equal(matrix, np.diag([3, 3, 3]))


@pytest.mark.parametrize("kwargs", [{"steps": 5}, {"temperature": -1.0}, {"timestep": 50.0},
                                    {"threshold": 0.0},
                                    {"model": {"rotations": 3}},
                                    {"model": {"symmetrize": "o3", "rotations": 4}}])
def test_bad_settings(kwargs):
    with pytest.raises(InputError):
        if "model" in kwargs:
            kwargs = {"model": ModelSettings(**kwargs["model"])}
        ConservationSettings(**kwargs)


def test_cli_writes_trace_figure_summary(tmp_path, cu_poscar):
    out = tmp_path / "out"
    status = main(["conservation", str(cu_poscar), "--model", "emt", "--steps", "40",
                   "--timestep", "2", "--supercell", "2", "2", "2", "--min-length", "5",
                   "--out", str(out),
                   "--no-progress"])
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conservation"]["verdict"] == "PASS"
    assert summary["supercell"]["n_atoms"] == 32
    assert summary["static_check"]["raw_permutation_asymmetry"] < GRADIENT_ASYMMETRY
    assert summary["static_check"]["flagged"] is False
    assert summary["symmetrization"]["symmetrize"] == "none"
    assert summary["model"]["name"] == "emt" and "ase" in summary["versions"]
    with open(out / "energy_trace.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 41 and float(rows[-1]["time_fs"]) == 80.0
    assert (out / "energy_trace.png").stat().st_size > 0


def test_cli_flags_static_check_without_failing(tmp_path, cu_poscar, capsys):
    out = tmp_path / "out"
    status = main(["conservation", str(cu_poscar), "--model", NONCONSERVATIVE, "--steps", "40",
                   "--timestep", "2", "--supercell", "1", "1", "1", "--min-length", "5",
                   "--out", str(out), "--no-progress"])
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["conservation"]["verdict"] == "PASS"
    static = summary["static_check"]
    assert static["flagged"] is True and static["raw_permutation_asymmetry"] > static["threshold"]
    assert "FLAGGED" in capsys.readouterr().out


def test_cli_spacegroup_symmetrization_leaves_emt_unchanged(tmp_path, cu_poscar):
    """EMT obeys every symmetry: projecting its forces changes the trajectory by round-off."""
    args = ["conservation", str(cu_poscar), "--model", "emt", "--steps", "20", "--timestep", "2",
            "--supercell", "2", "2", "2", "--min-length", "5", "--no-progress"]
    traces = {}
    for mode in ("none", "spacegroup"):
        out = tmp_path / mode
        assert main([*args, "--symmetrize", mode, "--out", str(out)]) == 0
        with open(out / "energy_trace.csv") as handle:
            traces[mode] = np.array([[float(v) for v in row.values()]
                                     for row in csv.DictReader(handle)])
        summary = json.loads((out / "summary.json").read_text())
        assert summary["symmetrization"]["symmetrize"] == mode
        assert summary["settings"]["model"]["symmetrize"] == mode
    np.testing.assert_allclose(traces["spacegroup"], traces["none"], rtol=0, atol=1e-8)
    # 21 MD steps plus the static check's 7 supercells went through the projection
    assert summary["symmetrization"]["n_structures"] == 28


def test_o3_average_of_anisotropic_model(cu_cubic):
    """The O(3) average changes a non-equivariant model's energies at 48 evaluations each."""
    base = {"model": ANISOTROPIC, "steps": 10, "timestep": 2.0, "supercell": (1, 1, 1),
            "static_check": False, "progress": False}
    raw = run_conservation(cu_cubic, ConservationSettings(**base))
    o3 = ModelSettings(ANISOTROPIC, symmetrize="o3", rotations=3)
    averaged = run_conservation(cu_cubic, ConservationSettings(**{**base, "model": o3}))
    # equal on the cubic lattice (its anisotropic term averages itself), apart once it moves
    difference = np.abs(averaged.trace.potential - raw.trace.potential)
    assert difference[0] < 1e-12 and difference[-1] > 1e-6
    record = averaged.symmetrization
    assert record["symmetrize"] == "o3" and record["rotations"] == 3
    assert record["evaluations_per_structure"] == 48
    assert record["n_model_evaluations"] == 48 * record["n_structures"] > 0
    assert raw.symmetrization["evaluations_per_structure"] == 1


def run_cli(args: list[str]) -> int:
    """``main(args)``; argparse's usage errors exit through SystemExit."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("extra", [["--steps", "5"], ["--supercell", "1", "2"],
                                   ["--model", "no-such-model"], ["--timestep", "-1"],
                                   ["--rotations", "5"], ["--symmetrize", "o3", "--rotations", "4"],
                                   ["--symmetrize", "bogus"]])
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, cu_poscar, capsys, extra):
    out = tmp_path / "out"
    status = run_cli(["conservation", str(cu_poscar), "--model", "emt", "--out", str(out),
                      "--no-progress", *extra])
    assert status == 2
    assert not out.exists()
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_missing_structure(tmp_path, capsys):
    status = main(["conservation", str(tmp_path / "nope"), "--model", "emt",
                   "--out", str(tmp_path / "out")])
    assert status == 2
    assert "does not exist" in capsys.readouterr().err
