"""The κSRME report of a run: per-compound table, leaderboard-style rows and metrics, timings.

Compute only (the files are written by :mod:`latdyn.benchmark.output`):

- :func:`table_rows`: one row per compound with scores, why it scored 2, symmetry change, FC3
  held-out residual, supercells, seconds per stage, cause and explanation
  (:mod:`latdyn.benchmark.explain`);
- :func:`leaderboard_rows`: per-compound κ under the column names of the published κSRME
  prediction files (k_SRME's ``calculate_conductivity`` and ``process_benchmark_descriptors``,
  as in Matbench Discovery's 103-compound files): ``mp_id``, ``kappa_TOT_RTA``,
  ``kappa_TOT_ave``, ``mode_kappa_TOT_ave``, ``weights``, ``q_points``, ``frequencies``,
  ``imaginary_freqs``, ``initial_space_group_number``, ``relaxed_space_group_number``,
  ``broken_symmetry``, ``errors``, ``SRD``, ``SRE``, ``SRME``, ``DFT_kappa_TOT_ave``,
  ``SRME_failed``;
- :func:`metrics_block`: the five numbers of the leaderboard's ``phonons: kappa_103`` block
  (``κ_SRME``, ``κ_SRE``, ``κ_SRD``, ``κ_failure_rate``, ``imaginary_mode_rate``), overall and
  per structure type;
- :func:`wall_times`: seconds in total, per compound and per stage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from latdyn.benchmark.explain import BAD_SRME, FC3_RESIDUAL_LIMIT, explain
from latdyn.benchmark.ksrme import BenchmarkMetrics, aggregate, aggregate_by_type
from latdyn.benchmark.reference import STRUCTURE_TYPES, ReferenceCompound
from latdyn.benchmark.run import BenchmarkResult

#: Stages of the κ workflow timed in every record, in order.
STAGES = ("relax", "displacements", "fc2_forces", "fc2", "harmonic_check", "fc3_forces", "fc3",
          "fc3_holdout", "kappa")

TABLE_COLUMNS = ("mp_id", "name", "space_group", "structure_type", "kappa_dft", "kappa_mlip",
                 "srd", "sre", "srme", "failed", "imaginary", "reason", "imaginary_mode",
                 "symmetry_changed", "space_group_final", "fc3_holdout_residual",
                 "n_fc2_supercells", "n_fc3_supercells", "status", "seconds",
                 *(f"seconds_{stage}" for stage in STAGES), "cause", "explanation")

#: Scalar columns of the leaderboard-style CSV (the JSON has every column).
LEADERBOARD_CSV_COLUMNS = ("mp_id", "name", "kappa_TOT_ave", "DFT_kappa_TOT_ave", "SRD", "SRE",
                           "SRME", "imaginary_freqs", "initial_space_group_number",
                           "relaxed_space_group_number", "broken_symmetry", "SRME_failed")


def _significant(value, digits: int = 4):
    """``value`` rounded to ``digits`` significant digits ("" for ``None``; NaN kept)."""
    if value is None or value == "":
        return ""
    value = float(value)
    return value if not np.isfinite(value) or value == 0 else float(f"{value:.{digits}g}")


def table_rows(result: BenchmarkResult, compounds: Sequence[ReferenceCompound],
               bad_srme: float = BAD_SRME, fc3_limit: float = FC3_RESIDUAL_LIMIT) -> list[dict]:
    """One row per compound (columns :data:`TABLE_COLUMNS`), values rounded for reading."""
    rows = []
    for compound, score in zip(compounds, result.scores, strict=True):
        record = result.records[compound.mp_id]
        prediction = record.get("prediction") or {}
        counts = prediction.get("n_supercells") or {}
        timings = prediction.get("timings_s") or {}
        why = explain(compound, record, score, bad_srme=bad_srme, fc3_limit=fc3_limit)
        row = {**asdict(score), "structure_type": compound.structure_type}
        row.update({key: _significant(row[key]) for key in ("kappa_dft", "kappa_mlip")})
        row.update({key: round(row[key], 4) for key in ("srd", "sre", "srme")})
        row.update(
            imaginary_mode=why.imaginary_mode,
            symmetry_changed=bool(prediction.get("symmetry_changed", False)),
            space_group_final=prediction.get("space_group_final", ""),
            fc3_holdout_residual=_significant(prediction.get("fc3_holdout_residual"), 3),
            n_fc2_supercells=counts.get("fc2", ""), n_fc3_supercells=counts.get("fc3", ""),
            status=record["status"], seconds=round(record["seconds"], 1),
            cause=why.cause, explanation=why.text,
            **{f"seconds_{stage}": round(timings[stage], 2) if stage in timings else ""
               for stage in STAGES})
        rows.append(row)
    return rows


def leaderboard_rows(result: BenchmarkResult,
                     compounds: Sequence[ReferenceCompound]) -> list[dict]:
    """One row per compound under the published column names (see the module docstring);
    κ at 300 K, in lists over the one temperature as the published files hold them."""
    rows = []
    for compound, score in zip(compounds, result.scores, strict=True):
        record = result.records[compound.mp_id]
        prediction = (record.get("prediction") or {}) if record["status"] == "ok" else {}
        has_kappa = prediction.get("kappa_tensor") is not None
        nan = float("nan")
        errors = [record["reason"]] if record.get("reason") else []
        rows.append({
            "mp_id": compound.mp_id,
            "name": compound.name,
            "kappa_TOT_RTA": [prediction["kappa_tensor"]] if has_kappa else nan,
            "kappa_TOT_ave": [score.kappa_mlip],
            "mode_kappa_TOT_ave": [prediction["mode_kappa"]]
            if prediction.get("mode_kappa") is not None else nan,
            "weights": prediction.get("weights") if has_kappa else nan,
            "q_points": prediction.get("qpoints") if has_kappa else nan,
            "frequencies": prediction.get("frequencies") if has_kappa else nan,
            "imaginary_freqs": bool(prediction.get("imaginary", False)),
            "initial_space_group_number": prediction.get("space_group_initial"),
            "relaxed_space_group_number": prediction.get("space_group_final"),
            "broken_symmetry": bool(prediction.get("symmetry_changed", False)),
            "errors": errors,
            "SRD": score.srd,
            "SRE": score.sre,
            "SRME": score.srme,
            "DFT_kappa_TOT_ave": score.kappa_dft,
            "SRME_failed": bool(score.reason),
        })
    return rows


def leaderboard_metrics(metrics: BenchmarkMetrics) -> dict:
    """The leaderboard's five κ numbers (``phonons: kappa_103`` of a model's YAML) and the
    number of compounds."""
    return {"κ_SRME": metrics.mean_srme, "κ_SRE": metrics.mean_sre, "κ_SRD": metrics.mean_srd,
            "κ_failure_rate": metrics.censored_rate,
            "imaginary_mode_rate": metrics.imaginary_rate,
            "n_compounds": metrics.n_compounds}


def metrics_block(result: BenchmarkResult, n_reference: int) -> dict:
    """Overall and per-structure-type leaderboard numbers, with how many of the
    ``n_reference`` compounds the run covers."""
    by_type = aggregate_by_type(list(result.scores), STRUCTURE_TYPES)
    return {
        "model": result.model,
        "symmetrization": result.symmetrization,
        "fc3": result.fc3,
        "n_compounds": len(result.scores),
        "n_reference": n_reference,
        "complete": len(result.scores) == n_reference,
        "phonons": {"kappa_103": leaderboard_metrics(aggregate(list(result.scores)))},
        "by_structure_type": {name: leaderboard_metrics(m) for name, m in by_type.items()},
    }


def wall_times(result: BenchmarkResult) -> dict:
    """Seconds: ``total`` (sum over compounds), ``mean_per_compound``, ``max_per_compound``
    (with its ``slowest`` mp_id) and ``per_stage`` sums over the records that timed them."""
    seconds = {mp_id: float(r["seconds"]) for mp_id, r in result.records.items()}
    per_stage = {stage: 0.0 for stage in STAGES}
    for record in result.records.values():
        for stage, value in ((record.get("prediction") or {}).get("timings_s") or {}).items():
            if stage in per_stage:
                per_stage[stage] += float(value)
    slowest = max(seconds, key=seconds.get) if seconds else ""
    return {"total": sum(seconds.values()),
            "mean_per_compound": float(np.mean(list(seconds.values()))) if seconds else 0.0,
            "max_per_compound": seconds.get(slowest, 0.0), "slowest": slowest,
            "per_stage": per_stage}


def badly_scored(rows: Sequence[dict]) -> list[dict]:
    """Rows with a cause, worst SRME first."""
    return sorted((r for r in rows if r["cause"]), key=lambda r: (-r["srme"], r["mp_id"]))


def _number(value, spec: str) -> str:
    return "" if value == "" or value is None else format(float(value), spec)


def markdown_report(rows: Sequence[dict], metrics: dict, times: dict, label: str,
                    bad_srme: float = BAD_SRME, fc3_limit: float = FC3_RESIDUAL_LIMIT) -> str:
    """The report as Markdown: scores overall and per structure type, wall time, one line per
    badly scored compound, then every compound."""
    overall = metrics["phonons"]["kappa_103"]
    lines = [f"# κSRME benchmark: {label}", "",
             f"{metrics['n_compounds']} of {metrics['n_reference']} compounds"
             + ("" if metrics["complete"] else " (incomplete run: means over these only)")
             + ".", "",
             "| set | n | κ_SRME | κ_SRE | κ_SRD | κ_failure_rate | imaginary_mode_rate |",
             "|---|---|---|---|---|---|---|"]
    for name, block in [("all", overall), *metrics["by_structure_type"].items()]:
        lines.append(f"| {name} | {block['n_compounds']} | {block['κ_SRME']:.4f} | "
                     f"{block['κ_SRE']:.4f} | {block['κ_SRD']:+.4f} | "
                     f"{block['κ_failure_rate']:.3f} | {block['imaginary_mode_rate']:.3f} |")
    stages = ", ".join(f"{stage} {value:.0f} s" for stage, value in times["per_stage"].items()
                       if value > 0)
    lines += ["", f"Wall time: {times['total']:.0f} s in total ({times['total'] / 3600:.2f} h), "
              f"{times['mean_per_compound']:.1f} s per compound on average, at most "
              f"{times['max_per_compound']:.1f} s ({times['slowest']}). By stage: {stages}.", "",
              f"## Badly scored compounds (SRME >= {bad_srme:g}, scored 2, or FC3 held-out "
              f"residual > {fc3_limit:.0%})", ""]
    worst = badly_scored(rows)
    causes = Counter(r["cause"] for r in worst)
    if causes:
        lines += ["Causes: " + ", ".join(f"{cause} {n}" for cause, n in causes.most_common())
                  + ".", ""]
    censored = [f"{r['name']} ({r['mp_id']})" for r in worst if r["reason"]]
    if censored:
        lines += [f"Scored 2 ({len(censored)}): {', '.join(censored)}.", ""]
    lines += [f"- {r['name']} ({r['mp_id']}, {r['structure_type']}): SRME {r['srme']:.3f}, "
              f"{r['cause']}: {r['explanation']}" for r in worst] or ["none"]
    lines += ["", "## Every compound", "",
              "| mp_id | name | type | κ_DFT | κ_MLIP | SRD | SRME | FC3 residual | s | cause |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['mp_id']} | {r['name']} | {r['structure_type']} | "
              f"{_number(r['kappa_dft'], '.4g')} | {_number(r['kappa_mlip'], '.4g')} | "
              f"{r['srd']:+.3f} | {r['srme']:.3f} | "
              f"{_number(r['fc3_holdout_residual'], '.2%')} | {r['seconds']:.0f} | "
              f"{r['cause']} |" for r in rows]
    return "\n".join(lines) + "\n"
