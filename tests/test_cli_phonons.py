"""`latdyn phonons` from the command line: outputs, round trip through phonopy.load, bad input."""

import json

import numpy as np
import phonopy
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from latdyn.cli.main import main

FAST = ["--model", "emt", "--min-length", "7", "--mesh", "6", "6", "6", "--band-npoints", "11",
        "--tstep", "100", "--no-progress"]


@pytest.fixture
def cu_poscar(tmp_path):
    path = tmp_path / "POSCAR"
    write(path, bulk("Cu", "fcc", a=3.61, cubic=True), format="vasp")
    return path


def test_phonons_command_writes_outputs(tmp_path, cu_poscar, capsys):
    out = tmp_path / "run"
    assert main(["phonons", str(cu_poscar), "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "Fm-3m (225)" in printed and "no imaginary modes" in printed
    for name in ["phonopy_params.yaml", "phonons.h5", "band_dos.png", "band_dos.pdf",
                 "summary.json"]:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*tmp"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["name"] == "emt"
    assert summary["structure"]["relaxation"]["space_group_after"] == "Fm-3m (225)"
    assert summary["displacements"]["n_displaced_supercells"] == 2
    assert summary["phonons"]["has_imaginary_modes"] is False
    assert set(summary["timings_s"]) >= {"relax", "forces", "fc2", "phonons", "total"}
    assert summary["versions"]["phonopy"] == phonopy.__version__
    assert summary["inputs"]["structure_sha256"]

    # phonopy.load reproduces latdyn's band frequencies
    import h5py

    with h5py.File(out / "phonons.h5") as h5:
        qpoints = h5["band/qpoints"][:]
        frequencies = h5["band/frequencies"][:]
    loaded = phonopy.load(out / "phonopy_params.yaml")
    loaded.run_qpoints(qpoints)
    np.testing.assert_allclose(loaded.qpoints.frequencies, frequencies, atol=1e-5)

    # a re-run takes every force set from the cache
    assert main(["phonons", str(cu_poscar), "--out", str(out), *FAST]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["displacements"]["n_computed"] == 0


def _bad_inputs(tmp_path):
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("data_x\n_cell_length_a nonsense\n")
    molecule = tmp_path / "molecule.xyz"
    write(molecule, Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]]), format="extxyz")
    overlap = tmp_path / "overlap" / "POSCAR"
    overlap.parent.mkdir()
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.append("Cu")
    atoms.positions[-1] = atoms.positions[0] + [0.05, 0, 0]
    write(overlap, atoms, format="vasp")
    silicon = tmp_path / "Si.vasp"
    write(silicon, bulk("Si", "diamond", a=5.43), format="vasp")
    copper = tmp_path / "Cu.vasp"
    write(copper, bulk("Cu", "fcc", a=3.61), format="vasp")
    return {
        "missing file": [str(tmp_path / "missing.vasp")],
        "garbage file": [str(garbage)],
        "molecule": [str(molecule)],
        "overlapping atoms": [str(overlap)],
        "unsupported element": [str(silicon)],
        "zero supercell": [str(copper), "--supercell", "0", "0", "0"],
        "two-number supercell": [str(copper), "--supercell", "2", "2"],
        "unknown model": [str(copper), "--model", "no-such-model"],
        "bad import path": [str(copper), "--model", "no_such_module:factory"],
        "negative displacement": [str(copper), "--displacement", "-0.01"],
        "bad mesh": [str(copper), "--mesh", "4", "4"],
    }


def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys):
    for case, arguments in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out-{case.replace(' ', '-')}"
        extra = [] if "--model" in arguments else ["--model", "emt"]
        status = main(["phonons", *arguments, *extra, "--no-progress", "--out", str(out)])
        captured = capsys.readouterr()
        assert status == 2, case
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, (case, captured.err)
        assert "error" in lines[0] and "Traceback" not in captured.err, case
        assert not out.exists(), case


def test_argparse_errors_are_one_line(capsys):
    assert main(["phonons"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["phonons", "x", "--supercell", "a", "b", "c"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_models_command_lists_registry(capsys):
    assert main(["models"]) == 0
    printed = capsys.readouterr().out
    for name in ["7net-0", "7net-l3i5", "7net-mf-0", "chgnet", "emt"]:
        assert name in printed


def test_help_documents_options(capsys):
    assert main(["phonons", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ["--model", "--supercell", "--no-relax", "--out", "--debug", "--device"]:
        assert option in text
