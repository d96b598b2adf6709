"""The FC3 trust measure: a warning above the held-out residual limits, no κ from an FC3 that
misses half of the model's forces."""

import numpy as np
import pytest

from latdyn.anharmonic.holdout import (
    TRUST_RESIDUAL_FD,
    TRUST_RESIDUAL_RANDOM,
    FC3Holdout,
    FC3HoldoutSettings,
    trust_warning,
)
from latdyn.errors import ModelError
from latdyn.workflows.kappa import check_fc3_usable


def _holdout(residual: float) -> FC3Holdout:
    return FC3Holdout(settings=FC3HoldoutSettings(n_pairs=2, distance=0.03), residual=residual,
                      pair_residuals=np.array([residual, residual]), even_part_norm=1.0,
                      n_computed=4, seconds=0.1)


def test_warning_limits_depend_on_the_fit():
    assert trust_warning(0.9 * TRUST_RESIDUAL_RANDOM, "random", 0.03) is None
    warning = trust_warning(0.035, "random", 0.03)
    assert "3.5%" in warning and "0.03 Å" in warning
    # finite-displacement fits keep 2-3 % where κ is right: no warning there
    assert trust_warning(0.03, "fd", 0.03) is None
    assert trust_warning(1.1 * TRUST_RESIDUAL_FD, "fd", 0.03) is not None
    assert _holdout(0.035).warning("random") == warning


def test_an_fc3_missing_half_the_forces_gives_no_kappa():
    check_fc3_usable(_holdout(0.387))  # KCl in the 103-compound run: reported, with a warning
    with pytest.raises(ModelError, match="misses 100% of the model's held-out forces"):
        check_fc3_usable(_holdout(1.0))
