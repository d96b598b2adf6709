"""Symmetrize a loaded model by mode name (``--symmetrize none|spacegroup|o3|full``)."""

from __future__ import annotations

import dataclasses

from latdyn.errors import InputError
from latdyn.models.loaded import LoadedModel
from latdyn.structure.symmetry import DEFAULT_SYMPREC
from latdyn.symmetrize.calculator import (
    DEFAULT_ROTATION_ORDER,
    SYMMETRIZE_MODES,
    SymmetrizationSettings,
    SymmetrizedBackend,
    SymmetrizedCalculator,
)


def symmetrization_settings(mode: str, rotations: int | None = None,
                            symprec: float = DEFAULT_SYMPREC) -> SymmetrizationSettings:
    """The settings of ``mode``; ``rotations`` is the Lebedev order of ``o3`` and ``full``.

    Raises
    ------
    InputError
        Unknown mode, or an order given to a mode without O(3) averaging.
    """
    if mode not in SYMMETRIZE_MODES:
        raise InputError(f"unknown symmetrization {mode!r}; choose one of "
                         f"{', '.join(SYMMETRIZE_MODES)}")
    average, project = SYMMETRIZE_MODES[mode]
    if rotations is not None and not average:
        raise InputError(f"--rotations {rotations} needs --symmetrize o3 or full (got {mode})")
    order = (rotations if rotations is not None else DEFAULT_ROTATION_ORDER) if average else None
    return SymmetrizationSettings(rotation_order=order, space_group=project, symprec=symprec)


def symmetrize_model(model: LoadedModel, mode: str = "none", rotations: int | None = None,
                     symprec: float = DEFAULT_SYMPREC) -> LoadedModel:
    """``model`` with its calculator wrapped in a :class:`SymmetrizedCalculator`.

    ``mode="none"`` returns ``model`` itself. Otherwise the returned model's ``options`` record
    the symmetrization, so its ``identity`` (and the force-cache keys) differ from the raw one.
    """
    settings = symmetrization_settings(mode, rotations, symprec)
    if settings.mode == "none":
        return model
    calculator = SymmetrizedCalculator(
        model.calculator, rotations=settings.rotation_order, space_group=settings.space_group,
        include_inversion=settings.include_inversion, symprec=settings.symprec,
    )
    return dataclasses.replace(model, calculator=calculator,
                               options={**model.options, **settings.options()},
                               backend_factory=_symmetrized_backend, unsymmetrized=model)


def _symmetrized_backend(model: LoadedModel, batch_size: int | None) -> SymmetrizedBackend:
    """The raw model's own backend (batched where its family batches), symmetrized; the
    counts go to the calculator's statistics."""
    calculator = model.calculator
    return SymmetrizedBackend(model.unsymmetrized.backend(batch_size), calculator.settings,
                              identity=model.identity, stats=calculator.stats)


def unwrapped_model(model: LoadedModel) -> LoadedModel:
    """The raw model under a symmetrized one (``model`` itself when it is not symmetrized)."""
    return model if model.unsymmetrized is None else model.unsymmetrized


def symmetrization_record(model: LoadedModel) -> dict:
    """Mode, settings and cost multiplier of ``model``'s symmetrization, for ``summary.json``.

    ``evaluations_per_structure`` is the nominal cost multiplier; ``measured_cost_multiplier``
    the wall time per structure over the time of one raw evaluation, so far.
    """
    calculator = model.calculator
    if not isinstance(calculator, SymmetrizedCalculator):
        return {"symmetrize": "none", "evaluations_per_structure": 1,
                "measured_cost_multiplier": 1.0}
    return calculator.stats.record(calculator.settings)
