"""What one material's computation is, and the plain-dict record it returns.

Runs inside the per-material child process (see :mod:`latdyn.screen.worker`). A record holds
only JSON types, so it can travel back from any executor and go into the store unchanged.
"""

from __future__ import annotations

import logging
import sys
import traceback
from dataclasses import dataclass, replace

import numpy as np
from ase import Atoms

from latdyn.errors import LatdynError

logger = logging.getLogger(__name__)

TASKS = ("phonons", "kappa")


@dataclass(frozen=True)
class MaterialJob:
    """One material to compute.

    Attributes
    ----------
    id
        Material id.
    task
        ``phonons`` or ``kappa``.
    settings
        The task's workflow settings (``PhononWorkflowSettings`` or ``KappaWorkflowSettings``).
    overrides
        Per-material settings from the structure's info (see :mod:`latdyn.screen.inputs`).
    atoms
        The structure.
    threads
        Threads the computation may use (OpenMP, BLAS, torch).
    """

    id: str
    task: str
    settings: object
    overrides: dict
    atoms: Atoms
    threads: int = 1


def base_record(job: MaterialJob) -> dict:
    """The part of a record known before computing: id and composition."""
    atoms = job.atoms
    return {
        "id": job.id,
        "task": job.task,
        "formula": atoms.get_chemical_formula(),
        "n_atoms": len(atoms),
        "mean_atomic_mass": float(np.mean(atoms.get_masses())),
        "overrides": {k: list(v) for k, v in job.overrides.items()},
    }


def _mesh(values):
    from latdyn.errors import InputError

    if len(values) == 1:
        return float(values[0])
    if len(values) == 3 and all(float(v).is_integer() for v in values):
        return tuple(int(v) for v in values)
    raise InputError(f"q_mesh needs one length or three integers, got {list(values)}")


def _phonon_settings(settings, overrides: dict):
    from latdyn.structure.supercell import SupercellSpec

    changes = {}
    supercell = overrides.get("fc2_supercell", overrides.get("supercell"))
    if supercell is not None:
        changes["supercell"] = SupercellSpec(supercell).matrix
    if "q_mesh" in overrides:
        changes["phonons"] = replace(settings.phonons, mesh=_mesh(overrides["q_mesh"]))
    return replace(settings, **changes)


def _kappa_settings(settings, overrides: dict):
    from latdyn.structure.supercell import SupercellSpec
    from latdyn.workflows.kappa_settings import with_changes

    changes = {}
    for order in ("fc2", "fc3"):
        matrix = overrides.get(f"{order}_supercell", overrides.get("supercell"))
        if matrix is not None:
            changes[order] = {"supercell": SupercellSpec(matrix)}
    if "q_mesh" in overrides:
        changes["kappa"] = {"mesh": _mesh(overrides["q_mesh"])}
    return with_changes(settings, changes)


def acoustic_mean_frequency(frequencies, weights=None) -> float:
    """Mean frequency (THz) of the three lowest branches over a q-mesh.

    ``frequencies`` is ``(n_q, n_bands)``; ``weights`` ``(n_q,)`` are the q-point multiplicities
    (all 1 for a full mesh).
    """
    frequencies = np.asarray(frequencies, dtype=float)
    weights = np.ones(len(frequencies)) if weights is None else np.asarray(weights, dtype=float)
    acoustic = np.sort(frequencies, axis=1)[:, :3].mean(axis=1)
    return float(weights @ acoustic / weights.sum())


#: Imaginary modes within this distance of Γ (largest fractional coordinate, reduced to the
#: first zone) count as "near Γ": the signature of a too-small supercell or loose relaxation.
NEAR_GAMMA = 0.25


def imaginary_near_gamma_only(samples, tolerance: float) -> bool:
    """Whether ``samples`` (``(qpoints (n_q, 3), frequencies (n_q, n_bands))`` pairs) have
    imaginary modes (below ``-tolerance`` THz), all within :data:`NEAR_GAMMA` of Γ."""
    found = False
    for qpoints, frequencies in samples:
        bad = np.asarray(frequencies).min(axis=1) < -tolerance
        if not bad.any():
            continue
        found = True
        q = np.asarray(qpoints, dtype=float)[bad]
        if np.abs(q - np.rint(q)).max() > NEAR_GAMMA:
            return False
    return found


def _relax_flags(structure) -> dict:
    relax = structure.relax
    return {
        "symmetry_changed": bool(relax.symmetry_changed) if relax else False,
        "relax_converged": bool(relax.converged) if relax else None,
    }


def _phonon_record(result) -> dict:
    phonons = result.phonons
    mesh = result.displacements.phonopy.mesh
    imaginary = phonons.imaginary
    return {
        "model": result.model,
        "symmetrization": result.diagnostics.symmetrization,
        "space_group": str(result.structure.symmetry),
        "supercell": np.array(result.displacements.settings.supercell_matrix).tolist(),
        "phonons": {
            "gamma_frequencies_THz": phonons.gamma_frequencies.tolist(),
            "lowest_frequency_THz": imaginary.min_frequency,
            "lowest_frequency_qpoint": list(imaginary.min_qpoint),
            "n_imaginary_qpoints": imaginary.n_imaginary_qpoints,
            "imaginary_near_gamma_only": imaginary_near_gamma_only(
                [(phonons.band_qpoints, phonons.band_frequencies),
                 (mesh.qpoints, mesh.frequencies)], imaginary.tolerance),
            # run_phonons leaves its DOS mesh on the phonopy object
            "acoustic_mean_frequency_THz": acoustic_mean_frequency(mesh.frequencies, mesh.weights),
            "mesh": phonons.mesh.tolist(),
        },
        "flags": {"imaginary_modes": imaginary.has_imaginary, **_relax_flags(result.structure)},
        "timings": dict(result.timings),
    }


def _kappa_record(result) -> dict:
    from latdyn.kappa.record import KappaRecord

    gate = result.gate
    return {
        "model": result.model,
        "symmetrization": result.symmetrization,
        "space_group": str(result.structure.symmetry),
        "supercell": np.array(result.displacements.settings.fc2_supercell).tolist(),
        "fc3_supercell": np.array(result.displacements.settings.fc3_supercell).tolist(),
        "phonons": {
            "gamma_frequencies_THz": list(gate.gamma_frequencies),
            "lowest_frequency_THz": gate.lowest_frequency,
            "acoustic_mean_frequency_THz": acoustic_mean_frequency(result.harmonic.frequencies),
            "imaginary_near_gamma_only": imaginary_near_gamma_only(
                [(result.harmonic.qpoints, result.harmonic.frequencies)],
                result.settings.gate.imaginary_tolerance),
            "mesh": np.asarray(result.harmonic.mesh).tolist(),
        },
        "gate": {"passed": bool(gate.passed), "reasons": list(gate.reasons)},
        "flags": {"imaginary_modes": gate.imaginary, "gate_failed": not gate.passed,
                  **_relax_flags(result.structure)},
        "timings": dict(result.timings),
        "kappa": None if result.kappa is None else KappaRecord.from_result(result.kappa).store(),
    }


def _limit_torch_threads(threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def compute(job: MaterialJob) -> dict:
    """Compute one material; the task's fields of its record (``status`` is ``done``)."""
    from latdyn.models.registry import load_model
    from latdyn.structure.io import validate_structure

    validate_structure(job.atoms, source=f"material {job.id}")
    if job.task == "phonons":
        from latdyn.workflows.phonons import run_phonon_workflow

        settings = _phonon_settings(job.settings, job.overrides)
        model = load_model(settings.model.name, settings.model.device)
        _limit_torch_threads(job.threads)
        return {"status": "done", **_phonon_record(run_phonon_workflow(job.atoms, settings, model))}
    from latdyn.workflows.kappa import run_kappa_workflow

    settings = _kappa_settings(job.settings, job.overrides)
    model = load_model(settings.model.name, settings.model.device)
    _limit_torch_threads(job.threads)
    return {"status": "done", **_kappa_record(run_kappa_workflow(job.atoms, settings, model))}


def run_job(job: MaterialJob) -> dict:
    """The record of ``job``: its results, or ``status: failed`` with the error. Never raises."""
    record = {**base_record(job), "error": None}
    try:
        record.update(compute(job))
    except LatdynError as exc:
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # any failure of one material is recorded, not raised
        logger.debug("material %s failed", job.id, exc_info=True)
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(limit=-8))
    return record
