"""The κSRME benchmark loop: resume, retries, failures, the process pool, outputs, the CLI.

A fast runner stands in for the κ workflow (the loop takes the runner as an argument): it
returns the DFT reference itself as the prediction, so finished compounds score 0.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import EXCERPTS

from latdyn.benchmark import load_reference, select_compounds
from latdyn.benchmark.output import write_benchmark
from latdyn.benchmark.run import BenchmarkSettings, read_record, record_path, run_benchmark
from latdyn.cli.main import main
from latdyn.errors import InputError

FAILING = "mp-1265"  # MgO: the fake runner raises for it
IDS = ["mp-2472", "mp-1541", FAILING, "mp-2542"]  # SrO (225), BeSe (216), MgO, BeO (186)

_REFERENCE = {}


def reference_prediction(atoms, settings) -> dict:
    """Fake runner: the DFT reference as the prediction; fails for :data:`FAILING`."""
    mp_id = atoms.info["mp_id"]
    if mp_id == FAILING:
        raise RuntimeError("imaginary trouble")
    if not _REFERENCE:
        _REFERENCE.update({c.mp_id: c for c in load_reference(EXCERPTS)})
    compound = _REFERENCE[mp_id]
    return {"kappa": float(compound.kappa[0]), "mode_kappa": compound.mode_kappa[0].tolist(),
            "weights": compound.weights.tolist(), "qpoints": compound.qpoints.tolist(),
            "frequencies": compound.frequencies.tolist(), "imaginary": False,
            "symmetry_changed": False, "n_supercells": {"fc2": 1, "fc3": 2}}


def must_not_run(atoms, settings) -> dict:
    raise AssertionError(f"{atoms.info['mp_id']} was recomputed")


@pytest.fixture(scope="module")
def compounds():
    return select_compounds(load_reference(EXCERPTS), IDS)


def test_scores_failures_and_records(compounds, tmp_path):
    records = tmp_path / "records"
    result = run_benchmark(compounds, records, BenchmarkSettings(model="fake"),
                           runner=reference_prediction)
    by_id = {s.mp_id: s for s in result.scores}
    assert by_id[FAILING].srme == 2.0 and by_id[FAILING].failed
    assert "imaginary trouble" in by_id[FAILING].reason
    for mp_id in set(IDS) - {FAILING}:
        assert by_id[mp_id].srme == 0.0 and by_id[mp_id].sre == 0.0
    assert result.metrics.mean_srme == pytest.approx(0.5)
    assert result.metrics.failure_rate == pytest.approx(0.25)
    assert result.n_computed == 4 and result.n_reused == 0
    record = read_record(records, FAILING)
    assert record["status"] == "failed" and record["seconds"] >= 0
    assert read_record(records, "mp-2472")["prediction"]["n_supercells"] == {"fc2": 1, "fc3": 2}
    assert not list(records.glob(".*.tmp"))


def test_resume_skips_finished_compounds(compounds, tmp_path):
    records = tmp_path / "records"
    settings = BenchmarkSettings(model="fake")
    run_benchmark(compounds[:2], records, settings, runner=reference_prediction)
    before = record_path(records, compounds[0].mp_id).stat().st_mtime_ns
    again = run_benchmark(compounds[:2], records, settings, runner=must_not_run)
    assert again.n_computed == 0 and again.n_reused == 2
    assert record_path(records, compounds[0].mp_id).stat().st_mtime_ns == before
    # the failed compound is reused too, and rerun only with retry_failed
    run_benchmark(compounds, records, settings, runner=reference_prediction)
    assert run_benchmark(compounds, records, settings, runner=must_not_run).n_computed == 0
    calls = []

    def counting(atoms, settings):
        calls.append(atoms.info["mp_id"])
        return reference_prediction(atoms, settings)

    retried = run_benchmark(compounds, records, BenchmarkSettings(model="fake",
                                                                  retry_failed=True),
                            runner=counting)
    assert calls == [FAILING] and retried.n_computed == 1


def test_unreadable_record_is_recomputed(compounds, tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    record_path(records, compounds[0].mp_id).write_text("{truncated")
    result = run_benchmark(compounds[:1], records, BenchmarkSettings(model="fake"),
                           runner=reference_prediction)
    assert result.n_computed == 1 and result.scores[0].srme == 0.0


def test_records_of_another_model_are_refused(compounds, tmp_path):
    records = tmp_path / "records"
    run_benchmark(compounds[:1], records, BenchmarkSettings(model="fake"),
                  runner=reference_prediction)
    with pytest.raises(InputError, match="fake"):
        run_benchmark(compounds[:1], records, BenchmarkSettings(model="other"),
                      runner=must_not_run)


def test_records_of_another_symmetrization_are_refused(compounds, tmp_path):
    records = tmp_path / "records"
    o3 = BenchmarkSettings(model="fake", symmetrize="o3")
    run_benchmark(compounds[:1], records, o3, runner=reference_prediction)
    assert read_record(records, compounds[0].mp_id)["symmetrization"] == {
        "symmetrize": "o3", "rotations": 3, "inversion": True}
    # the default order spelled out is the same run
    same = BenchmarkSettings(model="fake", symmetrize="o3", rotations=3)
    assert run_benchmark(compounds[:1], records, same, runner=must_not_run).n_reused == 1
    for other in (BenchmarkSettings(model="fake"),
                  BenchmarkSettings(model="fake", symmetrize="o3", rotations=5),
                  BenchmarkSettings(model="fake", symmetrize="full")):
        with pytest.raises(InputError, match="symmetrize=o3"):
            run_benchmark(compounds[:1], records, other, runner=must_not_run)


def test_records_without_symmetrization_are_unsymmetrized(compounds, tmp_path):
    """Records written before the symmetrization was recorded resume a plain run only."""
    records = tmp_path / "records"
    run_benchmark(compounds[:1], records, BenchmarkSettings(model="fake"),
                  runner=reference_prediction)
    path = record_path(records, compounds[0].mp_id)
    old = json.loads(path.read_text())
    del old["symmetrization"]
    path.write_text(json.dumps(old))
    assert run_benchmark(compounds[:1], records, BenchmarkSettings(model="fake"),
                         runner=must_not_run).n_reused == 1
    with pytest.raises(InputError, match="another --out"):
        run_benchmark(compounds[:1], records,
                      BenchmarkSettings(model="fake", symmetrize="spacegroup"),
                      runner=must_not_run)


def kappa_settings_of(atoms, settings: BenchmarkSettings, monkeypatch):
    """The κ settings ``ksrme_runner`` passes to the workflow (stopped before any force)."""
    from latdyn.benchmark.run import ksrme_runner

    seen = {}

    def stop(atoms, settings, model=None):
        seen["settings"] = settings
        raise RuntimeError("stopped before any force")

    monkeypatch.setattr("latdyn.workflows.kappa.run_kappa_workflow", stop)
    with pytest.raises(RuntimeError, match="stopped"):
        ksrme_runner(atoms, settings)
    return seen["settings"]


def test_ksrme_runner_passes_the_symmetrization(compounds, monkeypatch):
    chosen = kappa_settings_of(
        compounds[0].atoms, BenchmarkSettings(model="emt", symmetrize="full", rotations=5),
        monkeypatch)
    assert (chosen.model.symmetrize, chosen.model.rotations) == ("full", 5)
    assert chosen.protocol == "ksrme"


def test_cli_symmetrize_resumes_and_is_recorded(compounds, tmp_path, capsys):
    """A finished set resumes through the CLI only with the same symmetrization."""
    out = tmp_path / "out"
    run_benchmark(compounds, out / "records", BenchmarkSettings(model="fake",
                                                                symmetrize="spacegroup"),
                  runner=reference_prediction)
    args = ["benchmark", "kappa", "--materials", ",".join(IDS), "--data-dir", str(EXCERPTS),
            "--model", "fake", "--out", str(out), "--no-progress"]
    assert main([*args, "--symmetrize", "spacegroup"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symmetrization"] == {"symmetrize": "spacegroup", "symprec": 1e-5}
    assert summary["n_reused"] == len(IDS) and summary["n_computed"] == 0
    capsys.readouterr()
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "symmetrize=spacegroup" in error and len(error.strip().splitlines()) == 1
    assert main([*args, "--rotations", "3", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_qpoint_mismatch_scores_two(compounds, tmp_path):
    def shifted(atoms, settings):
        prediction = reference_prediction(atoms, settings)
        prediction["qpoints"] = (np.array(prediction["qpoints"]) + 0.01).tolist()
        return prediction

    result = run_benchmark(compounds[:1], tmp_path / "records", BenchmarkSettings(model="fake"),
                           runner=shifted)
    assert result.scores[0].srme == 2.0 and "q-points" in result.scores[0].reason


def test_process_pool(compounds, tmp_path):
    result = run_benchmark(compounds, tmp_path / "records",
                           BenchmarkSettings(model="fake", workers=2),
                           runner=reference_prediction)
    assert [s.mp_id for s in result.scores] == [c.mp_id for c in compounds]
    assert sorted(s.srme for s in result.scores) == [0.0, 0.0, 0.0, 2.0]


def test_outputs(compounds, tmp_path):
    result = run_benchmark(compounds, tmp_path / "records", BenchmarkSettings(model="fake"),
                           runner=reference_prediction)
    out = tmp_path / "out"
    summary = write_benchmark(result, compounds, out, {"materials": IDS},
                              mode_plots=["mp-2472", FAILING])
    with open(out / "ksrme.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["mp_id"] for r in rows] == IDS
    assert {r["structure_type"] for r in rows} == {"rocksalt", "zincblende", "wurtzite"}
    for name in ("parity.png", "parity.pdf", "srme_histogram.png", "mode_kappa_mp-2472.pdf",
                 f"mode_kappa_{FAILING}.png", "summary.json"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["metrics"] == summary["metrics"]


def test_cli_unknown_material(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["benchmark", "kappa", "--materials", "Unobtainium", "--data-dir",
                 str(EXCERPTS), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown κSRME compound" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_missing_data_dir(tmp_path, capsys):
    code = main(["benchmark", "kappa", "--subset", "1", "--data-dir", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out")])
    assert code == 2
    assert "latdyn data fetch" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_fc3_options_reach_the_runs_and_keep_records_apart(compounds, tmp_path, monkeypatch):
    """Random FC3 is passed to every compound and recorded; records of the protocol's FC3
    and of another FC3 choice are not mixed."""
    fast = BenchmarkSettings(model="fake", fc3_method="random", fc3_plus_minus=True,
                             fc3_convergence=0.01)
    assert fast.fc3() == {"fc3_method": "random", "fc3_plus_minus": True,
                          "fc3_convergence": 0.01}
    assert BenchmarkSettings(model="fake").fc3() == {}
    chosen = kappa_settings_of(
        compounds[0].atoms, BenchmarkSettings(model="emt", fc3_method="random",
                                              fc3_plus_minus=True, fc3_convergence=0.02),
        monkeypatch)
    assert (chosen.protocol, chosen.fc3.method, chosen.fc3.plus_minus,
            chosen.fc3.convergence, chosen.fc_solver) == ("ksrme", "random", True, 0.02, "auto")

    records = tmp_path / "records"
    run_benchmark(compounds[:1], records, fast, runner=reference_prediction)
    assert read_record(records, compounds[0].mp_id)["fc3"] == fast.fc3()
    assert run_benchmark(compounds[:1], records, fast, runner=must_not_run).n_reused == 1
    for other in (BenchmarkSettings(model="fake"),
                  BenchmarkSettings(model="fake", fc3_method="random")):
        with pytest.raises(InputError, match="fc3_convergence=0.01"):
            run_benchmark(compounds[:1], records, other, runner=must_not_run)
    with pytest.raises(InputError, match="needs random displacements"):
        BenchmarkSettings(fc3_convergence=0.01)
    with pytest.raises(InputError, match="need random displacements"):
        BenchmarkSettings(fc3_plus_minus=True)


def test_fc3_holdout_reaches_the_runs_and_shares_records(compounds, tmp_path, monkeypatch):
    """The held-out check is passed to every compound; it does not change κ, so records
    with and without it are reused alike."""
    chosen = kappa_settings_of(compounds[0].atoms, BenchmarkSettings(model="emt", fc3_holdout=3),
                               monkeypatch)
    assert (chosen.fc3.holdout, chosen.fc3.method, chosen.protocol) == (3, "fd", "ksrme")
    records = tmp_path / "records"
    run_benchmark(compounds[:1], records, BenchmarkSettings(model="fake", fc3_holdout=3),
                  runner=reference_prediction)
    assert run_benchmark(compounds[:1], records, BenchmarkSettings(model="fake"),
                         runner=must_not_run).n_reused == 1
    with pytest.raises(InputError, match="held-out check needs >= 0"):
        BenchmarkSettings(fc3_holdout=-1)


def test_cli_fc3_options_are_recorded(compounds, tmp_path, capsys):
    out = tmp_path / "out"
    fast = BenchmarkSettings(model="fake", fc3_method="random", fc3_plus_minus=True)
    run_benchmark(compounds, out / "records", fast, runner=reference_prediction)
    args = ["benchmark", "kappa", "--materials", ",".join(IDS), "--data-dir", str(EXCERPTS),
            "--model", "fake", "--out", str(out), "--no-progress"]
    assert main([*args, "--fc3-method", "random", "--fc3-plus-minus"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fc3"] == {"fc3_method": "random", "fc3_plus_minus": True}
    assert "fc3_method=random" in capsys.readouterr().out
    assert main(args) == 2  # the protocol's FC3 does not resume random-FC3 records
    error = capsys.readouterr().err
    assert "fc3_method=random" in error and len(error.strip().splitlines()) == 1
