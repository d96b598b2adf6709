"""The κSRME benchmark loop: one record per compound, resumable, optionally in a process pool.

Each compound is computed by a *runner*, ``runner(atoms, settings) -> prediction`` (a JSON-able
mapping, see :func:`ksrme_runner`, the real one: latdyn's κ workflow with the ``ksrme``
protocol). When a compound finishes its record is written atomically to
``records_dir/<mp_id>.json`` and never recomputed; failed compounds are rerun only with
``retry_failed``. Scores are computed from the records and the DFT reference. A record names
the model and the symmetrization it was computed with; a records folder of another model or
symmetrization is refused rather than mixed.

A set can be split over processes or machines: :func:`shard_compounds` deals the compounds
round-robin into ``N`` shards (``--shard I/N``), each run writes the same records a single run
would, and :func:`merge_records` joins the shards' records folders (refusing a mix of models or
settings). Compounds run in this process, in a process pool, or on a Dask cluster
(``scheduler``).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.benchmark.ksrme import BenchmarkMetrics, CompoundScore, aggregate, score_compound
from latdyn.benchmark.reference import ReferenceCompound
from latdyn.errors import InputError
from latdyn.files import write_json
from latdyn.symmetrize import symmetrization_settings

logger = logging.getLogger(__name__)

#: Largest q-point difference (reduced coordinates, modulo reciprocal lattice vectors) accepted
#: between prediction and reference.
QPOINT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BenchmarkSettings:
    """Settings of ``latdyn benchmark kappa``.

    Attributes
    ----------
    model, device
        The MLIP and its device.
    workers
        Compounds computed at once (processes); 1 runs in this process.
    retry_failed
        Recompute compounds whose record says they failed.
    cache_dir, use_cache, progress
        Force cache folder (``None``: default), whether to use it, progress bars.
    symmetrize, rotations
        Symmetrization of the model's predictions (``none``, ``spacegroup``, ``o3``, ``full``)
        and the Lebedev order of the O(3) average, passed to every compound's κ settings.
    fc3_method, fc3_plus_minus, fc3_convergence
        FC3 displacements in place of the protocol's finite displacements (see
        :class:`latdyn.workflows.kappa.KappaWorkflowSettings`): ``random`` supercells fitted
        with symfc, as ± pairs, their number chosen by the convergence check.
    kappa_kernel
        Kernel of the κ step's linewidths (``latdyn`` or ``phono3py``; ``None``: the κ
        workflow's default); it does not change κ beyond round-off.
    fc3_holdout
        ± pairs of random displacements on which every compound's FC3 predicts the model's
        forces (:mod:`latdyn.anharmonic.holdout`); ``0``: none. It does not change κ, so
        records with and without it are alike.
    scheduler
        Address of a Dask scheduler: compounds run as Dask tasks on its workers (``workers``
        is then unused); ``None``: this machine.
    """

    model: str = "7net-0"
    device: str = "cpu"
    workers: int = 1
    retry_failed: bool = False
    cache_dir: str | None = None
    use_cache: bool = True
    progress: bool = True
    symmetrize: str = "none"
    rotations: int | None = None
    fc3_method: str = "fd"
    fc3_plus_minus: bool = False
    fc3_convergence: float | None = None
    fc3_holdout: int = 0
    kappa_kernel: str | None = None
    scheduler: str | None = None

    def __post_init__(self):
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        symmetrization_settings(self.symmetrize, self.rotations)
        _ksrme_changes(self)  # validates the FC3 options and the kernel

    def fc3(self) -> dict:
        """The FC3 options that differ from the protocol's (``{}``: the protocol)."""
        chosen = {"fc3_method": self.fc3_method, "fc3_plus_minus": self.fc3_plus_minus,
                  "fc3_convergence": self.fc3_convergence}
        protocol = {"fc3_method": "fd", "fc3_plus_minus": False, "fc3_convergence": None}
        return {k: v for k, v in chosen.items() if v != protocol[k]}

    def symmetrization(self) -> dict:
        """The symmetrization as recorded with every compound (the default order resolved)."""
        return symmetrization_settings(self.symmetrize, self.rotations).options()


#: ``runner(atoms, settings) -> prediction``.
Runner = Callable[[Atoms, BenchmarkSettings], dict]


@dataclass(frozen=True)
class BenchmarkResult:
    """A benchmark run over a set of compounds.

    Attributes
    ----------
    scores
        One score per compound, in the order asked for.
    metrics
        Means and rates over ``scores``.
    records
        ``mp_id -> record`` (what ``records_dir/<mp_id>.json`` holds).
    n_computed, n_reused
        Compounds computed in this run and compounds whose record was reused.
    seconds
        Wall time of this run (s).
    model
        The model's name.
    symmetrization
        The symmetrization of every record (:meth:`BenchmarkSettings.symmetrization`).
    fc3
        FC3 options of every record that differ from the protocol's
        (:meth:`BenchmarkSettings.fc3`).
    """

    scores: tuple[CompoundScore, ...]
    metrics: BenchmarkMetrics
    records: dict
    n_computed: int
    n_reused: int
    seconds: float
    model: str
    symmetrization: dict
    fc3: dict

    @property
    def label(self) -> str:
        """The model with its symmetrization and FC3 options where not the defaults."""
        return _run_label(self.model, self.symmetrization, self.fc3)


@functools.lru_cache(maxsize=2)
def _loaded_model(name: str, device: str):
    from latdyn.models.registry import load_model

    return load_model(name, device)


def _ksrme_changes(settings: BenchmarkSettings) -> dict:
    """The benchmark's changes to the κSRME protocol (FC3 options, held-out check, kernel)."""
    from latdyn.anharmonic.specs import FC3Spec
    from latdyn.kappa import KappaSettings

    fc3 = {"method": settings.fc3_method, "plus_minus": settings.fc3_plus_minus,
           "convergence": settings.fc3_convergence, "holdout": settings.fc3_holdout}
    FC3Spec(**fc3)
    KappaSettings(kernel=settings.kappa_kernel)
    return {"fc3": fc3, "kappa": {"kernel": settings.kappa_kernel}}


def ksrme_runner(atoms: Atoms, settings: BenchmarkSettings) -> dict:
    """The κSRME protocol on one compound (latdyn's κ workflow), as a JSON-able prediction.

    Returns a mapping with ``kappa`` (trace-averaged κ at 300 K, NaN when the gate stopped the
    run), ``kappa_tensor``, ``mode_kappa`` (trace-averaged mode κ times weights, ``(nq, nb)``),
    ``weights``, ``qpoints``, ``frequencies``, ``imaginary``, ``symmetry_changed``,
    ``gate_reasons``, ``lowest_mode`` (the lowest harmonic frequency on the κ mesh, THz, and
    its reduced q-point), space groups, supercell counts, timings, the symmetrization's cost and
    ``fc3_holdout_residual`` (``None`` without the held-out check).
    """
    from latdyn.benchmark.ksrme import kappa_average
    from latdyn.kappa.record import KappaRecord
    from latdyn.protocols.ksrme import ksrme_settings
    from latdyn.settings import ExecutionSettings, ModelSettings
    from latdyn.workflows.kappa import run_kappa_workflow

    kappa_settings = ksrme_settings(
        atoms,
        ModelSettings(settings.model, settings.device, settings.symmetrize, settings.rotations),
        ExecutionSettings(settings.cache_dir, settings.use_cache, settings.progress),
        _ksrme_changes(settings))
    result = run_kappa_workflow(atoms, kappa_settings,
                                model=_loaded_model(settings.model, settings.device))
    structure = result.structure
    grid = result.harmonic
    lowest = np.unravel_index(np.argmin(grid.frequencies), grid.frequencies.shape)
    prediction = {
        "kappa": float("nan"),
        "kappa_tensor": None,
        "mode_kappa": None,
        "weights": None,
        "qpoints": None,
        "frequencies": None,
        "imaginary": result.gate.imaginary,
        "symmetry_changed": structure.input_symmetry.number != structure.symmetry.number,
        "gate_reasons": list(result.gate.reasons),
        "lowest_mode": {"qpoint": grid.qpoints[lowest[0]].tolist(),
                        "frequency": float(grid.frequencies[lowest])},
        "space_group_initial": structure.input_symmetry.number,
        "space_group_final": structure.symmetry.number,
        "n_supercells": {"fc2": result.n_fc2_supercells, "fc3": result.n_fc3_supercells},
        "n_atoms_supercell": {"fc2": len(result.displacements.fc2_supercell),
                              "fc3": len(result.displacements.fc3_supercell)},
        "n_forces_computed": {
            "fc2": result.fc2_forces.n_computed,
            "fc3": result.n_fc3_computed,
        },
        "timings_s": dict(result.timings),
        "kappa_kernel": result.settings.kappa.linewidth_kernel,
        "kappa_seconds_by_part": None,
        "symmetrization": result.symmetrization,
        "fc3_holdout_residual": None if result.fc3_holdout is None
        else result.fc3_holdout.residual,
    }
    kappa = result.kappa
    if kappa is not None:
        record = KappaRecord.from_result(kappa)
        prediction.update(
            kappa=record.kappa_trace_average[0],
            kappa_tensor=list(record.kappa[0]),
            kappa_seconds_by_part=dict(record.seconds_by_part),
            mode_kappa=kappa_average(kappa.mode_kappa_total[0]).tolist(),
            weights=np.asarray(kappa.weights).tolist(),
            qpoints=np.asarray(kappa.qpoints).tolist(),
            frequencies=np.asarray(kappa.frequencies).tolist(),
        )
    return prediction


def _run_one(runner: Runner, compound_id: str, atoms: Atoms, settings: BenchmarkSettings) -> dict:
    """Run ``runner`` on one compound; any error becomes a failed record."""
    start = time.perf_counter()
    try:
        prediction = runner(atoms, settings)
        status, reason = "ok", ""
    except Exception as exc:  # a failed compound scores 2, the benchmark goes on
        logger.warning("%s failed: %s: %s", compound_id, type(exc).__name__, exc)
        prediction, status, reason = None, "failed", f"{type(exc).__name__}: {exc}"
    return {"mp_id": compound_id, "model": settings.model,
            "symmetrization": settings.symmetrization(), "fc3": settings.fc3(),
            "status": status, "reason": reason,
            "seconds": time.perf_counter() - start, "prediction": prediction}


def record_path(records_dir: str | Path, mp_id: str) -> Path:
    return Path(records_dir) / f"{mp_id}.json"


def read_record(records_dir: str | Path, mp_id: str) -> dict | None:
    """The stored record of ``mp_id``, or ``None`` (also for an unreadable file)."""
    path = record_path(records_dir, mp_id)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        logger.warning("unreadable record %s is recomputed", path)
        return None


def _run_label(model: str, symmetrization: dict, fc3: dict) -> str:
    """``model``, with its symmetrization unless it is ``none`` and its FC3 options unless
    they are the protocol's."""
    options = {} if symmetrization.get("symmetrize", "none") == "none" else dict(symmetrization)
    options.update(fc3)
    if not options:
        return model
    return f"{model} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def _record_label(record: dict) -> str:
    """What computed ``record``; records written before symmetrization or FC3 options were
    recorded are unsymmetrized and the protocol's."""
    return _run_label(str(record.get("model")),
                      record.get("symmetrization", {"symmetrize": "none"}), record.get("fc3", {}))


def _needs_run(record: dict | None, retry_failed: bool) -> bool:
    return record is None or (retry_failed and record.get("status") != "ok")


def score_record(compound: ReferenceCompound, record: dict) -> CompoundScore:
    """The κSRME score of ``compound`` from its record."""
    prediction = record.get("prediction") if record.get("status") == "ok" else None
    reason = record.get("reason", "")
    if prediction is not None and prediction.get("mode_kappa") is not None:
        qpoints = np.array(prediction["qpoints"], dtype=float)
        delta = qpoints - compound.qpoints if qpoints.shape == compound.qpoints.shape else None
        if delta is None or np.abs(delta - np.rint(delta)).max() > QPOINT_TOLERANCE:
            prediction = None
            reason = (f"the irreducible q-points ({len(qpoints)}) differ from the reference's "
                      f"({len(compound.qpoints)})")
    mode = None if prediction is None or prediction.get("mode_kappa") is None else \
        np.array(prediction["mode_kappa"], dtype=float)
    if prediction is not None:
        prediction = {**prediction, "mode_kappa": mode}
    return score_compound(compound.mp_id, compound.name, compound.space_group,
                          float(compound.kappa[0]), compound.mode_kappa[0], prediction, reason)


def run_benchmark(
    compounds: Sequence[ReferenceCompound],
    records_dir: str | Path,
    settings: BenchmarkSettings,
    runner: Runner = ksrme_runner,
) -> BenchmarkResult:
    """Compute (or reuse) every compound's record and score the set.

    Raises
    ------
    InputError
        ``records_dir`` holds records of another model, symmetrization or FC3 method.
    """
    start = time.perf_counter()
    records = {c.mp_id: read_record(records_dir, c.mp_id) for c in compounds}
    label = _run_label(settings.model, settings.symmetrization(), settings.fc3())
    foreign = sorted({_record_label(r) for r in records.values() if r} - {label})
    if foreign:
        raise InputError(f"{records_dir} holds records of model(s) {'; '.join(foreign)}; give "
                         f"another --out for {label}")
    todo = [c for c in compounds if _needs_run(records[c.mp_id], settings.retry_failed)]
    logger.info("%d compounds to compute, %d reused", len(todo), len(compounds) - len(todo))

    def finish(record: dict) -> None:
        write_json(record_path(records_dir, record["mp_id"]), record)
        records[record["mp_id"]] = record
        logger.info("%s: %s in %.1f s", record["mp_id"], record["status"], record["seconds"])

    if settings.scheduler is not None and todo:
        for record in _run_on_dask(runner, todo, settings):
            finish(record)
    elif settings.workers == 1 or len(todo) <= 1:
        for compound in todo:
            finish(_run_one(runner, compound.mp_id, compound.atoms, settings))
    else:
        with ProcessPoolExecutor(max_workers=min(settings.workers, len(todo))) as pool:
            futures = [pool.submit(_run_one, runner, c.mp_id, c.atoms, settings) for c in todo]
            for future in as_completed(futures):
                finish(future.result())
    scores = tuple(score_record(c, records[c.mp_id]) for c in compounds)
    return BenchmarkResult(
        scores=scores,
        metrics=aggregate(list(scores)),
        records=records,
        n_computed=len(todo),
        n_reused=len(compounds) - len(todo),
        seconds=time.perf_counter() - start,
        model=settings.model,
        symmetrization=settings.symmetrization(),
        fc3=settings.fc3(),
    )


def _run_on_dask(runner: Runner, compounds: Sequence[ReferenceCompound],
                 settings: BenchmarkSettings):
    """Records of ``compounds`` computed as tasks on the Dask scheduler of ``settings``, as
    they finish (connection helper: :func:`latdyn.parallel.connect`)."""
    from latdyn.parallel import connect

    client = connect(settings.scheduler)  # a clear error without dask.distributed
    from distributed import as_completed

    try:
        futures = [client.submit(_run_one, runner, c.mp_id, c.atoms, settings, pure=False,
                                 key=f"latdyn-ksrme-{c.mp_id}-{time.time_ns()}")
                   for c in compounds]
        for future in as_completed(futures, loop=client.loop):
            yield future.result()
    finally:
        client.close()


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``1 <= I <= N``.

    Raises
    ------
    InputError
        Not of that form.
    """
    index, _, count = text.partition("/")
    if not (index.strip().isdigit() and count.strip().isdigit()) or not (
            1 <= int(index) <= int(count)):
        raise InputError(f"--shard takes I/N with 1 <= I <= N (e.g. 2/4), got {text!r}")
    return int(index), int(count)


def shard_compounds(compounds: Sequence[ReferenceCompound], index: int,
                    count: int) -> list[ReferenceCompound]:
    """Shard ``index`` of ``count`` (1-based): every ``count``-th compound from the
    ``index``-th on, so the shards are disjoint, cover the set and mix the structure types."""
    return [c for k, c in enumerate(compounds) if k % count == index - 1]


def records_folder(path: str | Path) -> Path:
    """The records folder of a benchmark output folder (``path/records``), or ``path`` itself
    when it has no ``records/``."""
    path = Path(path)
    return path / "records" if (path / "records").is_dir() else path


def read_records(records_dir: str | Path) -> dict[str, dict]:
    """Every readable record of ``records_dir``, by mp_id (unreadable files are skipped).

    Raises
    ------
    InputError
        ``records_dir`` is not a folder.
    """
    records_dir = Path(records_dir)
    if not records_dir.is_dir():
        raise InputError(f"{records_dir} is not a folder of benchmark records")
    records = {}
    for path in sorted(records_dir.glob("*.json")):
        record = read_record(records_dir, path.stem)
        if record is not None:
            records[path.stem] = record
    return records


def run_label(records: Sequence[dict], where: str) -> str:
    """The one model/settings label of ``records``.

    Raises
    ------
    InputError
        ``records`` is empty or mixes labels.
    """
    labels = sorted({_record_label(r) for r in records})
    if not labels:
        raise InputError(f"{where} holds no benchmark records")
    if len(labels) > 1:
        raise InputError(f"{where} holds records of {len(labels)} runs ({'; '.join(labels)}); "
                         "give records of one model and one set of settings")
    return labels[0]


@dataclass(frozen=True)
class MergeReport:
    """What :func:`merge_records` did.

    Attributes
    ----------
    label
        Model and settings of every record.
    n_records
        Records in the merged folder.
    n_copied
        Records written by this merge.
    duplicates
        mp_ids found in more than one source (the successful record is kept, else the first).
    """

    label: str
    n_records: int
    n_copied: int
    duplicates: tuple[str, ...]


def merge_records(sources: Sequence[str | Path], records_dir: str | Path) -> MergeReport:
    """Join the records of ``sources`` (benchmark output or records folders) into
    ``records_dir``, which may already hold records of the same run.

    Raises
    ------
    InputError
        A source is not a folder or is empty, or the records (sources and ``records_dir``
        together) are of more than one model or set of settings; nothing is written then.
    """
    out = Path(records_dir)
    existing = read_records(out) if out.is_dir() else {}
    chosen: dict[str, dict] = {}
    duplicates = set()
    seen = list(existing.values())
    for source in sources:
        records = read_records(records_folder(source))
        run_label(list(records.values()), str(source))
        seen.extend(records.values())
        for mp_id, record in records.items():
            if mp_id in chosen:
                duplicates.add(mp_id)
                if chosen[mp_id].get("status") == "ok" or record.get("status") != "ok":
                    continue
            chosen[mp_id] = record
    label = run_label(seen, f"{', '.join(map(str, sources))} with {out}")
    copied = 0
    for mp_id, record in chosen.items():
        if existing.get(mp_id, {}).get("status") == "ok" and record.get("status") != "ok":
            continue
        write_json(record_path(out, mp_id), record)
        copied += 1
    return MergeReport(label=label, n_records=len(set(existing) | set(chosen)),
                       n_copied=copied, duplicates=tuple(sorted(duplicates)))


def load_benchmark(compounds: Sequence[ReferenceCompound],
                   records_dir: str | Path) -> tuple[BenchmarkResult, list[ReferenceCompound]]:
    """Score the compounds of ``compounds`` that have a record in ``records_dir`` (nothing is
    computed); returns the result and those compounds, in the order of ``compounds``.

    Raises
    ------
    InputError
        No records, records of several runs, or records of compounds not in ``compounds``.
    """
    records = read_records(records_dir)
    run_label(list(records.values()), str(records_dir))
    known = {c.mp_id for c in compounds}
    unknown = sorted(set(records) - known)
    if unknown:
        raise InputError(f"{records_dir} holds records of compounds not in the selected set: "
                         f"{', '.join(unknown[:5])}")
    present = [c for c in compounds if c.mp_id in records]
    first = records[present[0].mp_id]
    scores = tuple(score_record(c, records[c.mp_id]) for c in present)
    result = BenchmarkResult(
        scores=scores, metrics=aggregate(list(scores)),
        records={c.mp_id: records[c.mp_id] for c in present}, n_computed=0,
        n_reused=len(present), seconds=0.0, model=str(first.get("model")),
        symmetrization=first.get("symmetrization", {"symmetrize": "none"}),
        fc3=first.get("fc3", {}))
    return result, present
