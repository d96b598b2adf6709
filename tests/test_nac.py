"""NAC from a BORN file in `latdyn phonons` and `latdyn kappa`: LO–TO splitting at Γ, the same
frequencies and κ as phonopy/phono3py given the same BORN, the record, the warning, bad files.

EMT on B2 AlPd (a = 3.185 Å, stable with EMT) with a hand-made BORN: ε∞ = 10, Z*(Al) = +2,
Z*(Pd) = −2 (isotropic). Not physical for a metal, but it is the arithmetic that is tested.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import phonopy
import pytest
from ase import Atoms
from ase.io import write
from numpy.testing import assert_allclose
from phono3py import Phono3py
from phonopy.file_IO import parse_BORN

from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.cli.main import main
from latdyn.harmonic.nac import read_nac_params
from latdyn.kappa import KappaSettings
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_phonopy_atoms
from latdyn.structure.supercell import SupercellSpec
from latdyn.workflows.kappa import KappaWorkflowSettings, run_kappa_workflow

BORN_TEXT = """14.400
10.0 0 0 0 10.0 0 0 0 10.0
2.0 0 0 0 2.0 0 0 0 2.0
-2.0 0 0 0 -2.0 0 0 0 -2.0
"""
FAST = ["--model", "emt", "--no-relax", "--supercell", "3", "3", "3", "--mesh", "6", "6", "6",
        "--band-npoints", "11", "--tstep", "100", "--no-progress"]


def alpd() -> Atoms:
    return Atoms("AlPd", cell=np.eye(3) * 3.185, scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]],
                 pbc=True)


@pytest.fixture
def folder(tmp_path):
    write(tmp_path / "POSCAR", alpd(), format="vasp")
    (tmp_path / "BORN").write_text(BORN_TEXT)
    return tmp_path


def band_gamma(out) -> np.ndarray:
    with h5py.File(out / "phonons.h5") as h5:
        qpoints, frequencies = h5["band/qpoints"][:], h5["band/frequencies"][:]
    return frequencies[np.all(np.abs(qpoints) < 1e-12, axis=1)]


def test_phonons_nac_lo_to_and_phonopy_direct(folder, capsys):
    with_nac, without = folder / "nac", folder / "nonac"
    assert main(["phonons", str(folder / "POSCAR"), "--out", str(with_nac), *FAST]) == 0
    err = capsys.readouterr().err
    assert "NAC from" in err and "found beside the structure" in err
    bare = folder / "bare"
    bare.mkdir()
    write(bare / "POSCAR", alpd(), format="vasp")
    assert main(["phonons", str(bare / "POSCAR"), "--out", str(without), *FAST]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "more than one species and no BORN" in err
    assert main(["phonons", str(folder / "POSCAR"), "--out", str(folder / "off"), "--no-nac",
                 *FAST]) == 0
    assert capsys.readouterr().err == ""  # NAC left out on purpose: nothing to warn about

    summary = json.loads((with_nac / "summary.json").read_text())
    assert summary["inputs"]["born"]["auto_found"] is True
    assert len(summary["inputs"]["born"]["sha256"]) == 64
    assert summary["nac"]["applied"] is True
    assert_allclose(summary["nac"]["dielectric"], 10 * np.eye(3))
    assert json.loads((without / "summary.json").read_text())["nac"] == {"applied": False}

    # Γ approached along the path: one LO above two TO with NAC, three degenerate without
    lo_to, plain = band_gamma(with_nac), band_gamma(without)
    assert len(lo_to) >= 2
    for row in lo_to:
        assert_allclose(row[3], row[4], atol=1e-6)
        assert row[5] > row[4] + 0.5
    assert_allclose(plain[:, 3:], plain[0, 3], atol=1e-6)
    assert_allclose(lo_to[:, 3:5], plain[:, 3:5], atol=1e-6)  # TO unchanged

    # phonopy itself, from the no-NAC run's force constants and the same BORN file
    loaded = phonopy.load(without / "phonopy_params.yaml", born_filename=folder / "BORN")
    with h5py.File(with_nac / "phonons.h5") as h5:
        qpoints, frequencies = h5["band/qpoints"][:], h5["band/frequencies"][:]
        starts = list(h5["band/segment_starts"][:]) + [len(qpoints)]
        connections = list(h5["band/connections"][:])
        heat_capacity = h5["thermal_properties/heat_capacity"][:]
    paths = [qpoints[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
    loaded.run_band_structure(paths, path_connections=connections)
    assert_allclose(np.concatenate(loaded.band_structure.frequencies), frequencies, atol=1e-6)
    loaded.run_mesh([6, 6, 6], is_gamma_center=True)
    loaded.run_thermal_properties(t_min=0, t_max=1000, t_step=100, exclude_gamma_acoustic=True)
    assert_allclose(loaded.thermal_properties.heat_capacity, heat_capacity, rtol=1e-8)


@pytest.mark.parametrize("text, message", [
    ("14.4\n10 0 0 0 10 0 0 0\n", "line 2"),
    ("14.4\n10 0 0 0 10 0 0 0 10\n2 0 0 0 2 0 0 0 2\n", "not enough"),
    ("14.4\n10 0 0 0 10 0 0 0 10\n2 0 0 0 2 0 0 0 2\n-2 0 0 0 -2 0 0 0 -2\n1 2 3\n", "Too many"),
    ("14.4\n10 0 0 0 10 0 x 0 10\n2 0 0 0 2 0 0 0 2\n-2 0 0 0 -2 0 0 0 -2\n", "BORN file"),
])
def test_bad_born_one_line_exit_2(folder, capsys, text, message):
    born = folder / "mine.born"
    born.write_text(text)
    out = folder / "run"
    status = main(["phonons", str(folder / "POSCAR"), "--born", str(born), "--out", str(out),
                   *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and message in err[0] and "mine.born" in err[0]
    assert not out.exists()


def test_missing_born_file_and_contradiction(folder, capsys):
    assert main(["phonons", str(folder / "POSCAR"), "--born", str(folder / "nope"),
                 "--out", str(folder / "r"), *FAST]) == 2
    assert "BORN file" in capsys.readouterr().err
    assert main(["phonons", str(folder / "POSCAR"), "--born", str(folder / "BORN"), "--no-nac",
                 "--out", str(folder / "r"), *FAST]) == 2
    assert "contradict" in capsys.readouterr().err


def test_born_tensors_rotated_into_the_standardized_frame(folder):
    """A BORN file written for a rotated input gives the standardized cell's tensors."""
    from latdyn.harmonic.nac import standard_rotation
    from latdyn.structure.symmetry import standardize_primitive

    atoms = alpd()
    atoms.set_cell(np.diag([3.185, 3.185, 3.3]), scale_atoms=True)  # tetragonal: anisotropic ε
    (folder / "BORN4").write_text("14.4\n10 0 0 0 10 0 0 0 12\n2 0 0 0 2 0 0 0 3\n"
                                  "-2 0 0 0 -2 0 0 0 -3\n")
    reference = read_nac_params(folder / "BORN4", standardize_primitive(atoms), 1e-5,
                                standard_rotation(atoms, 1e-5))
    rotated = atoms.copy()
    rotated.rotate(90, "x", rotate_cell=True)  # c now along −y in Cartesian space
    (folder / "BORN4r").write_text("14.4\n10 0 0 0 12 0 0 0 10\n2 0 0 0 3 0 0 0 2\n"
                                   "-2 0 0 0 -3 0 0 0 -2\n")
    again = read_nac_params(folder / "BORN4r", standardize_primitive(rotated), 1e-5,
                            standard_rotation(rotated, 1e-5))
    assert_allclose(again["dielectric"], reference["dielectric"], atol=1e-10)
    assert_allclose(again["born"], reference["born"], atol=1e-10)
    assert_allclose(np.diag(reference["dielectric"]), [10, 10, 12])


def test_kappa_nac_equals_phono3py_direct(folder):
    settings = KappaWorkflowSettings(
        model="emt", relax=False, fc2=FC2Spec(supercell=SupercellSpec((3, 3, 3))),
        fc3=FC3Spec(supercell=SupercellSpec((2, 2, 2))),
        kappa=KappaSettings(mesh=(4, 4, 4), temperatures=(300.0,)),
        execution=ExecutionSettings(cache_dir=str(folder / "cache"), progress=False),
        born=str(folder / "BORN"))
    result = run_kappa_workflow(alpd(), settings)
    ph3 = result.displacements.phono3py
    assert ph3.nac_params is not None and result.kappa is not None

    def kappa_of(nac_params):
        direct = Phono3py(to_phonopy_atoms(result.structure.atoms), supercell_matrix=[2, 2, 2],
                          phonon_supercell_matrix=[3, 3, 3])
        direct.fc2, direct.fc3 = ph3.fc2, ph3.fc3
        if nac_params is not None:
            direct.nac_params = nac_params
        direct.mesh_numbers = [4, 4, 4]
        direct.init_phph_interaction()
        direct.run_thermal_conductivity(temperatures=[300.0], is_isotope=True)
        return direct.thermal_conductivity.kappa[0]

    params = parse_BORN(to_phonopy_atoms(result.structure.atoms), filename=folder / "BORN")
    assert_allclose(result.kappa.kappa, kappa_of(params), atol=1e-8)
    assert not np.allclose(result.kappa.kappa, kappa_of(None), rtol=1e-3)
