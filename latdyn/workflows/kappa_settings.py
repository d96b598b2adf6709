"""Settings of ``latdyn kappa``, composed of one small settings object per concern.

``model`` and ``execution`` are those of every command (:mod:`latdyn.settings`); ``fc2`` and
``fc3`` the per-order choices (:mod:`latdyn.anharmonic.specs`); ``kappa`` the conductivity
(:class:`latdyn.kappa.KappaSettings`); ``gate`` when to stop before FC3; ``parallel`` how the
κ step is shared among Dask workers. :func:`with_changes` replaces fields at any depth (the
CLI's explicit options, a protocol's overrides, a screen's per-material values).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from latdyn.anharmonic.displacements import AnharmonicDisplacementSettings
from latdyn.anharmonic.fc3 import FC3_SOLVERS
from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.errors import InputError
from latdyn.kappa import KappaSettings
from latdyn.kappa.gate import GateSettings
from latdyn.parallel import ParallelSettings
from latdyn.relax import RelaxSettings
from latdyn.settings import ExecutionSettings, ModelSettings, model_settings

#: Protocols: ``default`` (latdyn's choices) or ``ksrme`` (Póta et al. / Matbench Discovery).
PROTOCOLS = ("default", "ksrme")


@dataclass(frozen=True)
class KappaWorkflowSettings:
    """Settings of ``latdyn kappa`` (shared by the API, the CLI and config files).

    Attributes
    ----------
    model
        The MLIP, its device and symmetrization (a bare name is accepted: that model on the
        CPU, unsymmetrized).
    execution
        Force cache and progress bars.
    relax
        Relax before computing force constants.
    relax_settings
        How to relax. ``allow_symmetry_change`` also waives the gate's symmetry check.
    two_stage_relax
        Relax in two stages, the second without ``FixSymmetry`` (κSRME; see
        :mod:`latdyn.workflows.kappa_protocol`).
    primitive_matrix
        ``None``: reduce the structure to its standardized primitive cell and use it as unit
        cell (as ``phonons`` does). Otherwise the structure is used as given as phono3py's unit
        cell, with this primitive matrix (3x3, or ``"auto"``); supercells are then relative to
        the given cell.
    fc2, fc3
        Supercell, displacements and checks per order (:class:`FC2Spec`, :class:`FC3Spec`).
    random_seed
        Seed of the random displacements.
    fc_solver
        ``symfc`` (sum rules enforced exactly), ``traditional`` (finite differences, then
        phono3py's symmetrization) or ``auto`` (``traditional`` for finite displacements,
        ``symfc`` for random ones, per order).
    kappa
        Mesh, temperatures, method, isotopes, boundary and kernel of κ; its ``device`` follows
        ``model.device``.
    gate
        Imaginary-mode tolerance and ``force``.
    parallel
        Share the κ step's grid points among Dask workers (:mod:`latdyn.kappa.distributed`;
        RTA and Wigner only).
    protocol
        ``default`` or ``ksrme`` (recorded; :func:`latdyn.protocols.ksrme.ksrme_settings` fills
        the other fields).
    symprec
        Symmetry tolerance (Å).
    born
        phonopy ``BORN`` file of the NAC (polar crystals), applied to the harmonic check and κ;
        ``None`` for no NAC (see :mod:`latdyn.harmonic.nac`).
    """

    model: ModelSettings = field(default_factory=ModelSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    relax: bool = True
    relax_settings: RelaxSettings = field(default_factory=RelaxSettings)
    two_stage_relax: bool = False
    primitive_matrix: tuple | str | None = None
    fc2: FC2Spec = field(default_factory=FC2Spec)
    fc3: FC3Spec = field(default_factory=FC3Spec)
    random_seed: int = 0
    fc_solver: str = "symfc"
    kappa: KappaSettings = field(default_factory=KappaSettings)
    gate: GateSettings = field(default_factory=GateSettings)
    parallel: ParallelSettings = field(default_factory=ParallelSettings)
    protocol: str = "default"
    symprec: float = 1e-5
    born: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "model", model_settings(self.model))
        if self.protocol not in PROTOCOLS:
            raise InputError(f"unknown protocol {self.protocol!r}; choose one of "
                             f"{', '.join(PROTOCOLS)}")
        if self.fc_solver not in FC3_SOLVERS:
            raise InputError(f"unknown force-constant solver {self.fc_solver!r}; choose one of "
                             f"{', '.join(FC3_SOLVERS)}")
        if "random" in (self.fc2.method, self.fc3.method) and self.fc_solver == "traditional":
            raise InputError("random displacements need the symfc solver; use --fc-solver symfc "
                             "or auto")
        if self.parallel.distributed and self.kappa.method == "lbte":
            raise InputError("LBTE cannot be split over grid points; use --method rta or wigner "
                             "with several κ workers")
        object.__setattr__(self, "primitive_matrix", _primitive_matrix(self.primitive_matrix))
        if self.kappa.device != self.model.device:
            object.__setattr__(self, "kappa",
                               dataclasses.replace(self.kappa, device=self.model.device))

    def displacement_settings(self, fc2: np.ndarray, fc3: np.ndarray
                              ) -> AnharmonicDisplacementSettings:
        """The displacement stage's settings, for the supercell matrices ``fc2``, ``fc3``."""
        return AnharmonicDisplacementSettings.from_specs(
            self.fc2, self.fc3, fc2, fc3, primitive_matrix=self.primitive_matrix,
            random_seed=self.random_seed, symprec=self.symprec)


def _primitive_matrix(value):
    """``None``, ``"auto"`` or an invertible 3x3 matrix as nested tuples."""
    if value is None:
        return None
    if isinstance(value, str):
        if value != "auto":
            raise InputError(f"primitive matrix must be 3x3 or 'auto', got {value!r}")
        return value
    matrix = np.array(value, dtype=float)
    if matrix.shape != (3, 3) or abs(np.linalg.det(matrix)) < 1e-6:
        raise InputError(f"primitive matrix must be an invertible 3x3 matrix, got "
                         f"{matrix.tolist()}")
    return tuple(map(tuple, matrix.tolist()))


def with_changes(settings, changes: dict):
    """``settings`` (a frozen dataclass) with ``changes`` applied: ``{field: value}``, or
    ``{field: {subfield: value}}`` for a nested settings object, to any depth.

    Raises
    ------
    InputError
        A key that is not a field.
    """
    names = {f.name for f in dataclasses.fields(settings)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise InputError(f"unknown {type(settings).__name__} setting(s) {', '.join(unknown)}")
    values = {}
    for name, value in changes.items():
        current = getattr(settings, name)
        nested = isinstance(value, dict) and dataclasses.is_dataclass(current)
        values[name] = with_changes(current, value) if nested else value
    return dataclasses.replace(settings, **values)
