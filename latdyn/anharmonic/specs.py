"""What to compute per force-constant order: supercell, displacements, fit checks.

:class:`FC2Spec` and :class:`FC3Spec` are the user's choices for each order (``latdyn kappa``'s
``--fc2-*`` and ``--fc3-*`` options); :meth:`AnharmonicDisplacementSettings.from_specs
<latdyn.anharmonic.displacements.AnharmonicDisplacementSettings.from_specs>` turns them, with
the resolved supercell matrices, into the displacement stage's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from latdyn.anharmonic.convergence import FC3ConvergenceSettings
from latdyn.anharmonic.holdout import HOLDOUT_SEED_OFFSET, FC3HoldoutSettings
from latdyn.bounds import check_displacement
from latdyn.errors import InputError
from latdyn.structure.supercell import SupercellSpec

#: How FC2 and FC3 displacements are made.
DISPLACEMENT_METHODS = ("fd", "random")

#: Default minimum face-to-face width (Å) of the automatic FC3 supercell.
DEFAULT_FC3_MIN_LENGTH = 7.0


def check_method(value: str, order: str) -> None:
    """Raise unless ``value`` is one of :data:`DISPLACEMENT_METHODS` (``order``: FC2, FC3)."""
    if value not in DISPLACEMENT_METHODS:
        raise InputError(f"unknown {order} method {value!r}; choose one of "
                         f"{', '.join(DISPLACEMENT_METHODS)}")


@dataclass(frozen=True)
class FC2Spec:
    """Second order: supercell and displacements.

    Attributes
    ----------
    supercell
        The FC2 supercell (automatic: 10 Å, as ``phonons``).
    distance
        Displacement amplitude (Å); 0.01 as ``phonons`` (so its force sets are reused).
    plus_minus, diagonal
        Displacement choices (``True, True`` as ``phonons``; κSRME: ``"auto", False``). With
        random FC2, ``plus_minus=True`` evaluates each pattern and its opposite.
    method
        ``fd`` (finite displacements) or ``random`` (``n_random`` random-displacement supercells
        fitted with symfc).
    n_random
        Random FC2 supercells.
    """

    supercell: SupercellSpec = field(default_factory=SupercellSpec)
    distance: float = 0.01
    plus_minus: bool | Literal["auto"] = True
    diagonal: bool = True
    method: str = "fd"
    n_random: int = 1

    def __post_init__(self):
        check_displacement(self.distance, "fc2_distance")
        check_method(self.method, "FC2")
        if self.n_random < 1:
            raise InputError(f"the number of random FC2 supercells must be >= 1, got "
                             f"{self.n_random}")
        if self.plus_minus not in (True, False, "auto"):
            raise InputError(f"fc2_plus_minus must be True, False or 'auto', got "
                             f"{self.plus_minus!r}")


@dataclass(frozen=True)
class FC3Spec:
    """Third order: supercell, displacements and the checks of the fit.

    Attributes
    ----------
    supercell
        The FC3 supercell (automatic: 7 Å; FC3 needs many more displaced supercells, and
        third-order interactions decay faster).
    distance
        Displacement amplitude (Å).
    method
        ``fd`` (finite displacements) or ``random`` (random displacements fitted with symfc).
    n_random
        Random FC3 displacement patterns; ``None`` uses phono3py's estimate.
    plus_minus
        Random FC3: each pattern and its opposite (see
        :class:`latdyn.anharmonic.AnharmonicDisplacementSettings`).
    convergence
        Random FC3: double the set of supercells until κ on a coarse mesh changes by at most
        this (relative) between doublings (:mod:`latdyn.anharmonic.convergence`); the first
        set is ``n_random`` patterns or twice the number symfc needs at least (as many ± pairs
        with ``plus_minus``). ``None``: one set, no check.
    max_random
        Largest set of random FC3 supercells the check may reach (``None``: 8 times the first).
    holdout
        ± pairs of random displacements (at ``distance``, seeds apart from the fit's) on which
        the fitted FC3 predicts the model's forces (:mod:`latdyn.anharmonic.holdout`); ``0``:
        no such check.
    """

    supercell: SupercellSpec = field(
        default_factory=lambda: SupercellSpec(min_length=DEFAULT_FC3_MIN_LENGTH))
    distance: float = 0.03
    method: str = "fd"
    n_random: int | None = None
    plus_minus: bool = False
    convergence: float | None = None
    max_random: int | None = None
    holdout: int = 0

    def __post_init__(self):
        check_displacement(self.distance, "fc3_distance")
        check_method(self.method, "FC3")
        if self.n_random is not None and self.n_random < 1:
            raise InputError(f"the number of random supercells must be >= 1, got {self.n_random}")
        if self.plus_minus and self.method != "random":
            raise InputError("FC3 ± pairs need random displacements; add --fc3-method random")
        if self.convergence is not None:
            if self.method != "random":
                raise InputError("the FC3 convergence check needs random displacements; add "
                                 "--fc3-method random")
            self.convergence_settings()  # validates tolerance and largest set
        if self.holdout < 0:
            raise InputError(f"the FC3 held-out check needs >= 0 ± pairs, got {self.holdout}")

    def convergence_settings(self) -> FC3ConvergenceSettings | None:
        """The FC3 convergence check, or ``None`` without one."""
        if self.convergence is None:
            return None
        return FC3ConvergenceSettings(tolerance=self.convergence, max_supercells=self.max_random)

    def holdout_settings(self, random_seed: int) -> FC3HoldoutSettings | None:
        """The held-out check (at the FC3 displacement, seeds offset from ``random_seed``), or
        ``None`` without one."""
        if self.holdout == 0:
            return None
        return FC3HoldoutSettings(n_pairs=self.holdout, distance=self.distance,
                                  random_seed=random_seed + HOLDOUT_SEED_OFFSET)

    @property
    def n_random_factor(self) -> float:
        """Multiple of symfc's minimum number of patterns when ``n_random`` is ``None``: the
        convergence check starts from twice it (± pairs too: a pair's even part determines FC3,
        so a pair counts as one pattern), phono3py's default is 4."""
        return 2.0 if self.convergence is not None and not self.plus_minus else 4.0
