"""The screen's results store: one SQLite file, one row per finished material.

Only the parent process writes (results come back from the workers as plain dicts); each material
is written in one transaction when it finishes, so a crash or ``kill -9`` loses at most the
materials still running. Tables:

``meta``
    ``task`` and ``settings`` (canonical JSON) of the screen; a re-run with other settings is
    refused rather than mixing results.
``materials``
    One row per finished material: status (``done``, ``failed``, ``timeout``), descriptors used
    for ranking, flags, timings, the error, and the full record as JSON (``record``).
``kappa``
    κ per material and temperature (W/m/K): the six Voigt components and the trace average.
``attempts``
    One row per finished computation of a material (``attempt`` counts from 1): proves that a
    resumed screen never recomputes a finished material.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from latdyn.errors import InputError
from latdyn.files import to_jsonable

STATUSES = ("done", "failed", "timeout")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS materials (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed', 'timeout')),
    formula TEXT,
    n_atoms INTEGER,
    mean_atomic_mass REAL,
    lowest_frequency_THz REAL,
    acoustic_mean_frequency_THz REAL,
    imaginary_modes INTEGER,
    symmetry_changed INTEGER,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    seconds REAL NOT NULL,
    host TEXT,
    n_attempts INTEGER NOT NULL,
    error TEXT,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kappa (
    material_id TEXT NOT NULL REFERENCES materials(id),
    temperature_K REAL NOT NULL,
    xx REAL, yy REAL, zz REAL, yz REAL, xz REAL, xy REAL,
    average REAL,
    PRIMARY KEY (material_id, temperature_K)
);
CREATE TABLE IF NOT EXISTS attempts (
    material_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    host TEXT,
    pid INTEGER,
    PRIMARY KEY (material_id, attempt)
);
"""


def _canonical(value) -> str:
    return json.dumps(to_jsonable(value), sort_keys=True)


def _flag(value) -> int | None:
    return None if value is None else int(bool(value))


def check_store(path: str | Path, task: str, settings: dict) -> None:
    """Raise :class:`InputError` if ``path`` exists but belongs to another screen (reads only)."""
    path = Path(path)
    if not path.exists():
        return
    try:
        connection = sqlite3.connect(path)
        try:
            meta = dict(connection.execute("SELECT key, value FROM meta"))
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"{path} is not a latdyn screen store ({exc}); choose another --out"
        ) from None
    if not meta:  # killed while being created: nothing stored yet
        return
    if meta.get("task") != task or meta.get("settings") != _canonical(settings):
        raise InputError(
            f"{path} holds a screen with other settings (task {meta.get('task')}); rerun with "
            "the same task, model and settings to resume, or choose another --out"
        )


class ScreenStore:
    """Open (or create) the store at ``path`` for the screen ``task`` with ``settings``.

    ``settings`` is a JSON-able dict of everything that changes the results; it must match the
    one the store was created with.
    """

    def __init__(self, path: str | Path, task: str, settings: dict):
        self.path = Path(path)
        check_store(self.path, task, settings)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(self.path)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        with self.connection:
            self.connection.executescript(_SCHEMA)
            self.connection.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                [("task", task), ("settings", _canonical(settings))],
            )

    def __enter__(self) -> ScreenStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def statuses(self) -> dict[str, str]:
        """Material id -> status of every finished material."""
        return dict(self.connection.execute("SELECT id, status FROM materials"))

    def content_keys(self) -> dict[str, str | None]:
        """Material id -> content key of the structure each finished material was computed for
        (``None`` for records stored before content keys were)."""
        rows = self.connection.execute("SELECT id, record FROM materials")
        return {material_id: json.loads(record).get("content_key") for material_id, record in rows}

    def attempts(self) -> dict[str, int]:
        """Material id -> how many times it was computed to the end."""
        return dict(self.connection.execute(
            "SELECT material_id, COUNT(*) FROM attempts GROUP BY material_id"
        ))

    def write(self, record: dict, position: int, source: str) -> None:
        """Store one finished material (replacing an earlier failure), in one transaction."""
        if record["status"] not in STATUSES:
            raise ValueError(f"unknown status {record['status']!r}")
        material_id = record["id"]
        phonons = record.get("phonons") or {}
        flags = record.get("flags") or {}
        with self.connection:
            (previous,) = self.connection.execute(
                "SELECT COUNT(*) FROM attempts WHERE material_id = ?", (material_id,)
            ).fetchone()
            attempt = previous + 1
            self.connection.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (material_id, attempt, record["status"], record["started_at"],
                 record["finished_at"], record.get("host"), record.get("pid")),
            )
            self.connection.execute("DELETE FROM kappa WHERE material_id = ?", (material_id,))
            self.connection.execute(
                "INSERT OR REPLACE INTO materials VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    material_id, position, source, record["status"], record.get("formula"),
                    record.get("n_atoms"), record.get("mean_atomic_mass"),
                    phonons.get("lowest_frequency_THz"),
                    phonons.get("acoustic_mean_frequency_THz"),
                    _flag(flags.get("imaginary_modes")), _flag(flags.get("symmetry_changed")),
                    record["started_at"], record["finished_at"], record["seconds"],
                    record.get("host"), attempt, record.get("error"), _canonical(record),
                ),
            )
            kappa = record.get("kappa")
            if kappa:
                self.connection.executemany(
                    "INSERT INTO kappa VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (material_id, t, *components, average)
                        for t, components, average in zip(
                            kappa["temperatures_K"], kappa["kappa_W_mK"],
                            kappa["kappa_average_W_mK"], strict=True,
                        )
                    ],
                )

    def records(self) -> list[dict]:
        """Every finished material's record, in input order, with ``n_attempts`` added."""
        rows = self.connection.execute(
            "SELECT record, n_attempts FROM materials ORDER BY position, id"
        )
        return [{**json.loads(record), "n_attempts": n} for record, n in rows]
