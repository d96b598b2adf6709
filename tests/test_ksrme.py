"""The κSRME metrics: hand-computed examples, the reference against itself, failure scores."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXCERPTS

from latdyn.benchmark import (
    FAILURE_SCORE,
    aggregate,
    kappa_average,
    kappa_srd,
    kappa_sre,
    kappa_srme,
    load_reference,
    score_compound,
    select_compounds,
)
from latdyn.errors import InputError
from latdyn.kappa.conductivity import mode_kappa_total

#: Sums of O(10^4) reference numbers reproduce their totals to this relative precision.
REFERENCE_RTOL = 1e-6


@pytest.fixture(scope="module")
def reference():
    """The κSRME excerpt: seven compounds, two or more of each structure type."""
    return load_reference(EXCERPTS)


def _check_reference(reference):
    for compound in reference:
        # mode κ (times weights) sums to the total κ
        total = compound.mode_kappa.sum(axis=(1, 2)) / compound.weights.sum()
        np.testing.assert_allclose(total, compound.kappa, rtol=REFERENCE_RTOL)
        assert compound.atoms.info["mp_id"] == compound.mp_id
        assert compound.weights.sum() == np.prod(compound.q_mesh)


def test_reference_excerpt(reference):
    assert [c.mp_id for c in reference] == ["mp-1265", "mp-2472", "mp-2542", "mp-2653", "mp-661",
                                            "mp-1541", "mp-1639"]
    _check_reference(reference)


@pytest.mark.needs_data
def test_reference_set(data_dir):
    reference = load_reference(data_dir)
    assert len(reference) == 103
    counts = {spg: sum(c.space_group == spg for c in reference) for spg in (225, 216, 186)}
    assert counts == {225: 37, 216: 33, 186: 33}
    _check_reference(reference)
    excerpt = {c.mp_id: c for c in load_reference(EXCERPTS)}
    for compound in reference:  # the excerpt holds the same numbers
        if compound.mp_id in excerpt:
            np.testing.assert_allclose(excerpt[compound.mp_id].mode_kappa, compound.mode_kappa,
                                       rtol=1e-13)
            np.testing.assert_array_equal(excerpt[compound.mp_id].atoms.positions,
                                          compound.atoms.positions)


def test_reference_against_itself_scores_zero(reference):
    for compound in reference:
        prediction = {"kappa": float(compound.kappa[0]), "mode_kappa": compound.mode_kappa[0],
                      "weights": compound.weights}
        score = score_compound(compound.mp_id, compound.name, compound.space_group,
                               float(compound.kappa[0]), compound.mode_kappa[0], prediction)
        assert score.srme == 0.0 and score.srd == 0.0 and not score.failed


def test_hand_computed_example():
    weights = np.array([1.0, 3.0])
    true = np.array([[2.0, 2.0], [1.0, 3.0]])  # κ = 8 / 4 = 2
    pred = np.array([[1.0, 3.0], [2.0, 2.0]])  # κ = 2, but every mode off by 1
    assert kappa_srd(2.0, 2.0) == 0.0
    # 2 * (4 / 4) / (2 + 2)
    assert kappa_srme(pred, true, weights, 2.0, 2.0) == pytest.approx(0.5)
    assert kappa_srme(true, true, weights, 2.0, 2.0) == 0.0
    assert kappa_srd(3.0, 1.0) == pytest.approx(1.0)
    assert kappa_srd(1.0, 3.0) == pytest.approx(-1.0)
    assert kappa_sre(1.0, 3.0) == pytest.approx(1.0)
    assert kappa_srd(float("nan"), 3.0) == -FAILURE_SCORE
    assert kappa_srme(pred * np.nan, true, weights, 2.0, 2.0) == FAILURE_SCORE


def test_kappa_average_voigt():
    assert kappa_average(np.array([1.0, 2.0, 6.0, 100.0, 100.0, 100.0])) == pytest.approx(3.0)


def test_mode_kappa_total_shares_coherence_by_heat_capacity():
    """One q-point, two bands, coherence c between them, heat capacities 1 and 3.

    Matbench Discovery's convention: mode s' receives Σ_s 2 κ_C[s, s'] C_s / (C_s + C_s'),
    i.e. band 0 gets 2c·3/4, band 1 gets 2c·1/4; together the total coherence 2c.
    """
    c = 4.0
    particle = np.zeros((1, 1, 2, 6))
    particle[0, 0, :, :3] = [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    coherence = np.zeros((1, 1, 2, 2, 6))
    coherence[0, 0, 0, 1, :3] = coherence[0, 0, 1, 0, :3] = c
    heat_capacity = np.array([[[1.0, 3.0]]])
    total = mode_kappa_total(particle, coherence, heat_capacity)
    np.testing.assert_allclose(total[0, 0, :, 0], [1.0 + 1.5 * c, 2.0 + 0.5 * c])
    assert total[..., :3].sum() == pytest.approx(particle.sum() + coherence.sum())
    # zero heat capacities (acoustic modes at Γ) give no NaN
    zero = mode_kappa_total(particle, coherence, np.zeros((1, 1, 2)))
    assert np.isfinite(zero).all()


def test_failure_scores():
    mode = np.ones((2, 3))
    failed = score_compound("mp-1", "X", 225, 5.0, mode, None, "RuntimeError: boom")
    assert (failed.srme, failed.sre, failed.srd) == (2.0, 2.0, -2.0)
    assert failed.failed and failed.reason == "RuntimeError: boom"
    imaginary = score_compound("mp-1", "X", 225, 5.0, mode,
                               {"kappa": None, "mode_kappa": None, "imaginary": True})
    assert imaginary.srme == 2.0 and imaginary.sre == 2.0 and imaginary.imaginary
    assert not imaginary.failed
    # κ computed anyway but imaginary modes: SRE from κ, SRME 2
    forced = score_compound("mp-1", "X", 225, 5.0, mode,
                            {"kappa": 5.0, "mode_kappa": mode, "weights": np.ones(2),
                             "imaginary": True})
    assert forced.sre == 0.0 and forced.srme == 2.0
    broken = score_compound("mp-1", "X", 225, 5.0, mode,
                            {"kappa": 5.0, "mode_kappa": mode, "weights": np.ones(2),
                             "symmetry_changed": True})
    assert broken.srme == 2.0 and broken.failed
    metrics = aggregate([failed, imaginary, forced, broken])
    assert metrics.mean_srme == 2.0
    assert metrics.failure_rate == 0.5 and metrics.imaginary_rate == 0.5


def test_select_compounds(reference):
    assert [c.mp_id for c in select_compounds(reference, ["mp-1265"])] == ["mp-1265"]
    assert {c.space_group for c in select_compounds(reference, ["BN"])} == {186, 216}
    assert [c.space_group for c in select_compounds(reference, ["BN-186"])] == [186]
    assert len(select_compounds(reference, subset=5)) == 5
    six = select_compounds(reference, subset=6)
    types = [c.structure_type for c in six]
    assert sorted(types[:3]) == sorted(types[3:]) == ["rocksalt", "wurtzite", "zincblende"]
    assert len({c.mp_id for c in six}) == 6
    with pytest.raises(InputError, match="unknown"):
        select_compounds(reference, ["Unobtainium"])
