"""The FC3 held-out check (EMT fcc Cu): the prediction from compact FC3 equals phono3py's full
FC3 contracted directly, fitted FC3 predicts held-out forces closely, a wrong FC3 is caught,
and the check is recorded and cached."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from conftest import emt_forces
from numpy.testing import assert_allclose
from phono3py import Phono3py
from phono3py.phonon3.fc3 import compact_fc3_to_full_fc3

from latdyn.anharmonic.holdout import (
    HOLDOUT_SEED_OFFSET,
    FC3HoldoutSettings,
    even_part_from_fc3,
    holdout_displacements,
    run_fc3_holdout,
)
from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.errors import InputError
from latdyn.kappa import KappaSettings
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms
from latdyn.structure.supercell import SupercellSpec
from latdyn.workflows.kappa import KappaWorkflowSettings, run_kappa_workflow
from latdyn.workflows.kappa_summary import kappa_summary

CONVENTIONAL_2X2X2 = ((-2, 2, 2), (2, -2, 2), (2, 2, -2))


@pytest.fixture(scope="module")
def conventional_fd():
    """Cu, 4-atom conventional cell as the 'primitive' (4 atoms, 8 translations in the 2x2x2
    supercell), FC3 from phono3py finite differences."""
    ph3 = Phono3py(to_phonopy_atoms(bulk("Cu", "fcc", a=3.61, cubic=True)),
                   supercell_matrix=np.diag([2, 2, 2]), primitive_matrix="P", symprec=1e-5)
    ph3.generate_displacements(distance=0.01)
    ph3.forces = emt_forces(ph3.supercells_with_displacements)
    ph3.produce_fc3()
    return ph3


def test_prediction_equals_full_fc3_contraction(conventional_fd):
    ph3 = conventional_fd
    assert ph3.fc3.shape[0] == 4 and len(ph3.primitive.atomic_permutations) == 8
    u = holdout_displacements(len(ph3.supercell), FC3HoldoutSettings(n_pairs=3, distance=0.02))
    full = compact_fc3_to_full_fc3(ph3.primitive, ph3.fc3)
    expected = -np.einsum("kijcab,nia,njb->nkc", full, u[:3], u[:3])
    assert_allclose(even_part_from_fc3(ph3.fc3, ph3.primitive, u[:3]), expected, atol=1e-12)
    assert_allclose(u[:3], -u[3:], atol=1e-15)


def test_fitted_fc3_predicts_and_wrong_fc3_is_caught(conventional_fd):
    ph3 = conventional_fd
    perfect = to_ase_atoms(ph3.supercell)
    residual = emt_forces([perfect])[0]

    def evaluate(cells):
        return emt_forces(cells) - residual[None], len(cells)

    settings = FC3HoldoutSettings(n_pairs=3, distance=0.01)
    good = run_fc3_holdout(ph3, ph3.fc3, evaluate, settings)
    assert good.residual < 0.01
    assert good.pair_residuals.shape == (3,) and good.n_computed == 6
    assert good.even_part_norm > 0
    halved = run_fc3_holdout(ph3, 0.5 * ph3.fc3, evaluate, settings)
    assert halved.residual == pytest.approx(0.5, abs=0.01)


@pytest.fixture(scope="module")
def holdout_run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    chosen = KappaWorkflowSettings(
        model="emt", relax=False, fc2=FC2Spec(supercell=SupercellSpec((2, 2, 2))),
        fc3=FC3Spec(supercell=SupercellSpec(CONVENTIONAL_2X2X2), holdout=2),
        kappa=KappaSettings(mesh=(4, 4, 4), method="rta"),
        execution=ExecutionSettings(cache_dir=str(cache), progress=False))
    return run_kappa_workflow(bulk("Cu", "fcc", a=3.61), chosen), chosen


def test_workflow_records_the_check(holdout_run):
    result, chosen = holdout_run
    check = result.fc3_holdout
    assert check.settings.n_pairs == 2
    assert check.settings.distance == chosen.fc3.distance
    assert check.settings.random_seed == chosen.random_seed + HOLDOUT_SEED_OFFSET
    assert check.n_computed == 4
    assert check.residual < 0.02  # finite-displacement FC3 of EMT describes held-out forces
    summary = kappa_summary(result, {})
    record = summary["force_constants"]["fc3"]["holdout"]
    assert record["n_pairs"] == 2 and record["residual"] == check.residual
    assert len(record["pair_residuals"]) == 2
    assert "fc3_holdout" in summary["timings_s"]
    # the held-out supercells are not counted as FC3 supercells
    assert result.n_fc3_supercells == len(result.displacements.fc3_displaced)


def test_rerun_takes_held_out_forces_from_the_cache(holdout_run):
    result, chosen = holdout_run
    again = run_kappa_workflow(bulk("Cu", "fcc", a=3.61), chosen)
    assert again.fc3_holdout.n_computed == 0
    assert again.fc3_holdout.residual == pytest.approx(result.fc3_holdout.residual, rel=1e-10)


def test_settings_errors():
    with pytest.raises(InputError, match="held-out"):
        FC3Spec(holdout=-1)
    with pytest.raises(InputError, match="held-out check needs >= 1"):
        FC3HoldoutSettings(n_pairs=0, distance=0.03)
    with pytest.raises(InputError, match="held-out displacement must be in"):
        FC3HoldoutSettings(n_pairs=1, distance=0.0)
    assert FC3Spec().holdout_settings(random_seed=0) is None

