"""``run_screen``: compute many materials, resumably, on a local pool or a Dask cluster."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from latdyn.errors import InputError
from latdyn.models.registry import resolve_model_name
from latdyn.screen.inputs import Material
from latdyn.screen.store import STATUSES, ScreenStore, check_store
from latdyn.screen.tasks import TASKS, MaterialJob

logger = logging.getLogger(__name__)

#: The store's file name inside the output folder.
STORE_NAME = "screen.sqlite"

#: Workflow settings that do not change results (left out of the store's fingerprint).
_NOT_RESULTS = ("execution",)


@dataclass(frozen=True)
class ScreenSettings:
    """Settings of ``latdyn screen`` (shared by the API and the CLI).

    Attributes
    ----------
    task
        ``phonons`` or ``kappa``.
    task_settings
        The workflow settings applied to every material (``PhononWorkflowSettings`` or
        ``KappaWorkflowSettings``, whose ``model`` says how the model is symmetrized); per-material values from the input override them.
    workers
        Materials computed at a time by the local pool.
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``); ``None`` runs the local pool.
    threads_per_material
        Threads of each material's process; ``None``: ``cores // workers`` locally, 1 on Dask.
    timeout
        Per-material time limit (s); ``None`` for none.
    retry_failed
        Recompute materials stored as failed or timed out.
    progress
        Show a progress bar.
    """

    task: str
    task_settings: object
    workers: int = 1
    scheduler: str | None = None
    threads_per_material: int | None = None
    timeout: float | None = None
    retry_failed: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        if self.threads_per_material is not None and self.threads_per_material < 1:
            raise InputError(
                f"--threads-per-material must be at least 1, got {self.threads_per_material}"
            )
        if self.timeout is not None and self.timeout <= 0:
            raise InputError(f"--timeout must be positive, got {self.timeout}")
        self._symmetrization()

    def _symmetrization(self):
        return self.task_settings.model.symmetrization(self.task_settings.symprec)

    def fingerprint(self) -> dict:
        """Everything that changes the results: the store refuses to mix other settings.

        The symmetrization is part of it, with the default O(3) order resolved (``o3`` and
        ``o3`` of the default order are the same screen).
        """
        settings = asdict(self.task_settings)
        settings["model"]["rotations"] = self._symmetrization().rotation_order
        return {k: v for k, v in settings.items() if k not in _NOT_RESULTS}


@dataclass(frozen=True)
class ScreenResult:
    """What a screen holds after a run.

    Attributes
    ----------
    store
        Path of the SQLite store.
    task
        ``phonons`` or ``kappa``.
    records
        Records of every input material that has finished (this run or before), input order.
    counts
        ``done``, ``failed``, ``timeout`` (statuses in the store, over the input materials),
        ``computed`` (this run), ``skipped`` (finished before, not recomputed), ``total``.
    wall_seconds
        Wall time of this run (s).
    executor
        ``local`` or the Dask scheduler's address.
    threads_per_material
        Threads each material's process used.
    settings
        The settings used.
    """

    store: Path
    task: str
    records: tuple
    counts: dict
    wall_seconds: float
    executor: str
    threads_per_material: int
    settings: ScreenSettings


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="screen", unit="material", disable=not enabled,
                dynamic_ncols=True)


def run_screen(materials: tuple[Material, ...], settings: ScreenSettings,
               out_dir: str | Path) -> ScreenResult:
    """Compute every material not yet finished in ``out_dir/screen.sqlite``.

    Finished materials are skipped (failed and timed-out ones too unless
    ``settings.retry_failed``); each result is stored as soon as it arrives, so an interrupted
    screen resumes where it stopped. Nothing is written if the settings or the executor are bad.
    """
    start = time.perf_counter()
    # the resolver of load_model: registry names, FAMILY:PATH checkpoints, import paths
    resolve_model_name(settings.task_settings.model.name, local=settings.scheduler is None)
    path = Path(out_dir) / STORE_NAME
    check_store(path, settings.task, settings.fingerprint())
    client = None
    if settings.scheduler:
        from latdyn.parallel import connect

        client = connect(settings.scheduler)
    keys = {(m.id, m.content_key) for m in materials}
    try:
        with ScreenStore(path, settings.task, settings.fingerprint()) as store:
            computed = _compute_pending(materials, settings, store, client)
            records = tuple(r for r in store.records()
                            if (r["id"], r.get("content_key")) in keys)
    finally:
        if client is not None:
            client.close()
    counts = Counter(r["status"] for r in records)
    return ScreenResult(
        store=path,
        task=settings.task,
        records=records,
        counts={**{s: counts.get(s, 0) for s in STATUSES}, "computed": computed,
                "skipped": len(materials) - computed, "total": len(materials)},
        wall_seconds=time.perf_counter() - start,
        executor=settings.scheduler or "local",
        threads_per_material=_threads(settings),
        settings=settings,
    )


def _threads(settings: ScreenSettings) -> int:
    from latdyn.parallel import threads_per_worker

    if settings.threads_per_material is not None:
        return settings.threads_per_material
    return 1 if settings.scheduler else threads_per_worker(settings.workers)


def _compute_pending(materials, settings: ScreenSettings, store: ScreenStore, client) -> int:
    """Run the materials that still need computing; store each record as it arrives."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    from latdyn.screen.executors import run_dask, run_local

    finished = store.statuses()
    stored_keys = store.content_keys()
    rerun = ("failed", "timeout") if settings.retry_failed else ()
    pending = [m for m in materials if m.id not in finished or finished[m.id] in rerun
               or stored_keys.get(m.id) != m.content_key]
    by_id = {m.id: m for m in pending}
    logger.info("%d of %d materials to compute", len(pending), len(materials))
    threads = _threads(settings)
    unreadable = [m for m in pending if m.atoms is None]
    jobs = [
        MaterialJob(id=m.id, task=settings.task, settings=settings.task_settings,
                    overrides=m.overrides, atoms=m.atoms, threads=threads)
        for m in pending if m.atoms is not None
    ]
    counts: Counter = Counter()
    with _progress(len(pending), settings.progress) as bar, logging_redirect_tqdm():
        for material in unreadable:
            now = time.time()
            store.write({"id": material.id, "task": settings.task, "status": "failed",
                         "error": material.read_error, "started_at": now, "finished_at": now,
                         "seconds": 0.0, "content_key": material.content_key},
                        material.position, material.source)
            counts["failed"] += 1
            bar.update()
        if client is not None:
            records = run_dask(jobs, client, settings.timeout)
        else:
            records = run_local(jobs, settings.workers, settings.timeout)
        for record in records:
            material = by_id[record["id"]]
            record = {**record, "content_key": material.content_key}
            store.write(record, material.position, material.source)
            counts[record["status"]] += 1
            if record["status"] != "done":
                logger.warning("%s: %s (%s)", material.id, record["status"], record.get("error"))
            bar.set_postfix({s: counts[s] for s in STATUSES}, refresh=False)
            bar.update()
    return len(pending)
