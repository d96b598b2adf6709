"""Write a κSRME benchmark run: tables, leaderboard-style files, report, figures, summary.

Files (in the output folder):

- ``ksrme.csv``: the per-compound table (:data:`latdyn.benchmark.report.TABLE_COLUMNS`);
- ``kappa_predictions.json.gz`` (pandas column-oriented JSON, indexed by mp_id, as the published
  prediction files) and ``kappa_predictions.csv`` (its scalar columns): per-compound κ under
  the published column names;
- ``metrics.json``: the leaderboard's five numbers overall and per structure type, and the
  wall times;
- ``report.md``: scores, wall time and one line per badly scored compound;
- figures (PNG and PDF): ``parity``, ``srme_histogram``, ``srme_cumulative``,
  ``mode_kappa_<mp_id>``, and ``compare`` with a second run;
- ``summary.json`` (last).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from latdyn.benchmark.explain import BAD_SRME, FC3_RESIDUAL_LIMIT
from latdyn.benchmark.plot import (
    plot_cumulative_srme,
    plot_mode_kappa,
    plot_parity,
    plot_run_overlay,
    plot_srme_histogram,
)
from latdyn.benchmark.reference import ReferenceCompound
from latdyn.benchmark.report import (
    LEADERBOARD_CSV_COLUMNS,
    TABLE_COLUMNS,
    leaderboard_rows,
    markdown_report,
    metrics_block,
    table_rows,
    wall_times,
)
from latdyn.benchmark.run import BenchmarkResult
from latdyn.files import atomic_open, staged_output, write_json
from latdyn.provenance import package_versions, run_record


@dataclass(frozen=True)
class ReportSettings:
    """What the report calls bad, and how many compounds the full set has.

    Attributes
    ----------
    bad_srme
        SRME from which an uncensored compound is explained as badly scored.
    fc3_limit
        Held-out FC3 force residual above which a κ is flagged.
    n_reference
        Compounds of the whole set (``None``: those of the run).
    """

    bad_srme: float = BAD_SRME
    fc3_limit: float = FC3_RESIDUAL_LIMIT
    n_reference: int | None = None


def write_table(rows: list[dict], path: str | Path,
                columns: Sequence[str] = TABLE_COLUMNS) -> Path:
    """``rows`` as CSV with ``columns`` (written atomically)."""
    path = Path(path)
    with atomic_open(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_leaderboard_json(rows: list[dict], path: str | Path) -> Path:
    """``rows`` (:func:`~latdyn.benchmark.report.leaderboard_rows`) as gzipped pandas JSON,
    column-oriented and indexed by mp_id (``pandas.read_json`` reads it back)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.index = list(frame["mp_id"])
    path = Path(path)
    frame.to_json(path, compression="gzip")
    return path


def write_benchmark(
    result: BenchmarkResult,
    compounds: Sequence[ReferenceCompound],
    out_dir: str | Path,
    inputs: dict,
    mode_plots: Sequence[str] = (),
    compare: tuple[str, BenchmarkResult] | None = None,
    report: ReportSettings = ReportSettings(),
    command: str = "benchmark kappa",
    name: str | None = None,
) -> dict:
    """Write the files of the module docstring; ``compare``: a second run (its name and
    result) for the ``compare`` figure and the cumulative SRME, where this run is called
    ``name`` (default: its model and settings). Returns the summary."""
    n_reference = report.n_reference or len(compounds)
    with staged_output(out_dir) as out:
        rows = table_rows(result, compounds, report.bad_srme, report.fc3_limit)
        write_table(rows, out / "ksrme.csv")
        leaderboard = leaderboard_rows(result, compounds)
        write_leaderboard_json(leaderboard, out / "kappa_predictions.json.gz")
        write_table(leaderboard, out / "kappa_predictions.csv", LEADERBOARD_CSV_COLUMNS)
        label = result.label
        metrics = metrics_block(result, n_reference)
        times = wall_times(result)
        write_json(out / "metrics.json", {**metrics, "wall_time_s": times})
        (out / "report.md").write_text(markdown_report(rows, metrics, times, label,
                                                       report.bad_srme, report.fc3_limit))
        outputs = ["ksrme.csv", "kappa_predictions.json.gz", "kappa_predictions.csv",
                   "metrics.json", "report.md"]
        title = f"{label}\nmean SRME {result.metrics.mean_srme:.3f} ({len(compounds)} compounds)"
        for stem, plot in (("parity", plot_parity), ("srme_histogram", plot_srme_histogram)):
            plot(result.scores, [out / f"{stem}.png", out / f"{stem}.pdf"], title=title)
            outputs += [f"{stem}.png", f"{stem}.pdf"]
        runs = [(name or label, result.scores)]
        if compare is not None:
            runs.append((compare[0], compare[1].scores))
            plot_run_overlay(runs[0], runs[1], [out / "compare.png", out / "compare.pdf"])
            outputs += ["compare.png", "compare.pdf"]
        plot_cumulative_srme(runs, [out / "srme_cumulative.png", out / "srme_cumulative.pdf"],
                             title=f"{len(compounds)} compounds")
        outputs += ["srme_cumulative.png", "srme_cumulative.pdf"]
        by_id = {c.mp_id: (c, s) for c, s in zip(compounds, result.scores, strict=True)}
        for mp_id in mode_plots:
            compound, score = by_id[mp_id]
            prediction = result.records[mp_id].get("prediction") or {}
            stem = f"mode_kappa_{mp_id}"
            plot_mode_kappa(compound, prediction, score, [out / f"{stem}.png", out / f"{stem}.pdf"],
                            model=result.model)
            outputs += [f"{stem}.png", f"{stem}.pdf"]
        summary = {
            "command": command,
            "protocol": "ksrme",
            "inputs": inputs,
            "model": result.model,
            "label": label,
            "symmetrization": result.symmetrization,
            "fc3": result.fc3,
            "versions": package_versions(),
            "metrics": asdict(result.metrics),
            "leaderboard_metrics": metrics["phonons"]["kappa_103"],
            "by_structure_type": metrics["by_structure_type"],
            "n_computed": result.n_computed,
            "n_reused": result.n_reused,
            "wall_time_s": result.seconds,
            "compute_time_s": times["total"],
            "compounds": rows,
            "outputs": outputs + ["summary.json"],
        }
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
