"""Force-constant solvers by name, and the one place ``auto`` is resolved.

``symfc`` fits force constants that obey the sum rules and the space-group symmetry exactly,
from finite or random displacements; ``traditional`` is phonopy's finite differences (it needs
finite displacements); ``auto`` is ``traditional`` for finite displacements and ``symfc`` for
random ones, per displacement set (FC2 and FC3 may differ).
"""

from __future__ import annotations

from latdyn.errors import InputError

#: Solvers that fit (what a fit records).
FC_SOLVERS = ("symfc", "traditional")

#: What a user may ask for: a solver, or ``auto``.
SOLVER_CHOICES = (*FC_SOLVERS, "auto")


def is_random_dataset(dataset: dict | None) -> bool:
    """Whether a phonopy displacement dataset holds random displacements (one
    ``displacements`` array, phonopy's type 2) rather than finite ones (``first_atoms``)."""
    return dataset is not None and "displacements" in dataset and "first_atoms" not in dataset


def check_solver(solver: str) -> None:
    """Raise :class:`InputError` unless ``solver`` is one of :data:`SOLVER_CHOICES`."""
    if solver not in SOLVER_CHOICES:
        raise InputError(f"unknown force-constant solver {solver!r}; choose one of "
                         f"{', '.join(SOLVER_CHOICES)}")


def resolve_solver(solver: str, random: bool) -> str:
    """The solver that fits a finite (``random=False``) or random displacement set.

    Raises
    ------
    InputError
        Unknown solver, or ``traditional`` on random displacements.
    """
    check_solver(solver)
    if solver == "auto":
        return "symfc" if random else "traditional"
    if random and solver != "symfc":
        raise InputError("random displacements need the symfc solver: finite differences "
                         "cannot fit them; use --fc-solver symfc (or auto)")
    return solver
