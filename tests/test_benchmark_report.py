"""κSRME benchmark beyond one loop: shards and merge, Dask, explanations, leaderboard files.

Synthetic records stand in for the κ workflow: the DFT reference itself as the prediction
(``reference_prediction`` of test_benchmark.py, which fails MgO), altered where a test needs a
bad score of a known cause.
"""

from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import EXCERPTS
from test_benchmark import FAILING, IDS, must_not_run, reference_prediction

from latdyn.benchmark import load_reference, select_compounds
from latdyn.benchmark.explain import FC3_RESIDUAL_LIMIT, explain, mode_error_split
from latdyn.benchmark.ksrme import aggregate_by_type
from latdyn.benchmark.output import ReportSettings, write_benchmark
from latdyn.benchmark.reference import STRUCTURE_TYPES
from latdyn.benchmark.report import leaderboard_rows, metrics_block, table_rows, wall_times
from latdyn.benchmark.run import (
    BenchmarkSettings,
    load_benchmark,
    merge_records,
    parse_shard,
    read_records,
    run_benchmark,
    shard_compounds,
)
from latdyn.cli.main import main
from latdyn.errors import InputError

FAKE = BenchmarkSettings(model="fake")


@pytest.fixture(scope="module")
def compounds():
    return select_compounds(load_reference(EXCERPTS), IDS)


@pytest.fixture(scope="module")
def reference():
    return load_reference(EXCERPTS)


def _content(records: dict) -> dict:
    """Records without their timings (which differ between any two runs)."""
    return {k: {f: v for f, v in r.items() if f != "seconds"} for k, r in records.items()}


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/3", "4/3", "1", "a/b", "1/0", "-1/2"):
        with pytest.raises(InputError, match="--shard takes I/N"):
            parse_shard(bad)


def test_shards_cover_the_set_and_merge_into_a_single_run(compounds, tmp_path):
    shards = [shard_compounds(compounds, i, 3) for i in (1, 2, 3)]
    ids = [c.mp_id for shard in shards for c in shard]
    assert sorted(ids) == sorted(IDS) and len(set(ids)) == len(IDS)
    assert [c.mp_id for c in shards[0]] == [IDS[0], IDS[3]]
    for k, shard in enumerate(shards):
        run_benchmark(shard, tmp_path / f"shard{k}" / "records", FAKE,
                      runner=reference_prediction)
    run_benchmark(compounds, tmp_path / "single" / "records", FAKE, runner=reference_prediction)
    merged = merge_records([tmp_path / f"shard{k}" for k in range(3)], tmp_path / "all")
    assert (merged.n_records, merged.n_copied, merged.duplicates) == (4, 4, ())
    assert merged.label == "fake"
    assert _content(read_records(tmp_path / "all")) == _content(
        read_records(tmp_path / "single" / "records"))
    # the merged set resumes as a single run would: nothing is recomputed
    assert run_benchmark(compounds, tmp_path / "all", FAKE, runner=must_not_run).n_reused == 4


def test_merge_keeps_the_successful_record_and_refuses_mixed_runs(compounds, tmp_path):
    run_benchmark(compounds[:3], tmp_path / "a", FAKE, runner=reference_prediction)
    fixed = {**reference_prediction(compounds[0].atoms, FAKE)}

    def mgo_works(atoms, settings):
        if atoms.info["mp_id"] == FAILING:
            return fixed
        return reference_prediction(atoms, settings)

    run_benchmark([c for c in compounds if c.mp_id == FAILING], tmp_path / "b", FAKE,
                  runner=mgo_works)
    merged = merge_records([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    assert merged.duplicates == (FAILING,)
    assert read_records(tmp_path / "out")[FAILING]["status"] == "ok"
    run_benchmark(compounds[:1], tmp_path / "other", BenchmarkSettings(model="other"),
                  runner=reference_prediction)
    with pytest.raises(InputError, match="records of 2 runs"):
        merge_records([tmp_path / "a", tmp_path / "other"], tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()
    # nor into a folder that holds another run's records
    with pytest.raises(InputError, match="other"):
        merge_records([tmp_path / "other"], tmp_path / "out")
    with pytest.raises(InputError, match="not a folder"):
        merge_records([tmp_path / "none"], tmp_path / "out2")


def test_dask_scheduler_gives_the_records_of_a_local_run(compounds, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        settings = BenchmarkSettings(model="fake", scheduler=cluster.scheduler_address)
        on_dask = run_benchmark(compounds, tmp_path / "dask", settings,
                                runner=reference_prediction)
    local = run_benchmark(compounds, tmp_path / "local", FAKE, runner=reference_prediction)
    assert on_dask.n_computed == 4
    assert [s.srme for s in on_dask.scores] == [s.srme for s in local.scores]
    assert _content(read_records(tmp_path / "dask")) == _content(read_records(tmp_path / "local"))


def _scored(compounds, tmp_path, runner):
    run_benchmark(compounds, tmp_path / "records", FAKE, runner=runner)
    return load_benchmark(compounds, tmp_path / "records")


def test_explanations_name_the_cause(compounds, tmp_path):
    """Imaginary modes (where), symmetry change, FC3 residual, a κ off in its low-frequency
    modes, a failure, and a good compound."""
    by_id = {c.mp_id: c for c in compounds}

    def bad_in_many_ways(atoms, settings):
        mp_id = atoms.info["mp_id"]
        prediction = reference_prediction(atoms, settings)
        if mp_id == "mp-2472":  # SrO: imaginary modes
            prediction.update(kappa=float("nan"), mode_kappa=None, imaginary=True,
                              lowest_mode={"qpoint": [0.5, 0.0, 0.25], "frequency": -0.8},
                              gate_reasons=["imaginary modes at 3 q-points"])
        elif mp_id == "mp-1541":  # BeSe: the lowest third of the modes at 30 %
            compound = by_id[mp_id]
            low = compound.frequencies < compound.frequencies.max() / 3
            mode = np.where(low, 0.3, 1.0) * compound.mode_kappa[0]
            prediction.update(kappa=float(mode.sum() / compound.weights.sum()),
                              mode_kappa=mode.tolist(), fc3_holdout_residual=0.004)
        elif mp_id == "mp-2542":  # BeO: space group changed
            prediction.update(symmetry_changed=True, space_group_initial=186,
                              space_group_final=156)
        return prediction

    result, present = _scored(compounds, tmp_path, bad_in_many_ways)
    rows = {r["mp_id"]: r for r in table_rows(result, present)}
    assert rows["mp-2472"]["cause"] == "imaginary"
    assert "-0.800 THz at q=(0.500, 0.000, 0.250)" in rows["mp-2472"]["explanation"]
    assert rows["mp-2472"]["imaginary_mode"].startswith("-0.800 THz")
    assert rows["mp-2542"]["cause"] == "symmetry" and "186 -> 156" in rows["mp-2542"][
        "explanation"]
    assert rows["mp-2542"]["symmetry_changed"] is True
    assert rows[FAILING]["cause"] == "failed" and "imaginary trouble" in rows[FAILING][
        "explanation"]
    bese = rows["mp-1541"]
    assert bese["cause"] == "kappa" and bese["fc3_holdout_residual"] == 0.004
    score = next(s for s in result.scores if s.mp_id == "mp-1541")
    split = mode_error_split(by_id["mp-1541"], result.records["mp-1541"]["prediction"], score)
    assert sum(r.srme for r in split) == pytest.approx(score.srme)
    assert split[0].srme == pytest.approx(score.srme) and split[0].kappa_mlip < split[0].kappa_dft
    assert f"most in {split[0].low:.1f}-{split[0].high:.1f} THz" in bese["explanation"]
    assert "moved between modes" not in bese["explanation"]  # lost, not moved
    # the same κ with a large held-out residual: the FC3 is blamed first
    record = {**result.records["mp-1541"]}
    record["prediction"] = {**record["prediction"], "fc3_holdout_residual": 0.08}
    flagged = explain(by_id["mp-1541"], record, score)
    assert flagged.cause == "fc3" and "8.0%" in flagged.text
    assert FC3_RESIDUAL_LIMIT == 0.05
    # a bad-SRME threshold above the score: explained, but not listed as bad
    assert explain(by_id["mp-1541"], result.records["mp-1541"], score,
                   bad_srme=score.srme + 0.1).cause == ""


def test_scores_per_structure_type_and_leaderboard_numbers(compounds, tmp_path, reference):
    result, present = _scored(compounds, tmp_path, reference_prediction)
    by_type = aggregate_by_type(list(result.scores), STRUCTURE_TYPES)
    assert list(by_type) == ["rocksalt", "zincblende", "wurtzite"]
    assert by_type["rocksalt"].n_compounds == 2 and by_type["rocksalt"].mean_srme == 1.0
    assert by_type["wurtzite"].mean_srme == 0.0
    block = metrics_block(result, len(reference))
    numbers = block["phonons"]["kappa_103"]
    assert numbers == {"κ_SRME": 0.5, "κ_SRE": 0.5, "κ_SRD": -0.5, "κ_failure_rate": 0.25,
                       "imaginary_mode_rate": 0.0, "n_compounds": 4}
    assert block["n_reference"] == 7 and not block["complete"]
    assert block["by_structure_type"]["zincblende"]["κ_SRME"] == 0.0


def test_wall_times_sum_the_records(compounds, tmp_path):
    def timed(atoms, settings):
        return {**reference_prediction(atoms, settings),
                "timings_s": {"relax": 1.0, "kappa": 2.5, "load_model": 0.1}}

    result, _ = _scored([c for c in compounds if c.mp_id != FAILING], tmp_path, timed)
    times = wall_times(result)
    assert times["per_stage"]["relax"] == 3.0 and times["per_stage"]["kappa"] == 7.5
    assert times["total"] == pytest.approx(sum(r["seconds"] for r in result.records.values()))
    assert times["slowest"] in result.records


def test_leaderboard_files_use_the_published_names(compounds, tmp_path, reference):
    import pandas as pd

    result, present = _scored(compounds, tmp_path, reference_prediction)
    out = tmp_path / "out"
    write_benchmark(result, present, out, {}, report=ReportSettings(n_reference=len(reference)))
    frame = pd.read_json(out / "kappa_predictions.json.gz")
    for column in ("mp_id", "kappa_TOT_RTA", "kappa_TOT_ave", "mode_kappa_TOT_ave", "weights",
                   "q_points", "imaginary_freqs", "relaxed_space_group_number", "SRD", "SRE",
                   "SRME", "DFT_kappa_TOT_ave", "SRME_failed"):
        assert column in frame.columns, column
    assert sorted(frame.index) == sorted(IDS)
    assert frame.loc[FAILING, "SRME"] == 2.0 and frame.loc[FAILING, "SRME_failed"]
    sro = next(c for c in present if c.mp_id == "mp-2472")
    np.testing.assert_allclose(np.array(frame.loc["mp-2472", "mode_kappa_TOT_ave"])[0],
                               sro.mode_kappa[0])
    assert frame.loc["mp-2472", "kappa_TOT_ave"] == [pytest.approx(sro.kappa[0])]
    with open(out / "kappa_predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["mp_id"] for r in rows} == set(IDS) and "DFT_kappa_TOT_ave" in rows[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["phonons"]["kappa_103"]["κ_SRME"] == 0.5
    assert metrics["wall_time_s"]["total"] == pytest.approx(
        sum(r["seconds"] for r in result.records.values()))
    report = (out / "report.md").read_text()
    assert "| rocksalt | 2 | 1.0000 |" in report
    assert f"MgO ({FAILING}, rocksalt): SRME 2.000, failed" in report
    assert "Causes: failed 1." in report and f"Scored 2 (1): MgO ({FAILING})." in report
    for name in ("srme_cumulative.png", "srme_cumulative.pdf", "ksrme.csv"):
        assert (out / name).stat().st_size > 0
    rows = leaderboard_rows(result, present)
    assert [r["mp_id"] for r in rows] == [c.mp_id for c in present]


def test_cli_shard_merge_report_and_compare(compounds, tmp_path, capsys):
    """Shards through the CLI (records already there: nothing computed), their merge with the
    report, and a report of the merged run overlaid on another."""
    for k in (1, 2):
        run_benchmark(shard_compounds(compounds, k, 2), tmp_path / f"s{k}" / "records", FAKE,
                      runner=reference_prediction)
    common = ["--data-dir", str(EXCERPTS)]
    kappa = ["benchmark", "kappa", "--materials", ",".join(IDS), "--model", "fake",
             "--no-progress", *common]
    assert main([*kappa, "--shard", "2/2", "--out", str(tmp_path / "s2")]) == 0
    summary = json.loads((tmp_path / "s2" / "summary.json").read_text())
    assert summary["inputs"]["materials"] == [IDS[1], IDS[3]] and summary["n_computed"] == 0
    assert main(["benchmark", "merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out",
                 str(tmp_path / "all"), *common]) == 0
    printed = capsys.readouterr().out
    assert "4 records of fake merged" in printed and "κ_SRME 0.5000" in printed
    merged = json.loads((tmp_path / "all" / "summary.json").read_text())
    assert merged["command"] == "benchmark merge" and len(merged["compounds"]) == 4
    assert main(["benchmark", "report", str(tmp_path / "all"), "--compare-with",
                 str(tmp_path / "s1"), "--out", str(tmp_path / "report"), *common]) == 0
    assert (tmp_path / "report" / "compare.png").stat().st_size > 0
    assert not (tmp_path / "report" / "records").exists()
    capsys.readouterr()
    assert main([*kappa, "--shard", "3/2", "--out", str(tmp_path / "bad")]) == 2
    error = capsys.readouterr().err
    assert "--shard takes I/N" in error and len(error.strip().splitlines()) == 1
    run_benchmark(compounds[:1], tmp_path / "other" / "records", BenchmarkSettings(model="x"),
                  runner=reference_prediction)
    assert main(["benchmark", "merge", str(tmp_path / "s1"), str(tmp_path / "other"), "--out",
                 str(tmp_path / "mixed"), *common]) == 2
    error = capsys.readouterr().err
    assert "records of 2 runs" in error and len(error.strip().splitlines()) == 1
    assert main(["benchmark", "report", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "r2"), *common]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_ksrme_runner_records_the_lowest_mode(compounds, monkeypatch):
    """The runner stores the lowest harmonic frequency on the κ mesh and its q-point."""
    from latdyn.benchmark.run import ksrme_runner
    from latdyn.kappa.gate import GridFrequencies

    frequencies = np.array([[0.0, 0.0, 0.0, 5.0], [1.0, 1.2, 3.0, 6.0], [-0.7, 0.9, 2.0, 5.5]])
    qpoints = np.array([[0.0, 0.0, 0.0], [0.25, 0.0, 0.0], [0.5, 0.5, 0.0]])
    symmetry = SimpleNamespace(number=225)
    fake = SimpleNamespace(
        structure=SimpleNamespace(input_symmetry=symmetry, symmetry=symmetry),
        harmonic=GridFrequencies(frequencies=frequencies, qpoints=qpoints, gamma_index=0,
                                 mesh=np.array([2, 2, 2])),
        gate=SimpleNamespace(reasons=("imaginary modes",), imaginary=True), n_fc2_supercells=1,
        n_fc3_supercells=0, displacements=SimpleNamespace(fc2_supercell=[0] * 8,
                                                          fc3_supercell=[0] * 8),
        fc2_forces=SimpleNamespace(n_computed=1), n_fc3_computed=0, timings={"relax": 1.0},
        settings=SimpleNamespace(kappa=SimpleNamespace(linewidth_kernel="latdyn")), kappa=None, symmetrization={},
        fc3_holdout=None)
    monkeypatch.setattr("latdyn.workflows.kappa.run_kappa_workflow",
                        lambda atoms, settings, model=None: fake)
    monkeypatch.setattr("latdyn.benchmark.run._loaded_model", lambda name, device: None)
    prediction = ksrme_runner(compounds[0].atoms, BenchmarkSettings(model="emt"))
    assert prediction["lowest_mode"] == {"qpoint": [0.5, 0.5, 0.0], "frequency": -0.7}
    assert prediction["imaginary"] and np.isnan(prediction["kappa"])


def test_error_split_says_when_kappa_moved_between_modes():
    from latdyn.benchmark.explain import FrequencyRange, _split_text

    moved = (FrequencyRange(0.0, 2.0, 0.6, 1.0, 0.95), FrequencyRange(2.0, 4.0, 0.1, 0.5, 0.5))
    assert "(κ moved between modes" in _split_text(moved, total=3.0)
    lost = (FrequencyRange(0.0, 2.0, 0.6, 1.0, 0.2), FrequencyRange(2.0, 4.0, 0.1, 0.5, 0.5))
    assert "moved" not in _split_text(lost, total=2.2)
