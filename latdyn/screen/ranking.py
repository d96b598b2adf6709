"""The ranked table of a screen: materials ordered by κ (or by a phonon descriptor)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from latdyn.files import atomic_open

#: κ is ranked at the stored temperature closest to this (K).
RANK_TEMPERATURE = 300.0

_STATUS_ORDER = {"done": 0, "failed": 1, "timeout": 2}


@dataclass(frozen=True)
class Ranking:
    """Materials ordered by ``quantity``, lowest first; finished-without-value ones last.

    Attributes
    ----------
    task
        ``phonons`` or ``kappa``.
    quantity
        The ranked column: ``kappa_W_mK`` (trace average at ``temperature``) or
        ``acoustic_mean_frequency_THz`` (mean of the three acoustic branches over the q-mesh).
    temperature
        Temperature (K) of the κ ranking, ``None`` for the phonons task.
    columns
        Column names of ``rows``.
    rows
        One tuple per material: ranked ones first, then done ones without a value (gate not
        passed), then failed and timed-out ones. ``rank`` is ``None`` for unranked rows.
    """

    task: str
    quantity: str
    temperature: float | None
    columns: tuple
    rows: tuple

    def column(self, name: str, ranked_only: bool = True) -> list:
        """The values of column ``name`` (of ranked rows only, by default)."""
        k = self.columns.index(name)
        rank = self.columns.index("rank")
        return [row[k] for row in self.rows if not ranked_only or row[rank] is not None]


def _kappa_at(record: dict, temperature: float) -> tuple[float | None, float | None]:
    kappa = record.get("kappa")
    if not kappa or not kappa["temperatures_K"]:
        return None, None
    temperatures = kappa["temperatures_K"]
    k = min(range(len(temperatures)), key=lambda i: abs(temperatures[i] - temperature))
    value = kappa["kappa_average_W_mK"][k]
    if value is None or not math.isfinite(value):
        return None, temperatures[k]
    return value, temperatures[k]


def _value(record: dict, task: str) -> float | None:
    if record["status"] != "done":
        return None
    if task == "kappa":
        return _kappa_at(record, RANK_TEMPERATURE)[0]
    return (record.get("phonons") or {}).get("acoustic_mean_frequency_THz")


def rank_records(records, task: str) -> Ranking:
    """Rank a screen's records (see :class:`Ranking`)."""
    quantity = "kappa_W_mK" if task == "kappa" else "acoustic_mean_frequency_THz"
    temperature = None
    if task == "kappa":
        temperature = next((t for r in records if (t := _kappa_at(r, RANK_TEMPERATURE)[1])
                            is not None), RANK_TEMPERATURE)

    def order(record):
        value = _value(record, task)
        return (value is None, _STATUS_ORDER[record["status"]], value or 0.0, record["id"])

    columns = ("rank", "id", "formula", "status", quantity, "lowest_frequency_THz",
               "mean_atomic_mass", "space_group", "imaginary_modes", "imaginary_near_gamma_only",
               "symmetry_changed",
               "gate_failed", "seconds", "n_attempts", "error")
    rows = []
    rank = 0
    for record in sorted(records, key=order):
        value = _value(record, task)
        if value is not None:
            rank += 1
        flags = record.get("flags") or {}
        phonons = record.get("phonons") or {}
        rows.append((
            rank if value is not None else None, record["id"], record.get("formula"),
            record["status"], value, phonons.get("lowest_frequency_THz"),
            record.get("mean_atomic_mass"), record.get("space_group"),
            flags.get("imaginary_modes"), phonons.get("imaginary_near_gamma_only"),
            flags.get("symmetry_changed"),
            flags.get("gate_failed"), record.get("seconds"), record.get("n_attempts"),
            record.get("error"),
        ))
    return Ranking(task=task, quantity=quantity, temperature=temperature, columns=columns,
                   rows=tuple(rows))


def write_ranking_csv(ranking: Ranking, path: str | Path) -> Path:
    """Write the ranked table as CSV (empty cells for missing values), atomically."""
    path = Path(path)
    with atomic_open(path, "w") as handle:
        writer = csv.writer(handle)
        header = list(ranking.columns)
        if ranking.temperature is not None:
            header[header.index(ranking.quantity)] = f"kappa_W_mK_at_{ranking.temperature:g}K"
        writer.writerow(header)
        for row in ranking.rows:
            writer.writerow(["" if v is None else v for v in row])
    return path
