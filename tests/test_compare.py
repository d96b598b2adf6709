"""``latdyn compare``: DFT datasets, cell check, overlays and metrics with a fast pair potential."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write
from numpy.testing import assert_allclose

from latdyn.cli.main import main
from latdyn.compare import CompareSettings, load_dft_dataset, match_cell, run_compare
from latdyn.errors import InputError
from latdyn.models.registry import LoadedModel
from latdyn.phonon import PhononSettings
from latdyn.settings import ExecutionSettings, ModelSettings

#: Frequencies of two runs of the same force constants agree to this (THz).
FREQUENCY_TOLERANCE = 1e-5


def morse_calculator():
    """A Morse pair potential near the Si-Si bond (2.35 Å): fast, for tests only."""
    from ase.calculators.morse import MorsePotential

    return MorsePotential(epsilon=2.0, r0=2.35, rho0=4.0, rcut1=3.5, rcut2=4.5)


def morse_model() -> LoadedModel:
    return LoadedModel(name="morse", calculator=morse_calculator(), package="ase",
                       version="test", dtype="float64", device="cpu")


def anisotropic_morse_model() -> LoadedModel:
    """The Morse potential plus a term that breaks rotational equivariance."""
    from latdyn.models.testing import PerturbedCalculator

    return LoadedModel(name="anisotropic-morse",
                       calculator=PerturbedCalculator(morse_calculator(), anisotropy=0.05),
                       package="ase", version="test", dtype="float64", device="cpu")


FAST = CompareSettings(phonons=PhononSettings(band_npoints=11, mesh=(6, 6, 6),
                                              projected_dos=False),
                       kappa_mesh=(5, 5, 5), temperatures=(300.0, 600.0),
                       execution=ExecutionSettings(progress=False))


@pytest.fixture
def si_dir(excerpt_dir):
    """Si, phonopy's 2x2x2 FORCE_SETS example as one phonopy_params.yaml (tests/data)."""
    return excerpt_dir / "dft" / "phonopy" / "Si"


def test_dft_phonons_against_themselves(si_dir):
    """With the DFT forces in place of the MLIP's, every difference vanishes."""
    from latdyn.compare.compare import _fit_force_constants, _frequency_stats, _phonopy_for_fc2

    dataset = load_dft_dataset(si_dir)
    _fit_force_constants(dataset.model, dataset.kind, "traditional", with_fc3=False)
    twin = load_dft_dataset(si_dir)
    _fit_force_constants(twin.model, twin.kind, "traditional", with_fc3=False)
    stats = _frequency_stats(_phonopy_for_fc2(dataset.model, "phonopy"),
                             _phonopy_for_fc2(twin.model, "phonopy"), [6, 6, 6])
    assert stats.mae < FREQUENCY_TOLERANCE and stats.max_abs < FREQUENCY_TOLERANCE
    assert stats.weights.sum() == 216


def test_cell_check(si_dir):
    from ase.io import read

    dataset = load_dft_dataset(si_dir)
    atoms = read(si_dir / "POSCAR-unitcell", format="vasp")
    assert match_cell(atoms, dataset.unitcell).matches
    shuffled = atoms[[3, 1, 0, 2, 7, 5, 6, 4]]
    assert match_cell(shuffled, dataset.unitcell).matches
    strained = atoms.copy()
    strained.set_cell(np.array(atoms.cell) * 1.01, scale_atoms=True)
    check = match_cell(strained, dataset.unitcell)
    assert not check.matches and "lattice" in check.message
    with pytest.raises(InputError, match="not the unit cell"):
        run_compare(strained, dataset, FAST, model=morse_model())


def test_legacy_disp_yaml_supercell(data_dir):
    dataset = load_dft_dataset(data_dir / "dft" / "phonopy" / "Si")
    assert dataset.kind == "phonopy"
    assert dataset.supercell_matrix.tolist() == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert len(dataset.model.primitive) == 2


def test_compare_phonopy_dataset(si_dir, tmp_path):
    from ase.io import read

    from latdyn.compare.output import write_comparison

    dataset = load_dft_dataset(si_dir)
    atoms = read(si_dir / "POSCAR-unitcell", format="vasp")
    comparison = run_compare(atoms, dataset, FAST, model=morse_model())
    assert comparison.n_supercells == {"fc2": 1}
    np.testing.assert_allclose(comparison.mlip.band_qpoints, comparison.dft.band_qpoints)
    np.testing.assert_allclose(comparison.mlip.band_distances, comparison.dft.band_distances)
    stats = comparison.frequencies
    assert np.isfinite([stats.mae, stats.rmse]).all() and 0 < stats.mae <= stats.rmse
    assert stats.rmse <= stats.max_abs
    assert comparison.kappa_dft is None and comparison.kappa_ratio is None
    summary = write_comparison(comparison, tmp_path / "out", {"structure": "POSCAR-unitcell"})
    for name in ("band_dos.png", "band_dos.pdf", "phonons_dft.h5", "phonons_mlip.h5",
                 "summary.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert summary["frequencies"]["mae_THz"] == pytest.approx(stats.mae)
    assert len(summary["gamma"]["dft_THz"]) == 6


def test_compare_phono3py_with_kappa(data_dir, tmp_path):
    """Si-PBE: FC3 forces give κ for both; the DFT κ is close to phono3py's example."""
    directory = data_dir / "dft" / "phono3py" / "Si-PBE"
    dataset = load_dft_dataset(directory)
    assert dataset.kind == "phono3py" and dataset.has_fc3
    comparison = run_compare(None, dataset, FAST, model=morse_model())
    assert comparison.n_supercells == {"fc3": 111}
    k = int(np.argmin(np.abs(comparison.kappa_dft.temperatures - 300)))
    # the phono3py README: 119.5 W/m/K on 11x11x11; the 5x5x5 mesh here is coarser
    assert 60 < comparison.kappa_dft.kappa_trace_average[k] < 200
    assert comparison.kappa_ratio is not None and np.isfinite(comparison.kappa_ratio)


def test_compare_phono3py_excerpt_matches_phono3py(excerpt_dir):
    """The Si-PBE excerpt (pairs within 2.5 Å, phono3py's cutoff layout): latdyn computes only
    the included supercells, and its DFT κ is phono3py's own from the same files."""
    import phono3py

    directory = excerpt_dir / "dft" / "phono3py" / "Si-PBE"
    dataset = load_dft_dataset(directory)
    assert dataset.kind == "phono3py" and dataset.has_fc3
    comparison = run_compare(None, dataset, FAST, model=morse_model())
    assert comparison.n_supercells == {"fc3": 11}
    direct = phono3py.load(directory / "phono3py_disp.yaml",
                           forces_fc3_filename=directory / "FORCES_FC3.xz", produce_fc=False,
                           log_level=0)
    direct.produce_fc2(symmetrize_fc2=True)  # symmetrized as latdyn compare does
    direct.produce_fc3(symmetrize_fc3r=True)
    direct.mesh_numbers = FAST.kappa_mesh
    direct.init_phph_interaction()
    direct.run_thermal_conductivity(temperatures=FAST.temperatures, log_level=0)
    expected = direct.thermal_conductivity.kappa[0][:, :3].mean(axis=1)
    assert_allclose(comparison.kappa_dft.kappa_trace_average, expected, rtol=1e-6)
    assert comparison.kappa_ratio is not None and np.isfinite(comparison.kappa_ratio)


def test_cli_compare_bad_structure(si_dir, tmp_path, capsys):
    out = tmp_path / "out"
    poscar = tmp_path / "POSCAR-MgO"
    write(poscar, bulk("MgO", "rocksalt", a=4.21), format="vasp")
    code = main(["compare", str(poscar), "--dft", str(si_dir), "--model",
                 "test_compare:morse_calculator", "--out", str(out)])
    assert code == 2
    assert "not the unit cell" in capsys.readouterr().err
    assert not out.exists()


def test_cli_compare_not_a_dataset(tmp_path, si_dir, capsys):
    code = main(["compare", str(si_dir / "POSCAR-unitcell"), "--dft", str(tmp_path),
                 "--model", "test_compare:morse_calculator", "--out", str(tmp_path / "out")])
    assert code == 2
    assert "no phonopy or phono3py dataset" in capsys.readouterr().err


def test_cli_compare_writes_overlays(si_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["compare", str(si_dir / "POSCAR-unitcell"), "--dft", str(si_dir), "--model",
                 "test_compare:morse_calculator", "--mesh", "6", "6", "6", "--band-npoints",
                 "11", "--no-progress", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["kind"] == "phonopy"
    assert summary["frequencies"]["mae_THz"] > 0
    assert (out / "band_dos.pdf").exists()


def test_o3_average_changes_an_anisotropic_model(si_dir):
    dataset = load_dft_dataset(si_dir)
    raw = run_compare(None, dataset, FAST, model=anisotropic_morse_model())
    averaged = run_compare(None, load_dft_dataset(si_dir), replace(FAST, model=ModelSettings(
                               symmetrize="o3", rotations=3)),
                           model=anisotropic_morse_model())
    assert np.abs(averaged.gamma_mlip - raw.gamma_mlip).max() > 1e-3  # THz
    record = averaged.symmetrization
    assert record["symmetrize"] == "o3" and record["evaluations_per_structure"] == 48
    assert record["n_model_evaluations"] == 48 * record["n_structures"] > 0
    assert raw.symmetrization["symmetrize"] == "none"


def test_cli_compare_spacegroup_symmetrization(si_dir, tmp_path):
    """Projecting an equivariant model's forces onto the space group changes nothing."""
    args = ["compare", str(si_dir / "POSCAR-unitcell"), "--dft", str(si_dir), "--model",
            "test_compare:morse_calculator", "--mesh", "6", "6", "6", "--band-npoints", "5",
            "--no-progress"]
    summaries = {}
    for mode in ("none", "spacegroup"):
        assert main([*args, "--symmetrize", mode, "--out", str(tmp_path / mode)]) == 0
        summaries[mode] = json.loads((tmp_path / mode / "summary.json").read_text())
    projected, plain = summaries["spacegroup"], summaries["none"]
    assert projected["symmetrization"]["symmetrize"] == "spacegroup"
    assert projected["settings"]["model"]["symmetrize"] == "spacegroup"
    assert plain["symmetrization"]["symmetrize"] == "none"
    # squared frequencies (THz²): the acoustic ones at Γ are square roots of round-off
    gamma = {mode: np.array(summary["gamma"]["mlip_THz"]) for mode, summary in summaries.items()}
    np.testing.assert_allclose(np.sign(gamma["spacegroup"]) * gamma["spacegroup"] ** 2,
                               np.sign(gamma["none"]) * gamma["none"] ** 2, rtol=0, atol=1e-8)
    assert projected["frequencies"]["mae_THz"] == pytest.approx(plain["frequencies"]["mae_THz"],
                                                               abs=FREQUENCY_TOLERANCE)
    out = tmp_path / "bad"
    assert main([*args, "--rotations", "5", "--out", str(out)]) == 2
    assert not out.exists()
