"""The κSRME benchmark loop: one record per compound, resumable, optionally in a process pool.

Each compound is computed by a *runner*, ``runner(atoms, settings) -> prediction`` (a JSON-able
mapping, see :func:`ksrme_runner`, the real one: latdyn's κ workflow with the ``ksrme``
protocol). When a compound finishes its record is written atomically to
``records_dir/<mp_id>.json`` and never recomputed; failed compounds are rerun only with
``retry_failed``. Scores are computed from the records and the DFT reference. A record names
the model and the symmetrization it was computed with; a records folder of another model or
symmetrization is refused rather than mixed.
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
    ``gate_reasons``, space groups, supercell counts, timings, the symmetrization's cost and
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
        "kappa_kernel": result.settings.kappa.kernel,
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

    if settings.workers == 1 or len(todo) <= 1:
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
