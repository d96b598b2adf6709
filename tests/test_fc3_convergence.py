"""FC3 from random supercells with the convergence check (EMT fcc Cu, 32-atom FC3 supercell):
the levels double, the final fit is symfc's on all supercells, the stopping rule follows the
measured changes, and a rerun takes every force from the cache."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from numpy.testing import assert_allclose
from phono3py import Phono3py

from latdyn.anharmonic.convergence import FC3ConvergenceSettings
from latdyn.anharmonic.holdout import even_part_residual
from latdyn.anharmonic.specs import FC2Spec, FC3Spec
from latdyn.errors import InputError
from latdyn.kappa import KappaSettings
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_phonopy_atoms
from latdyn.structure.supercell import SupercellSpec
from latdyn.workflows.kappa import KappaWorkflowSettings, run_kappa_workflow
from latdyn.workflows.kappa_summary import kappa_summary

CONVENTIONAL_2X2X2 = ((-2, 2, 2), (2, -2, 2), (2, 2, -2))


def settings(cache_dir, **fc3) -> KappaWorkflowSettings:
    """Random ± FC3 on Cu; ``fc3``: more :class:`FC3Spec` fields."""
    return KappaWorkflowSettings(
        model="emt", relax=False, fc2=FC2Spec(supercell=SupercellSpec((2, 2, 2))),
        fc3=FC3Spec(supercell=SupercellSpec(CONVENTIONAL_2X2X2), method="random",
                    plus_minus=True, **fc3),
        kappa=KappaSettings(mesh=(6, 6, 6), temperatures=(300.0,), method="rta"),
        execution=ExecutionSettings(cache_dir=str(cache_dir), progress=False))


@pytest.fixture(scope="module")
def converged_run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    chosen = settings(cache, convergence=0.05)
    return run_kappa_workflow(bulk("Cu", "fcc", a=3.61), chosen), chosen


def test_levels_double_and_stop_by_the_rule(converged_run):
    result, chosen = converged_run
    check = result.fc3_convergence
    sizes = [level.n_supercells for level in check.levels]
    assert len(sizes) >= 2
    assert sizes == [sizes[0] * 2**i for i in range(len(sizes))]
    assert sizes[0] == len(result.displacements.fc3_displaced)
    assert result.n_fc3_supercells == sizes[-1] == len(check.forces) == len(check.displaced)
    assert check.mesh.tolist() == [3, 3, 3]
    changes = [level.relative_change for level in check.levels]
    assert changes[0] is None
    for previous, level in zip(check.levels, check.levels[1:], strict=False):
        expected = abs(level.kappa[0] - previous.kappa[0]) / abs(level.kappa[0])
        assert level.relative_change == pytest.approx(expected, rel=1e-12)
    # stops at the first level within tolerance, or at the limit (8x the first set)
    assert all(c > chosen.fc3.convergence for c in changes[1:-1])
    assert check.converged == (changes[-1] <= chosen.fc3.convergence)
    assert check.converged or 2 * sizes[-1] > 8 * sizes[0]
    # ± pairs throughout: every supercell's displacement has its opposite
    displacements = np.array([c.positions - result.displacements.fc3_supercell.positions
                              for c in check.displaced])
    for block in np.split(displacements, np.cumsum([sizes[0]] + sizes[:-1])[:-1]):
        half = len(block) // 2
        assert_allclose(block[:half], -block[half:], atol=1e-12)


def test_final_fit_is_symfc_on_all_supercells(converged_run):
    result, _ = converged_run
    check = result.fc3_convergence
    ph3 = result.displacements.phono3py
    direct = Phono3py(to_phonopy_atoms(result.structure.atoms),
                      supercell_matrix=CONVENTIONAL_2X2X2, phonon_supercell_matrix=(2, 2, 2),
                      primitive_matrix=np.array(ph3.primitive_matrix), symprec=1e-5)
    shifts = np.array([c.positions - result.displacements.fc3_supercell.positions
                       for c in check.displaced])
    direct.dataset = {"displacements": shifts, "forces": np.array(check.forces)}
    direct.produce_fc3(fc_calculator="symfc")
    assert_allclose(result.fc3.fc3, direct.fc3, atol=1e-10)
    assert result.fc3.n_supercells == len(check.forces)


def test_each_level_reports_how_the_previous_fit_predicted_its_new_supercells(converged_run):
    """Level L's held-out residual is symfc's fit on levels < L against the even part of
    level L's new ± pairs, recomputed here with phono3py directly."""
    result, _ = converged_run
    check = result.fc3_convergence
    assert check.levels[0].holdout_residual is None
    ph3 = result.displacements.phono3py
    shifts = np.array([c.positions - result.displacements.fc3_supercell.positions
                       for c in check.displaced])
    for previous, level in zip(check.levels, check.levels[1:], strict=False):
        seen = previous.n_supercells
        direct = Phono3py(to_phonopy_atoms(result.structure.atoms),
                          supercell_matrix=CONVENTIONAL_2X2X2, phonon_supercell_matrix=(2, 2, 2),
                          primitive_matrix=np.array(ph3.primitive_matrix), symprec=1e-5)
        direct.dataset = {"displacements": shifts[:seen],
                          "forces": np.array(check.forces[:seen])}
        direct.produce_fc3(fc_calculator="symfc")
        new = slice(seen, level.n_supercells)
        expected, _ = even_part_residual(direct.fc3, direct.primitive, shifts[new],
                                         check.forces[new])
        assert level.holdout_residual == pytest.approx(expected, rel=1e-6)
        assert 0 < level.holdout_residual < 0.05


def test_summary_records_levels_and_rerun_uses_cache(converged_run, tmp_path):
    result, chosen = converged_run
    summary = kappa_summary(result, {})
    record = summary["displacements"]["fc3"]
    assert record["n_computed"] == result.n_fc3_supercells
    levels = record["convergence"]["levels"]
    assert [lv["n_supercells"] for lv in levels] == [
        lv.n_supercells for lv in result.fc3_convergence.levels]
    assert [lv["holdout_residual"] for lv in levels] == [
        lv.holdout_residual for lv in result.fc3_convergence.levels]
    again = run_kappa_workflow(bulk("Cu", "fcc", a=3.61), chosen)
    assert again.n_fc3_computed == 0
    assert_allclose(again.kappa.kappa, result.kappa.kappa, rtol=1e-10)


def test_unconverged_check_stops_at_the_limit(tmp_path):
    result = run_kappa_workflow(bulk("Cu", "fcc", a=3.61),
                                settings(tmp_path, convergence=1e-9, n_random=2,
                                         max_random=8))
    check = result.fc3_convergence
    assert [level.n_supercells for level in check.levels] == [4, 8]
    assert not check.converged
    assert result.kappa is not None


def test_settings_errors():
    with pytest.raises(InputError, match="needs random displacements"):
        FC3Spec(convergence=0.01)
    with pytest.raises(InputError, match="tolerance"):
        FC3ConvergenceSettings(tolerance=0.0)
    with pytest.raises(InputError, match="largest FC3 set"):
        FC3ConvergenceSettings(max_supercells=0)


def test_cli_prints_levels_and_held_out_check(tmp_path, capsys):
    from latdyn.cli.main import main

    poscar = tmp_path / "POSCAR"
    bulk("Cu", "fcc", a=3.61).write(poscar, format="vasp")
    status = main(["kappa", str(poscar), "--model", "emt", "--no-relax",
                   "--fc2-supercell", "2", "2", "2",
                   "--fc3-supercell", *map(str, np.ravel(CONVENTIONAL_2X2X2)),
                   "--mesh", "6", "6", "6", "--method", "rta", "--fc3-method", "random",
                   "--fc3-plus-minus", "--fc3-convergence", "0.05", "--fc3-holdout", "1",
                   "--out", str(tmp_path / "out"), "--no-progress"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "FC3 convergence on mesh [3, 3, 3]" in printed
    assert "new supercells predicted to" in printed
    assert "FC3 on 1 held-out ± pairs (0.03 Å): residual" in printed
