"""``latdyn kappa --temperature-volume``: κ(T) with the lattice at its QHA volume V(T).

The κ run at the relaxed (static) volume comes first; then ``latdyn qha`` on the same
structure, model and FC2 supercell gives V(T); for each temperature the κ unit cell is scaled
by V(T)/V_static, relaxed there with the space group kept (:mod:`latdyn.qha.volumes`), and FC2,
FC3 and κ are recomputed at that volume with the fixed-volume run's supercells.

Recomputing at each V(T) rather than interpolating between a few volumes: the κ step must
run on the lattice of each temperature either way, so an interpolation of FC2/FC3 saves only
force sets, and only when there are more temperatures than the volumes it needs. κ(V) itself
is smooth: for MgO with 7net-0 (``benchmarks/kappa_volume_interpolation.py``,
``reference_data/kappa_volume_MgO_7net-0.csv``) d ln κ / d ln V = -8.2, and ln κ interpolated
linearly across 1.6% in volume is off by 0.1% (quadratically through three volumes, 0.02%) —
an interpolation of κ would do for many temperatures; recomputing is exact and, for the usual
handful of temperatures, no dearer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from latdyn.errors import InputError
from latdyn.models.registry import LoadedModel, load_model
from latdyn.provenance import StageTimer
from latdyn.qha import QHASettings
from latdyn.qha.volumes import relax_at_volume, scaled_cell
from latdyn.structure.supercell import SupercellSpec
from latdyn.structure.symmetry import get_symmetry
from latdyn.workflows.kappa import KappaWorkflowResult, KappaWorkflowSettings, run_kappa_workflow
from latdyn.workflows.kappa_settings import with_changes
from latdyn.workflows.qha import QHAWorkflowResult, QHAWorkflowSettings, run_qha_workflow

logger = logging.getLogger(__name__)

#: Temperature step (K) of the QHA behind ``--temperature-volume``.
QHA_T_STEP = 10.0


@dataclass(frozen=True)
class TemperatureVolumeKappa:
    """κ(T) at the static volume and at the QHA volume of each temperature.

    Attributes
    ----------
    fixed
        The κ run at the relaxed (static) volume, all temperatures.
    qha
        The QHA run that gives V(T).
    temperatures
        ``(n_T,)`` K.
    volume_ratios
        V(T) / V_static, ``(n_T,)``.
    runs
        One κ run per temperature at V(T) (``None`` beyond the QHA's trusted range).
    timings
        Wall time per stage (s).
    """

    fixed: KappaWorkflowResult
    qha: QHAWorkflowResult
    temperatures: np.ndarray
    volume_ratios: np.ndarray
    runs: tuple
    timings: dict

    @property
    def kappa_fixed(self) -> np.ndarray:
        """Trace-average κ at the static volume (W/m/K), ``(n_T,)`` (NaN if not computed)."""
        kappa = self.fixed.kappa
        return np.full(len(self.temperatures), np.nan) if kappa is None else \
            np.asarray(kappa.kappa_trace_average)

    @property
    def kappa_expanded(self) -> np.ndarray:
        """Trace-average κ at V(T) (W/m/K), ``(n_T,)`` (NaN where not computed)."""
        return np.array([np.nan if run is None or run.kappa is None
                         else float(run.kappa.kappa_trace_average[0]) for run in self.runs])


def qha_settings_for(settings: KappaWorkflowSettings, fc2_matrix) -> QHAWorkflowSettings:
    """The QHA behind a κ run: same model, relaxation, FC2 supercell and displacement."""
    t_max = QHA_T_STEP * (np.ceil(max(settings.kappa.temperatures) / QHA_T_STEP) + 1)
    return QHAWorkflowSettings(
        model=settings.model, execution=settings.execution, relax=settings.relax,
        relax_settings=settings.relax_settings,
        qha=QHASettings(t_max=max(float(t_max), 3 * QHA_T_STEP), t_step=QHA_T_STEP),
        supercell=tuple(map(tuple, np.asarray(fc2_matrix).tolist())),
        distance=settings.fc2.distance,
        fc_solver="traditional" if settings.fc_solver == "traditional" else "symfc",
        symprec=settings.symprec,
    )


def run_kappa_temperature_volume(
    atoms: Atoms, settings: KappaWorkflowSettings, model: LoadedModel | None = None,
) -> TemperatureVolumeKappa:
    """κ(T) at the static volume and at V(T) from the QHA (module notes)."""
    timer = StageTimer()
    model = model or load_model(settings.model.name, settings.model.device)
    with timer.stage("fixed_volume"):
        fixed = run_kappa_workflow(atoms, settings, model)
    if fixed.kappa is None:
        raise InputError("no κ at the static volume (" + "; ".join(fixed.gate.reasons)
                         + "); --temperature-volume needs it (use --force to compute it)")
    disp = fixed.displacements.settings
    with timer.stage("qha"):
        qha = run_qha_workflow(atoms, qha_settings_for(settings, disp.fc2_supercell), model)
    static_volume = qha.structure.atoms.get_volume()
    q = qha.qha
    temperatures = np.asarray(settings.kappa.temperatures, dtype=float)
    ratios = np.interp(temperatures, q.temperatures, q.equilibrium_volumes) / static_volume
    ratios[temperatures > q.t_max_trusted] = np.nan
    unitcell = fixed.structure.atoms
    shape = not 195 <= get_symmetry(unitcell, settings.symprec).number <= 230
    pinned = with_changes(settings, {"relax": False,
                                     "fc2": {"supercell": SupercellSpec(disp.fc2_supercell)},
                                     "fc3": {"supercell": SupercellSpec(disp.fc3_supercell)}})
    runs = []
    with timer.stage("expanded_volumes"):
        for t, ratio in zip(temperatures, ratios, strict=True):
            if not np.isfinite(ratio):
                logger.warning("no κ at V(%g K): beyond the QHA's trusted range (%g K)", t,
                               q.t_max_trusted)
                runs.append(None)
                continue
            cell = scaled_cell(unitcell, unitcell.get_volume() * ratio)
            if settings.relax:
                cell = relax_at_volume(cell, model.calculator, settings.relax_settings,
                                       shape).atoms
            runs.append(run_kappa_workflow(
                cell, with_changes(pinned, {"kappa": {"temperatures": (float(t),)}}), model))
    return TemperatureVolumeKappa(fixed=fixed, qha=qha, temperatures=temperatures,
                                  volume_ratios=ratios, runs=tuple(runs),
                                  timings=dict(timer.seconds))


def temperature_volume_summary(result: TemperatureVolumeKappa) -> dict:
    """The ``temperature_volume`` part of a κ run's ``summary.json``."""
    q = result.qha.qha
    return {
        "method": "FC2, FC3 and κ recomputed at the QHA volume V(T) of each temperature "
                  "(cell scaled, relaxed at fixed volume with the space group kept)",
        "qha": {"eos": q.eos, "n_volumes": len(q.volumes),
                "strain_range": result.qha.settings.volumes.strain_range,
                "t_max_trusted_K": q.t_max_trusted, "mesh": q.mesh.tolist(),
                "static_volume_A3": result.qha.structure.atoms.get_volume(),
                "timings_s": result.qha.timings},
        "per_temperature": [
            {"temperature_K": float(t),
             "volume_ratio": None if not np.isfinite(r) else float(r),
             "kappa_trace_average_fixed_volume": float(kf),
             "kappa_trace_average": None if not np.isfinite(ke) else float(ke),
             "relative_change": None if not np.isfinite(ke) else float(ke / kf - 1.0)}
            for t, r, kf, ke in zip(result.temperatures, result.volume_ratios,
                                    result.kappa_fixed, result.kappa_expanded, strict=True)],
        "timings_s": result.timings,
    }
