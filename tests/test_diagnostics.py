"""Symmetry diagnostics: Γ degenerate sets and splitting, equivariance, raw FC checks, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from test_symmetrize import rattled, run_command

from latdyn.diagnostics import (
    DEFAULT_CHECK_MODES,
    FULL_CHECK_MODES,
    CheckSettings,
    check_model,
    check_verdict,
    equivariance_error,
    gamma_modes,
    plan_check,
)
from latdyn.diagnostics.check import unsymmetrized_displacements
from latdyn.diagnostics.gamma import degenerate_subspaces, point_group_representation
from latdyn.forces import ASECalculatorBackend, evaluate_forces
from latdyn.harmonic import run_fc2
from latdyn.models.registry import LoadedModel, load_model
from latdyn.models.testing import anisotropic_emt, nonconservative_emt
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_ase_atoms
from latdyn.symmetrize import SymmetrizedCalculator

#: Degenerate frequencies away from zero agree to this (THz).
DEGENERATE_THZ = 1e-6
#: Near-zero (acoustic) frequencies are square roots of round-off: looser (THz).
ACOUSTIC_THZ = 1e-5


class PinnedEMT(Calculator):
    """EMT plus a spring pulling every atom to its reference position: breaks translations."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, reference: np.ndarray, stiffness: float = 0.5):
        super().__init__()
        self.reference, self.stiffness = reference, stiffness

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = EMT()
        shift = self.atoms.positions - self.reference
        energy = work.get_potential_energy() + 0.5 * self.stiffness * np.sum(shift**2)
        forces = work.get_forces() - self.stiffness * shift
        self.results.update(energy=energy, free_energy=energy, forces=forces)


class TiltedEMT(Calculator):
    """EMT forces multiplied by a fixed anisotropic matrix: cheap, not equivariant."""

    implemented_properties = ["energy", "free_energy", "forces"]
    tilt = np.array([[1.0, 0.01, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.02]])

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = EMT()
        energy = work.get_potential_energy()
        self.results.update(energy=energy, free_energy=energy,
                            forces=work.get_forces() @ self.tilt.T)


@pytest.fixture
def nial() -> Atoms:
    """B2 NiAl: cubic (Oh) with an optical triplet at Γ."""
    return Atoms("NiAl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=[2.88] * 3,
                 pbc=True)


def raw_force_constants(atoms: Atoms, calc: Calculator):
    """Finite differences of every atom along ±x, ±y, ±z in the 1x1x1 cell (Γ exact)."""
    phonon = unsymmetrized_displacements(atoms, np.eye(3, dtype=int), 0.01)
    backend = ASECalculatorBackend(calc, "test")
    cells = [to_ase_atoms(c) for c in phonon.supercells_with_displacements]
    residual = evaluate_forces(backend, [to_ase_atoms(phonon.supercell)], progress=False)
    forces = evaluate_forces(backend, cells, progress=False).forces - residual.forces[0]
    return phonon, run_fc2(phonon, forces, solver="traditional")


def test_degenerate_sets_follow_the_irreps():
    rng = np.random.default_rng(0)
    wurtzite = bulk("AlN", "wurtzite", a=3.11, c=4.98)
    for atoms, dims in [(wurtzite, [1, 1, 1, 1, 2, 2, 2, 2]), (bulk("Cu", "fcc", a=3.6), [3])]:
        representation = point_group_representation(atoms)
        n = 3 * len(atoms)
        for matrix in (rng.standard_normal((n, n)), np.zeros((n, n))):
            subspaces = degenerate_subspaces(matrix, representation)
            assert sorted(s.shape[1] for s in subspaces) == dims


def test_gamma_splitting_detected(nial):
    phonon, fc = raw_force_constants(nial, anisotropic_emt())
    raw = gamma_modes(phonon, fc.force_constants)
    assert [len(s) for s in raw.degenerate_sets] == [3, 3]
    assert raw.max_splitting > 1e-2
    acoustic, optical = raw.degenerate_sets
    assert raw.max_optical_splitting == pytest.approx(optical[-1] - optical[0])
    assert raw.max_optical_splitting > 1e-2


def test_gamma_triplets_degenerate_after_o3_average(nial):
    phonon, fc = raw_force_constants(nial, TiltedEMT())
    assert gamma_modes(phonon, fc.force_constants).max_splitting > 1e-2
    averaged = SymmetrizedCalculator(TiltedEMT(), rotations=3, include_inversion=False)
    phonon, fc = raw_force_constants(nial, averaged)
    gamma = gamma_modes(phonon, fc.force_constants)
    acoustic, optical = gamma.degenerate_sets
    assert optical[-1] - optical[0] < DEGENERATE_THZ
    assert gamma.max_optical_splitting == pytest.approx(optical[-1] - optical[0])
    assert optical[0] > 5.0
    assert max(abs(f) for f in acoustic) < ACOUSTIC_THZ
    assert gamma.max_acoustic < ACOUSTIC_THZ


def test_equivariance_error_detects_anisotropy():
    probe = rattled(bulk("Cu", "fcc", a=3.61, cubic=True))
    assert equivariance_error(EMT(), probe, n_rotations=2).error < 1e-10
    result = equivariance_error(anisotropic_emt(), probe, n_rotations=2)
    assert result.error > 1e-4 and result.rms_force > 0.1


def test_raw_force_constants_detect_nonconservative_part(nial):
    _, conservative = raw_force_constants(nial, EMT())
    _, curl = raw_force_constants(nial, nonconservative_emt())
    assert conservative.raw_permutation_asymmetry < 1e-8
    assert curl.raw_permutation_asymmetry > 1e-4


def test_sum_rule_violation_detected(nial):
    phonon, fc = raw_force_constants(nial, PinnedEMT(nial.positions.copy()))
    assert fc.raw_asr_violation > 1e-2
    gamma = gamma_modes(phonon, fc.force_constants)
    assert gamma.max_acoustic > 0.1
    assert np.ptp(gamma.acoustic_frequencies) < DEGENERATE_THZ  # pinning is isotropic


def test_check_model_emt_is_clean(nial):
    settings = CheckSettings(modes=("none", "spacegroup"), supercell=(1, 1, 1),
                             n_probe_rotations=2, execution=ExecutionSettings(progress=False))
    check = check_model(nial, load_model("emt"), settings)
    assert [m.mode for m in check.modes] == ["none", "spacegroup"]
    assert check.n_displacements == 12
    for mode in check.modes:
        assert mode.equivariance.error < 1e-10
        assert mode.force_constants.raw_permutation_asymmetry < 1e-8
        assert mode.gamma.max_splitting < ACOUSTIC_THZ
    assert check.modes[0].cost_multiplier == 1.0
    # 12 displaced supercells, the undisplaced one and the probe with its 2 rotations
    assert [m.n_evaluations for m in check.modes] == [16, 16]
    assert check_verdict(check).startswith("verdict: no symmetrization needed")


def test_plan_counts_the_o3_evaluations(nial):
    settings = CheckSettings(modes=FULL_CHECK_MODES, supercell=(1, 1, 1), n_probe_rotations=2,
                             execution=ExecutionSettings(progress=False))
    plan = plan_check(nial, load_model("emt"), settings)
    assert plan.evaluations == {"none": 16, "spacegroup": 16, "o3": 16 * 48, "full": 16 * 48}
    assert plan.seconds_per_evaluation > 0
    assert plan.estimated_seconds == pytest.approx(plan.total_evaluations
                                                   * plan.seconds_per_evaluation)
    assert CheckSettings().modes == DEFAULT_CHECK_MODES == ("none", "spacegroup")


def test_verdict_recommends_the_cheapest_mode_that_restores_degeneracy(nial):
    settings = CheckSettings(modes=("none", "spacegroup", "o3"), supercell=(1, 1, 1),
                             rotations=3, n_probe_rotations=1,
                             execution=ExecutionSettings(progress=False))
    model = LoadedModel(name="tilted", calculator=TiltedEMT(), package="ase", version="0",
                        dtype="float64", device="cpu")
    check = check_model(nial, model, settings)
    by_mode = {m.mode: m for m in check.modes}
    assert by_mode["none"].gamma.max_optical_splitting > 1e-2
    assert by_mode["o3"].cost_multiplier == 48
    verdict = check_verdict(check)
    assert verdict.startswith("verdict: symmetrization needed for phonons")
    cheapest = min((m for m in check.modes if m.mode != "none"
                    and m.gamma.max_optical_splitting <= 0.01), key=lambda m: m.cost_multiplier)
    assert f"--symmetrize {cheapest.mode}" in verdict


def test_cli_check_model(tmp_path, nial):
    from ase.io import write

    poscar = tmp_path / "POSCAR"
    write(poscar, nial, format="vasp")
    out = tmp_path / "check"
    argv = [str(poscar), "--model", "latdyn.models.testing:nonconservative_emt", "--modes",
            "none,spacegroup", "--supercell", "1", "1", "1", "--no-progress", "--out", str(out)]
    assert run_command("check-model", argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    table = (out / "table.txt").read_text()
    assert table.startswith("mode") and table.splitlines()[-1].startswith("verdict: ")
    assert summary["verdict"] == table.splitlines()[-1]
    assert [m["n_evaluations"] for m in summary["modes"]] == [18, 18]
    none, projected = summary["modes"]
    assert none["raw_permutation_asymmetry"] > 1e-4
    assert none["equivariance"]["error"] > 1e-4
    assert projected["symmetrization"]["symmetrize"] == "spacegroup"
    assert summary["structure"]["space_group"] == "Pm-3m (221)"
    bad = [str(poscar), "--model", "emt", "--modes", "none,sideways", "--out", str(out)]
    assert run_command("check-model", bad) == 2
    both = [str(poscar), "--model", "emt", "--modes", "none", "--full", "--out", str(out)]
    assert run_command("check-model", both) == 2
