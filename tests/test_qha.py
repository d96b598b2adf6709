"""`latdyn qha` on EMT Cu and Al: phonopy's QHA and Grüneisen module called directly on the
same inputs, thermodynamic invariants, trusted-range cut, imaginary volumes, the command."""

import json
import warnings

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from latdyn.cli.main import main
from latdyn.qha import QHAError, QHAInputs, QHASettings, VolumeGridSettings, run_qha
from latdyn.settings import ExecutionSettings
from latdyn.workflows.qha import QHAWorkflowSettings, run_qha_workflow

#: latdyn and phonopy do the same arithmetic on the same numbers.
RTOL = 1e-8

FAST_QHA = QHASettings(mesh=(9, 9, 9), t_max=600.0, t_step=20.0)


def _settings(cache) -> QHAWorkflowSettings:
    return QHAWorkflowSettings(
        model="emt", supercell=(3, 3, 3), fc_solver="traditional", band_npoints=9, qha=FAST_QHA,
        volumes=VolumeGridSettings(n_volumes=7, strain_range=0.06),
        execution=ExecutionSettings(cache_dir=str(cache), progress=False))


@pytest.fixture(scope="module", params=[("Cu", 3.59), ("Al", 4.05)], ids=["Cu", "Al"])
def emt_run(request, tmp_path_factory):
    element, a = request.param
    return run_qha_workflow(bulk(element, "fcc", a=a),
                            _settings(tmp_path_factory.mktemp("cache")))


def test_thermal_properties_are_phonopys_on_each_volume(emt_run):
    qha = emt_run.qha
    fitted = [d.phonopy for d, keep in zip(emt_run.displacements, qha.fitted, strict=True)
              if keep]
    for k, ph in enumerate(fitted):
        ph.run_mesh(qha.mesh.tolist())
        ph.run_thermal_properties(temperatures=qha.temperatures, exclude_gamma_acoustic=True)
        tp = ph.thermal_properties
        np.testing.assert_allclose(qha.free_energy[:, k], tp.free_energy, rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(qha.heat_capacity_v_volumes[:, k], tp.heat_capacity,
                                   rtol=RTOL, atol=1e-12)


def test_volume_expansion_bulk_modulus_equal_phonopy_qha(emt_run):
    """phonopy's (legacy) PhonopyQHA on latdyn's E(V) and thermal properties."""
    from phonopy import PhonopyQHA

    qha = emt_run.qha
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        reference = PhonopyQHA(qha.volumes[qha.fitted], qha.energies[qha.fitted], temperatures=qha.temperatures,
                               free_energy=qha.free_energy, cv=qha.heat_capacity_v_volumes,
                               entropy=qha.entropy, eos="vinet")
    n = len(reference.volume_temperature)
    assert n >= len(qha.temperatures) - 3
    np.testing.assert_allclose(qha.equilibrium_volumes[:n], reference.volume_temperature,
                               rtol=RTOL)
    np.testing.assert_allclose(qha.bulk_modulus[:n], reference.bulk_modulus_temperature,
                               rtol=1e-6)
    m = len(reference.thermal_expansion)
    np.testing.assert_allclose(qha.volumetric_expansion[1:m], reference.thermal_expansion[1:m],
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(qha.heat_capacity_p[1:m],
                               reference.heat_capacity_P_polyfit[1:m], rtol=1e-6)


def test_physics_invariants(emt_run):
    qha = emt_run.qha
    assert np.all(qha.heat_capacity_p >= qha.heat_capacity_v - 1e-9)
    assert np.all(np.diff(qha.equilibrium_volumes) >= -1e-9)  # fcc metals expand
    k300 = qha.at(300.0)
    alpha = qha.linear_expansion
    assert 5e-6 < alpha[k300] < 5e-5
    assert abs(alpha[1]) < 0.05 * alpha[k300]  # α -> 0 as T -> 0 (20 K)
    assert alpha[0] == 0.0
    assert 0 < qha.bulk_modulus[k300] < qha.bulk_modulus[0]
    # zero-point motion expands the lattice beyond the static minimum
    assert qha.equilibrium_volumes[0] > qha.static_eos["V0_A3"]


def test_gruneisen_equals_phonopys_module(emt_run):
    from phonopy.api_gruneisen import PhonopyGruneisen

    k = emt_run.grid.reference_index
    phonopys = [d.phonopy for d in emt_run.displacements]
    gruneisen = emt_run.gruneisen
    reference = PhonopyGruneisen(phonopys[k], phonopys[k + 1], phonopys[k - 1])
    reference.set_band_structure(list(gruneisen.band_qpoints))
    gammas = reference.get_band_structure()[4]
    for ours, theirs in zip(gruneisen.band_gamma, gammas, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, equal_nan=True)
    # and γ = -dlnω/dlnV from the frequencies at V- and V+ (a generic q-point)
    q = [[0.1, 0.23, 0.37]]
    freqs = []
    for ph in phonopys[k - 1 : k + 2]:
        ph.run_qpoints(q)
        freqs.append(np.sort(ph.qpoints.frequencies[0]))
    volumes = [ph.primitive.volume for ph in phonopys[k - 1 : k + 2]]
    finite_difference = -np.log(freqs[2] / freqs[0]) / np.log(volumes[2] / volumes[0])
    reference.set_band_structure([np.array(q)])
    modal = np.sort(reference.get_band_structure()[4][0][0])
    np.testing.assert_allclose(np.sort(finite_difference), modal, rtol=0.03)
    # the mode average is the thermodynamic γ of the fit to within the fit's accuracy
    t = emt_run.qha.at(300.0)
    assert abs(gruneisen.average[t] - emt_run.qha.gruneisen[t]) < 0.15 * emt_run.qha.gruneisen[t]


def _inputs(run, imaginary=None, keep=slice(None)):
    phonopys = [d.phonopy for d in run.displacements][keep]
    imaginary = run.imaginary[keep] if imaginary is None else imaginary
    return QHAInputs(phonopys=phonopys, energies=run.grid.energies[keep],
                     imaginary=imaginary, reference_index=len(phonopys) // 2)


def test_curves_stop_where_the_minimum_leaves_the_sampled_volumes(emt_run):
    narrow = run_qha(_inputs(emt_run, keep=slice(1, 6)),
                     QHASettings(mesh=(9, 9, 9), t_max=2000.0, t_step=50.0))
    assert narrow.truncated and narrow.t_max_trusted < 2000.0
    assert narrow.equilibrium_volumes.max() <= narrow.volumes.max()
    assert len(narrow.temperatures) == len(narrow.bulk_modulus) == len(narrow.heat_capacity_p)
    assert narrow.phonopy_result.temperatures[-1] == narrow.t_max_trusted


def test_volumes_with_imaginary_modes_are_left_out(emt_run):
    flags = emt_run.imaginary.copy()
    flags[0] = True
    result = run_qha(_inputs(emt_run, flags), FAST_QHA)
    assert result.fitted.tolist() == (~flags).tolist()
    assert result.helmholtz_volume.shape[1] == (~flags).sum()
    flags[:3] = True
    flags[-1] = True
    with pytest.raises(QHAError, match="imaginary"):
        run_qha(_inputs(emt_run, flags), FAST_QHA)


FAST_CLI = ["--model", "emt", "--supercell", "2", "2", "2", "--fc-solver", "traditional",
            "--mesh", "7", "7", "7", "--band-npoints",
            "5", "--tmax", "300", "--tstep", "50", "--volumes", "5", "--no-progress"]


@pytest.fixture
def al_poscar(tmp_path):
    path = tmp_path / "POSCAR"
    write(path, bulk("Al", "fcc", a=4.05), format="vasp")
    return path


def test_qha_command_writes_outputs(tmp_path, al_poscar, capsys):
    out = tmp_path / "run"
    assert main(["qha", str(al_poscar), "--out", str(out), *FAST_CLI]) == 0
    printed = capsys.readouterr().out
    assert "300 K:" in printed and "Fm-3m (225)" in printed
    summary = json.loads((out / "summary.json").read_text())
    for name in summary["outputs"]:
        assert (out / name).stat().st_size > 0, name
    for name in ["qha.h5", "volume-temperature.dat", "thermal_expansion.dat",
                 "bulk_modulus-temperature.dat", "Cp-temperature.dat", "gruneisen.png",
                 "qha_energy_volume.png", "qha_thermodynamics.png", "phonopy_params-00.yaml"]:
        assert name in summary["outputs"]
    assert not list(out.glob(".*tmp"))
    assert summary["command"] == "qha" and summary["volumes"]["n_volumes"] == 5
    assert summary["volumes"]["fixed_volume_relaxation"].startswith("positions at fixed cubic")
    assert summary["qha"]["at_300K"]["linear_expansion_per_K"] > 0
    assert set(summary["timings_s"]) >= {"relax", "forces", "fc2", "fit", "gruneisen", "total"}
    volumes = np.loadtxt(out / "volume-temperature.dat")
    np.testing.assert_allclose(volumes[-1], [300.0, summary["qha"]["at_300K"]["volume_A3"]])
    assert main(["qha", str(al_poscar), "--out", str(out), *FAST_CLI]) == 0
    assert json.loads((out / "summary.json").read_text())["displacements"]["n_computed"] == 0


@pytest.mark.parametrize("bad", [
    ["--strain-range", "0"], ["--strain-range", "-0.05"], ["--strain-range", "0.3"],
    ["--strain-range", "0.5"], ["--volumes", "4"], ["--pressure", "nan"],
    ["--pressure", "inf"], ["--eos", "bogus"],
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, al_poscar, capsys, bad):
    out = tmp_path / "run"
    assert main(["qha", str(al_poscar), "--out", str(out), *FAST_CLI, *bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error" in err
    assert not out.exists()


def test_kappa_at_the_qha_volume(tmp_path, capsys):
    poscar = tmp_path / "POSCAR"
    write(poscar, bulk("Cu", "fcc", a=3.59), format="vasp")
    out = tmp_path / "kappa"
    assert main(["kappa", str(poscar), "--model", "emt", "--fc2-supercell", "2", "2", "2",
                 "--fc3-supercell", "3", "3", "3", "--fc-solver", "traditional", "--mesh", "5",
                 "5", "5", "--temperatures", "100", "300", "--temperature-volume",
                 "--out", str(out), "--no-progress"]) == 0
    assert "κ at the QHA volume V(T)" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "kappa_temperature_volume.png").stat().st_size > 0
    assert "kappa_temperature_volume.png" in summary["outputs"]
    entries = summary["temperature_volume"]["per_temperature"]
    assert [e["temperature_K"] for e in entries] == [100.0, 300.0]
    ratios = [e["volume_ratio"] for e in entries]
    assert 1.0 < ratios[0] < ratios[1] < 1.05  # zero-point and thermal expansion
    fixed = summary["kappa"]["kappa_trace_average"]
    for entry, kappa in zip(entries, fixed, strict=True):
        assert entry["kappa_trace_average_fixed_volume"] == pytest.approx(kappa)
        assert entry["kappa_trace_average"] > 0
    # the expanded lattice is more anharmonic: κ falls relative to the static volume's as T
    # (and V(T)) rises, and below it at 300 K (at 100 K, EMT Cu's softer modes raise κ 1.6%)
    changes = [e["relative_change"] for e in entries]
    assert changes[1] < changes[0]
    assert entries[1]["kappa_trace_average"] < fixed[1]
