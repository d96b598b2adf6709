"""FC2/FC3 fitting on phono3py objects: agreement with phono3py called directly, sum rules,
random against finite displacements. EMT on fcc Cu, FC3 supercell of 32 atoms."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from conftest import emt_forces
from numpy.testing import assert_allclose
from phono3py import Phono3py

from latdyn.anharmonic import (
    AnharmonicDisplacementSettings,
    run_anharmonic_displacements,
    run_fc2,
    run_fc3,
)
from latdyn.errors import InputError
from latdyn.structure.convert import to_phonopy_atoms

#: Same forces, same solver: only floating-point reordering may differ (eV/Å³).
FC_ATOL = 1e-10
#: Random (4 auto-sized supercells, 0.03 Å) against finite-displacement FC3, relative to max |FC3|.
RANDOM_FC3_RTOL = 0.03
#: phono3py's symmetrized finite-difference FC3 obeys the sum rule to this (relative).
TRADITIONAL_ASR_TOL = 1e-5
#: Fitted FC3 obeys the translational sum rule to this (relative).
ASR_TOL = 1e-8

CONVENTIONAL_2X2X2 = ((-2, 2, 2), (2, -2, 2), (2, 2, -2))


def displaced_forces(perfect, displaced) -> np.ndarray:
    return emt_forces(displaced) - emt_forces([perfect])[0][None]


@pytest.fixture(scope="module")
def cu():
    return bulk("Cu", "fcc", a=3.61)


def settings(**kw) -> AnharmonicDisplacementSettings:
    return AnharmonicDisplacementSettings(fc2_supercell=((2, 0, 0), (0, 2, 0), (0, 0, 2)),
                                          fc3_supercell=CONVENTIONAL_2X2X2, **kw)


@pytest.fixture(scope="module")
def fd(cu):
    disp = run_anharmonic_displacements(cu, settings())
    forces3 = displaced_forces(disp.fc3_supercell, disp.fc3_displaced)
    forces2 = displaced_forces(disp.fc2_supercell, disp.fc2_displaced)
    return disp, forces2, forces3


def test_fc3_equals_phono3py_direct(cu, fd):
    disp, forces2, forces3 = fd
    fc2 = run_fc2(disp.phono3py, forces2)
    fc3 = run_fc3(disp.phono3py, forces3)
    assert (fc3.solver, fc3.method, fc3.n_supercells) == ("symfc", "fd", len(disp.fc3_displaced))
    assert len(disp.fc3_supercell) == 32
    assert not fc3.fc3.flags.writeable

    ph3 = Phono3py(to_phonopy_atoms(cu), supercell_matrix=CONVENTIONAL_2X2X2,
                   phonon_supercell_matrix=np.diag([2, 2, 2]), primitive_matrix=None)
    ph3.generate_fc2_displacements(distance=0.01, is_plusminus=True, is_diagonal=True)
    ph3.generate_displacements(distance=0.03)
    assert len(ph3.supercells_with_displacements) == len(disp.fc3_displaced)
    ph3.forces = displaced_forces(ph3.supercell, ph3.supercells_with_displacements)
    ph3.phonon_forces = displaced_forces(ph3.phonon_supercell,
                                         ph3.phonon_supercells_with_displacements)
    ph3.produce_fc2(fc_calculator="symfc")
    ph3.produce_fc3(fc_calculator="symfc")
    assert_allclose(fc3.fc3, ph3.fc3, atol=FC_ATOL)
    assert_allclose(fc2.force_constants, ph3.fc2, atol=FC_ATOL)
    assert fc3.asr_violation < ASR_TOL
    assert fc2.asr_violation < ASR_TOL


def test_traditional_solver_is_phono3py_symmetrization(cu, fd):
    disp, _, forces3 = fd
    fc3 = run_fc3(disp.phono3py, forces3, solver="traditional")
    ph3 = disp.phono3py
    ph3.forces = forces3
    ph3.produce_fc3()
    ph3.symmetrize_fc3()
    assert_allclose(fc3.fc3, ph3.fc3, atol=FC_ATOL)
    # phono3py's iterative symmetrization trades a little of the sum rule for permutation symmetry
    assert fc3.raw_asr_violation is not None
    assert fc3.asr_violation < TRADITIONAL_ASR_TOL


def test_random_displacements_agree_with_finite_displacements(cu, fd):
    disp_fd, _, forces3 = fd
    reference = run_fc3(disp_fd.phono3py, forces3)
    disp = run_anharmonic_displacements(cu, settings(fc3_method="random", random_seed=1))
    assert disp.phono3py.dataset["displacements"].shape[0] == len(disp.fc3_displaced)
    fc3 = run_fc3(disp.phono3py, displaced_forces(disp.fc3_supercell, disp.fc3_displaced))
    assert fc3.method == "random"
    scale = np.abs(reference.fc3).max()
    assert np.abs(fc3.fc3 - reference.fc3).max() / scale < RANDOM_FC3_RTOL
    assert fc3.asr_violation < ASR_TOL
    with pytest.raises(InputError, match="symfc"):
        run_fc3(disp.phono3py, np.zeros((len(disp.fc3_displaced), 32, 3)), solver="traditional")


def test_random_displacements_are_reproducible(cu):
    a = run_anharmonic_displacements(cu, settings(fc3_method="random", n_random=3, random_seed=7))
    b = run_anharmonic_displacements(cu, settings(fc3_method="random", n_random=3, random_seed=7))
    assert len(a.fc3_displaced) == 3
    for x, y in zip(a.fc3_displaced, b.fc3_displaced, strict=True):
        assert_allclose(x.positions, y.positions)
    offsets = a.fc3_displaced[0].positions - a.fc3_supercell.positions
    assert_allclose(np.linalg.norm(offsets, axis=1), 0.03, atol=1e-10)


@pytest.mark.parametrize("plus_minus, n_supercells", [("auto", 1), (True, 2)])
def test_fc2_from_one_random_pattern_agrees_with_finite_displacements(cu, fd, plus_minus,
                                                                      n_supercells):
    disp_fd, forces2, _ = fd
    reference = run_fc2(disp_fd.phono3py, forces2)
    disp = run_anharmonic_displacements(
        cu, settings(fc2_method="random", random_seed=3, fc2_plus_minus=plus_minus))
    assert len(disp.fc2_displaced) == n_supercells
    offsets = np.array([c.positions - disp.fc2_supercell.positions for c in disp.fc2_displaced])
    assert_allclose(np.linalg.norm(offsets, axis=2), 0.01, atol=1e-10)
    if n_supercells == 2:  # the pattern and its opposite
        assert_allclose(offsets[1], -offsets[0], atol=1e-12)
    fc2 = run_fc2(disp.phono3py, displaced_forces(disp.fc2_supercell, disp.fc2_displaced))
    assert fc2.raw_asr_violation is None and fc2.raw_permutation_asymmetry is None
    scale = np.abs(reference.force_constants).max()
    assert np.abs(fc2.force_constants - reference.force_constants).max() / scale < 1e-3
    assert fc2.asr_violation < ASR_TOL
    with pytest.raises(InputError, match="symfc"):
        run_fc2(disp.phono3py, np.zeros((n_supercells, 8, 3)), solver="traditional")


@pytest.mark.parametrize("kw, match", [
    ({"fc3_method": "md"}, "FC3 method"),
    ({"fc2_method": "md"}, "FC2 method"),
    ({"fc2_n_random": 0}, "random FC2 supercells"),
    ({"n_random": 0}, "random supercells"),
    ({"fc3_distance": 0.0}, "fc3_distance"),
    ({"fc2_plus_minus": "both"}, "fc2_plus_minus"),
])
def test_bad_displacement_settings(kw, match):
    with pytest.raises(InputError, match=match):
        settings(**kw)


def test_unknown_solver(fd):
    disp, _, forces3 = fd
    with pytest.raises(InputError, match="solver"):
        run_fc3(disp.phono3py, forces3, solver="alm")


def test_auto_solver_is_traditional_for_finite_and_symfc_for_random(cu, fd):
    disp_fd, forces2, forces3 = fd
    fc2_fd = run_fc2(disp_fd.phono3py, forces2, solver="auto")
    fc3_fd = run_fc3(disp_fd.phono3py, forces3, solver="auto")
    assert (fc2_fd.solver, fc3_fd.solver) == ("traditional", "traditional")
    assert_allclose(fc3_fd.fc3, run_fc3(disp_fd.phono3py, forces3, "traditional").fc3,
                    atol=FC_ATOL)

    disp = run_anharmonic_displacements(cu, settings(fc3_method="random", n_random=4))
    forces3 = displaced_forces(disp.fc3_supercell, disp.fc3_displaced)
    fc2 = run_fc2(disp.phono3py, forces2, solver="auto")  # finite FC2 displacements
    fc3 = run_fc3(disp.phono3py, forces3, solver="auto")
    assert (fc2.solver, fc3.solver) == ("traditional", "symfc")
    assert_allclose(fc3.fc3, run_fc3(disp.phono3py, forces3, "symfc").fc3, atol=FC_ATOL)


def test_random_plus_minus_pairs(cu, fd):
    disp_fd, _, forces3 = fd
    reference = run_fc3(disp_fd.phono3py, forces3)
    disp = run_anharmonic_displacements(
        cu, settings(fc3_method="random", n_random=3, fc3_plus_minus=True, random_seed=2))
    offsets = disp.phono3py.dataset["displacements"]
    assert offsets.shape == (6, 32, 3) == (len(disp.fc3_displaced), 32, 3)
    assert_allclose(offsets[3:], -offsets[:3], atol=1e-12)  # the patterns, then their opposites
    assert_allclose(np.linalg.norm(offsets, axis=2), 0.03, atol=1e-10)
    fc3 = run_fc3(disp.phono3py, displaced_forces(disp.fc3_supercell, disp.fc3_displaced))
    scale = np.abs(reference.fc3).max()
    assert np.abs(fc3.fc3 - reference.fc3).max() / scale < RANDOM_FC3_RTOL
