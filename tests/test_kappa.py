"""``latdyn kappa``: κ against phono3py called directly, the gate, the κSRME preset, the CLI
and force-cache reuse. EMT on fcc Cu: FC2 supercell 3x3x3 primitive (27 atoms), FC3 supercell
2x2x2 conventional (32 atoms), 5x5x5 q-mesh."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write
from numpy.testing import assert_allclose
from phono3py import Phono3py

from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.cli.main import main
from latdyn.errors import InputError
from latdyn.kappa import KappaSettings, check_gate, run_kappa
from latdyn.kappa.gate import GridFrequencies, imaginary_mode_reasons
from latdyn.models.registry import load_model
from latdyn.protocols.ksrme import ksrme_settings
from latdyn.relax import RelaxSettings
from latdyn.settings import ExecutionSettings, ModelSettings
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
from latdyn.structure.supercell import SupercellSpec
from latdyn.structure.symmetry import SymmetryInfo
from latdyn.workflows.kappa import KappaWorkflowSettings, run_kappa_workflow
from latdyn.workflows.kappa_protocol import two_stage_relax
from latdyn.workflows.kappa_settings import with_changes

#: latdyn's κ against phono3py on the same force sets (W/m/K): identical arithmetic.
KAPPA_ATOL = 1e-8
CONVENTIONAL_2X2X2 = ((-2, 2, 2), (2, -2, 2), (2, 2, -2))
FCC_PRIMITIVE = ((0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0))
KSRME_FILE = "ksrme/phononDB-PBE-structures.extxyz"
MGO_ID, ALN_WURTZITE_ID = "mp-1265", "mp-661"


def cu_settings(cache_dir, method="wigner") -> KappaWorkflowSettings:
    return KappaWorkflowSettings(
        model="emt", relax=False, fc2=FC2Spec(supercell=SupercellSpec((3, 3, 3))),
        fc3=FC3Spec(supercell=SupercellSpec(CONVENTIONAL_2X2X2)),
        kappa=KappaSettings(mesh=(5, 5, 5), temperatures=(300.0, 600.0), method=method),
        execution=ExecutionSettings(cache_dir=str(cache_dir), progress=False))


@pytest.fixture(scope="module")
def cu_run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    settings = cu_settings(cache)
    return run_kappa_workflow(bulk("Cu", "fcc", a=3.61), settings), settings


def direct_phono3py(result, fc2_supercell, fc3_supercell, primitive_matrix, symfc: bool,
                    **generate) -> Phono3py:
    """FC2 and FC3 from phono3py alone, on the workflow's unit cell and force sets.

    phono3py generates the displacements itself; they must be the workflow's. The same forces
    are used because κ on a coarse mesh is sensitive to round-off: with the tetrahedron method,
    FC2 differing by 1e-13 eV/Å² changes κ of Cu on a 5x5x5 mesh by a few per cent.
    """
    ph3 = Phono3py(to_phonopy_atoms(result.structure.atoms), supercell_matrix=fc3_supercell,
                   phonon_supercell_matrix=fc2_supercell, primitive_matrix=primitive_matrix)
    if generate:
        ph3.generate_fc2_displacements(**generate)
    ph3.generate_displacements(distance=0.03)
    for mine, theirs in [(result.displacements.fc2_displaced,
                          ph3.phonon_supercells_with_displacements),
                         (result.displacements.fc3_displaced, ph3.supercells_with_displacements)]:
        assert len(mine) == len(theirs)
        for atoms, cell in zip(mine, theirs, strict=True):
            assert_allclose(atoms.positions, to_ase_atoms(cell).positions, atol=1e-12)
    ph3.forces = result.fc3_forces.forces - result.fc3_residual_forces[None]
    ph3.phonon_forces = result.fc2_forces.forces - result.fc2_residual_forces[None]
    if symfc:
        ph3.produce_fc2(fc_calculator="symfc")
        ph3.produce_fc3(fc_calculator="symfc")
    else:
        ph3.produce_fc2()
        ph3.symmetrize_fc2()
        ph3.produce_fc3()
        ph3.symmetrize_fc3()
    return ph3


@pytest.fixture(scope="module")
def cu_direct(cu_run):
    result, _ = cu_run
    return direct_phono3py(result, np.diag([3, 3, 3]), CONVENTIONAL_2X2X2, None, symfc=True,
                           distance=0.01, is_plusminus=True, is_diagonal=True)


@pytest.mark.parametrize("method", ["rta", "wigner", "lbte"])
def test_kappa_equals_phono3py_direct(cu_run, cu_direct, method):
    result, settings = cu_run
    ph3 = cu_direct
    ph3.mesh_numbers = [5, 5, 5]
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=[300.0, 600.0], is_isotope=True,
                                 is_LBTE=method == "lbte",
                                 transport_type="smm19" if method == "wigner" else None)
    expected = ph3.thermal_conductivity
    if method == "wigner":
        kappa = result.kappa  # the workflow's own κ
        assert_allclose(kappa.kappa_particle, expected.kappa_intra[0], atol=KAPPA_ATOL)
        assert_allclose(kappa.kappa_coherence, expected.kappa_inter[0], atol=KAPPA_ATOL)
        assert kappa.kappa_coherence[0, 0] > 0
        assert kappa.mode_kappa_coherence.shape == (2, len(kappa.qpoints), 3, 3, 6)
    else:
        kappa = run_kappa(result.displacements.phono3py,
                          KappaSettings(mesh=(5, 5, 5), temperatures=(300.0, 600.0), method=method))
        assert_allclose(kappa.kappa_coherence, 0.0)
        assert kappa.mode_kappa_coherence is None
    assert_allclose(kappa.kappa, expected.kappa[0], atol=KAPPA_ATOL)
    assert_allclose(kappa.gamma, expected.gamma[0], atol=1e-12)
    # invariants: cubic tensor, modes sum to κ, weights count the mesh
    assert_allclose(kappa.kappa[:, :3], np.repeat(kappa.kappa_trace_average[:, None], 3, axis=1),
                    rtol=1e-8)
    assert_allclose(kappa.kappa[:, 3:], 0.0, atol=1e-8)
    assert_allclose(kappa.mode_kappa_total.sum(axis=(1, 2)) / kappa.weights.sum(), kappa.kappa,
                    atol=1e-8)
    assert kappa.weights.sum() == 125
    assert kappa.kappa_trace_average[0] > kappa.kappa_trace_average[1] > 0
    assert not kappa.kappa.flags.writeable


def test_workflow_records(cu_run):
    result, _ = cu_run
    assert result.gate.passed and result.gate.proceed and not result.gate.forced
    assert (result.n_fc2_supercells, result.n_fc3_supercells) == (2, 37)
    assert (len(result.displacements.fc2_supercell), len(result.displacements.fc3_supercell)) \
        == (27, 32)
    assert result.fc3.asr_violation < 1e-8 and result.fc2.asr_violation < 1e-8
    for stage in ("relax", "fc2_forces", "fc2", "harmonic_check", "fc3_forces", "fc3", "kappa"):
        assert stage in result.timings


def test_ksrme_path_equals_phono3py_direct(tmp_path):
    """The κSRME route (conventional cell + primitive matrix, phono3py's own displacements,
    finite differences + symmetrization, Wigner, isotopes, boundary) against phono3py."""
    conventional = bulk("Cu", "fcc", a=3.61, cubic=True)
    conventional.info.update(fc2_supercell=np.diag([2, 2, 2]), fc3_supercell=np.diag([2, 2, 2]),
                             q_mesh=np.array([5, 5, 5]), primitive_matrix=np.array(FCC_PRIMITIVE))
    settings = ksrme_settings(conventional, ModelSettings("emt"),
                              ExecutionSettings(cache_dir=str(tmp_path), progress=False),
                              {"relax": False})
    result = run_kappa_workflow(conventional, settings)
    assert len(result.structure.atoms) == 4  # not reduced to the primitive cell
    assert len(result.displacements.phono3py.primitive) == 1
    ph3 = direct_phono3py(result, np.diag([2, 2, 2]), np.diag([2, 2, 2]),
                          np.array(FCC_PRIMITIVE), symfc=False)
    ph3.mesh_numbers = [5, 5, 5]
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=[300.0], is_isotope=True, boundary_mfp=1e6,
                                 transport_type="smm19")
    assert_allclose(result.kappa.kappa, ph3.thermal_conductivity.kappa[0], atol=KAPPA_ATOL)


def test_two_stage_relax_records_both_stages():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    stages = two_stage_relax(atoms, EMT(), RelaxSettings(fmax=1e-3, fix_angles=True,
                                                         optimizer="BFGS"))
    assert not stages.kept_stage1
    combined = stages.combined()
    assert combined.n_steps == stages.stage1.n_steps + stages.stage2.n_steps
    assert combined.symmetry_before.number == combined.symmetry_after.number == 225
    assert combined.atoms is stages.stage2.atoms
    assert_allclose(combined.atoms.cell.angles(), 90.0)
    assert combined.atoms.cell.lengths()[0] < 3.6


# --- the gate --------------------------------------------------------------------------------

def grid(gamma, others) -> GridFrequencies:
    frequencies = np.array([gamma] + others, dtype=float)
    return GridFrequencies(frequencies=frequencies, qpoints=np.zeros((len(frequencies), 3)),
                           gamma_index=0, mesh=np.array([2, 2, 2]))


GOOD_GAMMA = [-0.005, 0.0, 0.004, 5.0, 5.0, 6.0]
GOOD_OTHER = [0.5, 0.6, 0.7, 5.0, 5.1, 6.0]


@pytest.mark.parametrize("gamma, other, tolerance, n_reasons", [
    (GOOD_GAMMA, GOOD_OTHER, 0.0, 0),                    # Γ acoustic noise within 0.01 THz
    ([-0.02, 0, 0, 5, 5, 6], GOOD_OTHER, 0.0, 1),        # Γ acoustic below -0.01 THz
    ([-0.005, -0.004, -0.003, -0.002, 5, 6], GOOD_OTHER, 0.0, 1),  # κSRME: Γ optical < 0
    ([-0.005, -0.004, -0.003, -0.002, 5, 6], GOOD_OTHER, 0.01, 0),  # within the tolerance
    (GOOD_GAMMA, [-0.001, 0.6, 0.7, 5, 5, 6], 0.0, 1),   # κSRME: any negative non-Γ mode
    (GOOD_GAMMA, [-0.5, 0.6, 0.7, 5, 5, 6], 0.01, 1),
])
def test_imaginary_mode_rules(gamma, other, tolerance, n_reasons):
    assert len(imaginary_mode_reasons(grid(gamma, [other]), tolerance=tolerance)) == n_reasons


def test_gate_symmetry_and_force():
    fm3m = SymmetryInfo(225, "Fm-3m", 48, 1e-5)
    r3m = SymmetryInfo(166, "R-3m", 12, 1e-5)
    ok = grid(GOOD_GAMMA, [GOOD_OTHER])
    assert check_gate(ok, fm3m, fm3m).passed
    gate = check_gate(ok, fm3m, r3m)
    assert not gate.passed and not gate.proceed
    assert "Fm-3m (225) to R-3m (166)" in gate.reasons[0]
    assert check_gate(ok, fm3m, r3m, allow_symmetry_change=True).passed
    forced = check_gate(ok, fm3m, r3m, force=True)
    assert forced.forced and forced.proceed and not forced.passed


def test_gated_run_writes_summary_and_exits_0(tmp_path, capsys):
    """Unrelaxed bcc Cu is dynamically unstable under EMT: no FC3, summary says why."""
    write(tmp_path / "POSCAR", bulk("Cu", "bcc", a=2.87), format="vasp")
    out = tmp_path / "out"
    status = main(["kappa", str(tmp_path / "POSCAR"), "--model", "emt", "--no-relax",
                   "--fc2-supercell", "3", "3", "3", "--fc3-supercell", "2", "2", "2",
                   "--mesh", "6", "6", "6", "--out", str(out), "--no-progress"])
    assert status == 0
    assert "no κ computed: imaginary modes" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gate"]["passed"] is False
    assert summary["gate"]["kappa_computed"] is False
    assert "imaginary modes" in summary["gate"]["reasons"][0]
    assert summary["kappa"] is None
    assert summary["displacements"]["fc3"]["n_computed"] == 0
    assert summary["displacements"]["fc3"]["n_displaced_supercells"] > 0
    assert not (out / "kappa.h5").exists()
    assert (out / "phono3py_params.yaml").exists()


# --- the κSRME preset ------------------------------------------------------------------------

def _ksrme_structure(data: Path, mp_id: str):
    return next(a for a in read(data / KSRME_FILE, index=":") if a.info["mp_id"] == mp_id)


def test_ksrme_settings_from_reference_file(excerpt_dir):
    mgo = _ksrme_structure(excerpt_dir, MGO_ID)
    assert mgo.info["name"] == "MgO"
    settings = ksrme_settings(mgo, ModelSettings("7net-0"))
    assert settings.protocol == "ksrme"
    assert settings.fc2.supercell.matrix == ((4, 0, 0), (0, 4, 0), (0, 0, 4))
    assert settings.fc3.supercell.matrix == ((2, 0, 0), (0, 2, 0), (0, 0, 2))
    assert settings.kappa.mesh == (19, 19, 19)
    assert_allclose(settings.primitive_matrix, FCC_PRIMITIVE)
    assert (settings.fc2.distance, settings.fc3.distance) == (0.03, 0.03)
    assert (settings.fc2.plus_minus, settings.fc2.diagonal) == ("auto", False)
    kappa = settings.kappa
    assert (kappa.method, kappa.temperatures, kappa.isotope) == ("wigner", (300.0,), True)
    assert kappa.boundary_mfp == 1e6
    assert (settings.fc_solver, settings.fc3.method, settings.gate.imaginary_tolerance) == \
        ("auto", "fd", 0.0)
    relax = settings.relax_settings
    assert settings.relax and settings.two_stage_relax
    assert (relax.optimizer, relax.fmax, relax.max_steps, relax.symprec) == \
        ("FIRE", 1e-4, 300, 1e-5)
    assert relax.relax_cell and relax.fix_angles and relax.fix_symmetry
    assert not relax.allow_symmetry_change and not settings.gate.force

    aln = _ksrme_structure(excerpt_dir, ALN_WURTZITE_ID)
    assert (aln.info["name"], int(aln.info["symm.no"])) == ("AlN", 186)
    wurtzite = ksrme_settings(aln, changes={"kappa": {"temperatures": (300.0, 600.0)}})
    assert wurtzite.primitive_matrix == "auto"
    assert wurtzite.fc2.supercell.matrix == ((5, 0, 0), (0, 5, 0), (0, 0, 3))
    assert wurtzite.fc3.supercell.matrix == ((3, 0, 0), (0, 3, 0), (0, 0, 2))
    assert wurtzite.kappa.mesh == (19, 19, 15)
    assert wurtzite.kappa.temperatures == (300.0, 600.0)


def test_ksrme_settings_errors():
    with pytest.raises(InputError, match="fc2_supercell"):
        ksrme_settings(bulk("Cu"))
    atoms = bulk("Cu")
    atoms.info.update(fc2_supercell=[2, 2, 2], fc3_supercell=[2, 2, 2], q_mesh=[5, 5, 5])
    with pytest.raises(InputError, match="unknown"):
        ksrme_settings(atoms, changes={"qmesh": (3, 3, 3)})


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def poscar(tmp_path):
    path = tmp_path / "POSCAR"
    write(path, bulk("Cu", "fcc", a=3.61), format="vasp")
    return path


@pytest.mark.parametrize("extra, message", [
    (["--temperatures", "300", "-5"], "temperatures must be >= 0"),
    (["--mesh", "0", "0", "0"], "three positive integers"),
    (["--method", "bte"], "invalid choice"),
    (["--fc3-method", "random", "--fc-solver", "traditional"], "symfc"),
    (["--n-random", "0"], "random supercells"),
    (["--fc3-convergence", "0.01"], "needs random displacements"),
    (["--fc3-method", "random", "--fc3-convergence", "2"], "tolerance must be in (0, 1)"),
    (["--protocol", "ksrme"], "ksrme protocol needs"),
    (["--fc3-holdout", "-1"], "held-out check needs >= 0"),
])
def test_cli_bad_input(poscar, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    status = main(["kappa", str(poscar), "--model", "emt", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


# --- cache reuse: phonons -> kappa -> kappa ---------------------------------------------------

def test_cache_reuse_from_phonons_and_cli_outputs(poscar, tmp_path, capsys):
    from latdyn.workflows.phonons import PhononWorkflowSettings, run_phonon_workflow

    cache = tmp_path / "cache"
    model = load_model("emt")
    atoms = bulk("Cu", "fcc", a=3.61)
    phonons = run_phonon_workflow(atoms, PhononWorkflowSettings(
        model="emt", relax=False, supercell=(3, 3, 3),
        execution=ExecutionSettings(cache_dir=str(cache), progress=False)),
        model=model)
    first = run_kappa_workflow(atoms, cu_settings(cache, method="rta"), model=model)
    assert first.fc2_forces.n_computed == 0  # all from the phonon run
    assert first.n_fc2_supercells == phonons.displacements.n_supercells
    assert first.fc3_forces.n_computed == first.n_fc3_supercells

    out = tmp_path / "out"
    status = main(["kappa", str(poscar), "--model", "emt", "--no-relax",
                   "--fc2-supercell", "3", "3", "3", "--fc3-supercell", *map(str, np.ravel(
                       CONVENTIONAL_2X2X2)), "--mesh", "5", "5", "5",
                   "--temperatures", "300", "600", "--cache-dir", str(cache), "--out", str(out),
                   "--fc3-holdout", "1", "--no-progress"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "0 computed, 37 from cache" in printed
    assert "FC3 on 1 held-out ± pairs (0.03 Å): residual" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["force_constants"]["fc3"]["holdout"]["n_computed"] == 2
    assert summary["displacements"]["fc2"]["n_computed"] == 0
    assert summary["displacements"]["fc3"]["n_computed"] == 0
    assert summary["kappa"]["temperatures_K"] == [300.0, 600.0]
    assert_allclose(summary["kappa"]["kappa_trace_average"], first.kappa.kappa_trace_average,
                    rtol=1e-10)
    assert summary["outputs"][-1] == "summary.json"
    for name in summary["outputs"]:
        assert (out / name).stat().st_size > 0
    for key in ("model", "versions", "settings", "timings_s", "supercells", "gate"):
        assert key in summary
    assert summary["versions"]["phono3py"]
    with h5py.File(out / "kappa.h5") as h5:
        nq = len(h5["qpoint"])
        assert h5["kappa"].shape == (2, 6)
        assert h5["mode_kappa"].shape == (2, nq, 3, 6)
        assert h5["heat_capacity"].shape == (2, nq, 3)
        assert h5["group_velocity"].shape == (nq, 3, 3)
        assert h5["kappa"].attrs["unit"] == "W/(m K)"
        assert_allclose(h5["temperature"][:], [300.0, 600.0])
        assert_allclose(h5["mode_kappa"][:].sum(axis=(1, 2)) / h5["weight"][:].sum(),
                        h5["kappa"][:], atol=1e-8)
    assert_phono3py_reads(out, (5, 5, 5), first.kappa)


def assert_phono3py_reads(out, mesh, kappa):
    """phono3py's gamma reader and its kaccum script take ``kappa.h5`` as kappa-m*.hdf5."""
    import contextlib
    import io
    import shutil

    from phono3py.cui.kaccum_script import KaccumMockArgs
    from phono3py.cui.kaccum_script import main as kaccum
    from phono3py.file_IO import read_gamma_from_hdf5

    folder = out / "phono3py-view"
    folder.mkdir()
    name = "kappa-m" + "".join(map(str, mesh)) + ".hdf5"
    shutil.copy(out / "kappa.h5", folder / name)
    shutil.copy(out / "phono3py_params.yaml", folder / "phono3py.yaml")
    printed = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(printed):
        data, _ = read_gamma_from_hdf5(list(mesh))
        kaccum(args=KaccumMockArgs(filenames=[name], temperature=300.0))
    assert_allclose(data["gamma"], kappa.gamma, atol=1e-12)
    assert_allclose(data["gamma_isotope"], kappa.gamma_isotope, atol=1e-12)
    # kaccum's last row: the cumulative κ at the top frequency is κ (xx), at 300 K
    rows = [line.split() for line in printed.getvalue().splitlines()
            if line.strip() and not line.startswith("#")]
    assert float(rows[-1][1]) == pytest.approx(kappa.kappa[0, 0], rel=1e-3)


def test_symmetrized_kappa_run_on_equivariant_model(cu_run, tmp_path):
    """`--symmetrize spacegroup` on EMT leaves the force constants unchanged and is recorded."""
    result, settings = cu_run
    symmetrized = run_kappa_workflow(
        bulk("Cu", "fcc", a=3.61),
        with_changes(settings, {"model": {"symmetrize": "spacegroup"},
                                "execution": {"cache_dir": str(tmp_path)}}),
    )
    assert symmetrized.symmetrization["symmetrize"] == "spacegroup"
    assert result.symmetrization["symmetrize"] == "none"
    assert symmetrized.fc3_forces.n_computed == symmetrized.n_fc3_supercells  # new cache key
    assert_allclose(symmetrized.fc2.force_constants, result.fc2.force_constants, atol=1e-8)
    assert_allclose(symmetrized.fc3_forces.forces, result.fc3_forces.forces, atol=1e-8)


def test_unphysical_kappa_is_refused_not_reported():
    """A vanishing FC3 (e.g. an 8-atom FC3 supercell) gives κ ~ 1e35 W/m/K: an error, not a
    number with exit status 0."""
    from types import SimpleNamespace

    from latdyn.errors import ModelError
    from latdyn.workflows.kappa import check_kappa_physical

    temperatures = np.array([300.0, 600.0])
    check_kappa_physical(SimpleNamespace(kappa_trace_average=np.array([2.3e3, 1.1e3]),
                                         temperatures=temperatures), fc3_atoms=64)
    for values in ([5.2e35, 2.6e35], [40.0, np.nan]):
        with pytest.raises(ModelError, match="not physical.*8 atoms"):
            check_kappa_physical(SimpleNamespace(kappa_trace_average=np.array(values),
                                                 temperatures=temperatures), fc3_atoms=8)
