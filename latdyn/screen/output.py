"""Write a screen's ranked table, figures and ``summary.json`` (each atomically, summary last)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from latdyn.files import staged_output, write_json
from latdyn.provenance import package_versions, run_record
from latdyn.screen.plot import plot_screen
from latdyn.screen.ranking import rank_records, write_ranking_csv
from latdyn.screen.runner import ScreenResult


def _model(result: ScreenResult) -> dict:
    """Provenance reported by the workers, or the requested name when nothing finished."""
    for record in result.records:
        if record.get("model"):
            return record["model"]
    settings = result.settings.task_settings
    return {"name": settings.model.name, "device": settings.model.device}


def screen_summary(result: ScreenResult, inputs: dict) -> dict:
    """The content of ``summary.json`` for a screen."""
    settings = asdict(result.settings)
    return {
        "command": "screen",
        "inputs": inputs,
        "task": result.task,
        "settings": settings,
        "model": _model(result),
        "versions": package_versions(),
        "executor": result.executor,
        "threads_per_material": result.threads_per_material,
        "counts": result.counts,
        "wall_time_s": result.wall_seconds,
        "store": result.store.name,
    }


def imaginary_summary(ranking) -> list[dict]:
    """The finished materials with imaginary modes: id, lowest frequency, whether only near Γ."""
    rows = [dict(zip(ranking.columns, row, strict=True)) for row in ranking.rows]
    return [{"id": row["id"], "lowest_frequency_THz": row["lowest_frequency_THz"],
             "near_gamma_only": bool(row["imaginary_near_gamma_only"]),
             "ranked": row["rank"] is not None}
            for row in rows if row["status"] == "done" and row["imaginary_modes"]]


def write_screen_outputs(result: ScreenResult, out_dir: str | Path, inputs: dict) -> dict:
    """Write ``ranking.csv``, the two figures and ``summary.json``; return the summary."""
    with staged_output(out_dir) as out:
        ranking = rank_records(result.records, result.task)
        write_ranking_csv(ranking, out / "ranking.csv")
        stem = "kappa" if result.task == "kappa" else "acoustic_frequency"
        figures = plot_screen(ranking, out / f"{stem}_distribution.png",
                              out / f"{stem}_vs_mass.png")
        summary = screen_summary(result, inputs)
        summary["ranking"] = {
            "quantity": ranking.quantity,
            "temperature_K": ranking.temperature,
            "lowest": [dict(zip(ranking.columns, row, strict=True)) for row in ranking.rows[:5]
                       if row[0] is not None],
        }
        summary["imaginary"] = imaginary_summary(ranking)
        summary["outputs"] = [result.store.name, "ranking.csv", *(f.name for f in figures),
                              "summary.json"]
        summary["run"] = run_record()
        write_json(out / "summary.json", summary)
    return summary
