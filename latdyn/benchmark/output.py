"""Write a κSRME benchmark run: the per-compound table (CSV), figures, ``summary.json``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from latdyn.benchmark.plot import plot_mode_kappa, plot_parity, plot_srme_histogram
from latdyn.benchmark.reference import ReferenceCompound
from latdyn.benchmark.run import BenchmarkResult
from latdyn.files import atomic_open, staged_output, write_json
from latdyn.provenance import package_versions, run_record

TABLE_COLUMNS = ("mp_id", "name", "space_group", "structure_type", "kappa_dft", "kappa_mlip",
                 "srd", "sre", "srme", "failed", "imaginary", "reason", "status", "seconds",
                 "n_fc2_supercells", "n_fc3_supercells", "fc3_holdout_residual")


def table_rows(result: BenchmarkResult, compounds: Sequence[ReferenceCompound]) -> list[dict]:
    """One row per compound: scores, status, time, supercell counts and the FC3 held-out
    residual (empty without the check)."""
    rows = []
    for compound, score in zip(compounds, result.scores, strict=True):
        record = result.records[compound.mp_id]
        prediction = record.get("prediction") or {}
        counts = prediction.get("n_supercells") or {}
        holdout = prediction.get("fc3_holdout_residual")
        rows.append({**asdict(score), "structure_type": compound.structure_type,
                     "status": record["status"], "seconds": round(record["seconds"], 2),
                     "n_fc2_supercells": counts.get("fc2", ""),
                     "n_fc3_supercells": counts.get("fc3", ""),
                     "fc3_holdout_residual": "" if holdout is None else holdout})
    return rows


def write_table(rows: list[dict], path: str | Path) -> Path:
    """The table as CSV (written atomically)."""
    path = Path(path)
    with atomic_open(path, "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_benchmark(
    result: BenchmarkResult,
    compounds: Sequence[ReferenceCompound],
    out_dir: str | Path,
    inputs: dict,
    mode_plots: Sequence[str] = (),
) -> dict:
    """Write ``ksrme.csv``, ``parity``, ``srme_histogram`` and ``mode_kappa_<mp_id>`` figures
    (PNG and PDF) and ``summary.json`` (last). Returns the summary."""
    with staged_output(out_dir) as out:
        rows = table_rows(result, compounds)
        write_table(rows, out / "ksrme.csv")
        title = f"{result.model}: mean SRME {result.metrics.mean_srme:.3f} ({len(compounds)} compounds)"
        outputs = ["ksrme.csv"]
        for stem, plot in (("parity", plot_parity), ("srme_histogram", plot_srme_histogram)):
            plot(result.scores, [out / f"{stem}.png", out / f"{stem}.pdf"], title=title)
            outputs += [f"{stem}.png", f"{stem}.pdf"]
        by_id = {c.mp_id: (c, s) for c, s in zip(compounds, result.scores, strict=True)}
        for mp_id in mode_plots:
            compound, score = by_id[mp_id]
            prediction = result.records[mp_id].get("prediction") or {}
            stem = f"mode_kappa_{mp_id}"
            plot_mode_kappa(compound, prediction, score, [out / f"{stem}.png", out / f"{stem}.pdf"],
                            model=result.model)
            outputs += [f"{stem}.png", f"{stem}.pdf"]
        summary = {
            "command": "benchmark kappa",
            "protocol": "ksrme",
            "inputs": inputs,
            "model": result.model,
            "symmetrization": result.symmetrization,
            "fc3": result.fc3,
            "versions": package_versions(),
            "metrics": asdict(result.metrics),
            "n_computed": result.n_computed,
            "n_reused": result.n_reused,
            "wall_time_s": result.seconds,
            "compute_time_s": sum(r["seconds"] for r in result.records.values()),
            "compounds": rows,
            "outputs": outputs + ["summary.json"],
        }
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
