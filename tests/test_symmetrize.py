"""Symmetrized predictions: quadrature, space-group projection, O(3) averaging, integration."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list
from conftest import REPO, sevenn_installed

from latdyn.diagnostics import equivariance_error
from latdyn.errors import InputError
from latdyn.forces import ASECalculatorBackend
from latdyn.models.registry import load_model
from latdyn.models.testing import anisotropic_emt, nonconservative_emt
from latdyn.symmetrize import (
    SymmetrizationSettings,
    SymmetrizedBackend,
    SymmetrizedCalculator,
    find_operations,
    o3_quadrature,
    symmetrization_record,
    symmetrize_model,
    unwrapped_model,
)

#: Round-off tolerance of float64 force arithmetic (eV/Å).
ROUND_OFF = 1e-10


class HighDegreeCalculator(Calculator):
    """EMT plus a pair energy ``a w(r) exp(k cos θ)``, θ the angle to z: anisotropic at every
    angular degree, so no finite rotation quadrature makes it exactly equivariant."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, strength: float = 0.02, sharpness: float = 1.0):
        super().__init__()
        self.strength, self.sharpness = strength, sharpness

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = EMT()
        energy, forces = work.get_potential_energy(), np.array(work.get_forces())
        i, j, vectors = neighbor_list("ijD", self.atoms, 4.0)
        r = np.linalg.norm(vectors, axis=1)
        unit = vectors / r[:, None]
        cos = unit[:, 2]
        w = np.exp(-((r / 2.5) ** 2))
        pair = self.strength * w * np.exp(self.sharpness * cos)
        energy += 0.5 * pair.sum()
        z = np.array([0.0, 0.0, 1.0])
        grad = pair[:, None] * (-2.0 * r[:, None] / 2.5**2 * unit
                                + self.sharpness * (z[None] - cos[:, None] * unit) / r[:, None])
        np.add.at(forces, i, 0.5 * grad)
        np.add.at(forces, j, -0.5 * grad)
        self.results.update(energy=energy, free_energy=energy, forces=forces)


@pytest.fixture
def cu_cubic() -> Atoms:
    return bulk("Cu", "fcc", a=3.61, cubic=True)


def rattled(atoms: Atoms, seed: int = 1, scale: float = 0.05) -> Atoms:
    out = atoms.copy()
    out.positions += np.random.default_rng(seed).normal(scale=scale, size=out.positions.shape)
    return out


def predictions(atoms: Atoms, calc: Calculator):
    work = atoms.copy()
    work.calc = calc
    stress = work.get_stress(voigt=False) if "stress" in calc.implemented_properties else None
    return work.get_potential_energy(), work.get_forces(), stress


def test_quadrature_weights_and_exactness():
    for order in (3, 5):
        quadrature = o3_quadrature(order, include_inversion=True)
        rotations, weights = quadrature.rotations, quadrature.weights
        assert np.isclose(weights.sum(), 1.0)
        np.testing.assert_allclose(np.einsum("nij,nkj->nik", rotations, rotations),
                                   np.broadcast_to(np.eye(3), rotations.shape), atol=1e-13)
        # Haar averages: <R> = 0 and <R_ij R_kl> = δ_ik δ_jl / 3.
        np.testing.assert_allclose(np.einsum("n,nij->ij", weights, rotations), 0, atol=1e-13)
        second = np.einsum("n,nij,nkl->ijkl", weights, rotations, rotations)
        np.testing.assert_allclose(second, np.einsum("ik,jl->ijkl", np.eye(3), np.eye(3)) / 3,
                                   atol=1e-13)
    assert o3_quadrature(3, include_inversion=False).size == 6 * 4
    assert o3_quadrature(3, include_inversion=True).size == 6 * 4 * 2


@pytest.mark.parametrize("factory", [anisotropic_emt, nonconservative_emt])
def test_space_group_projection_obeys_site_symmetry(cu_cubic, factory):
    displaced = cu_cubic.copy()
    displaced.positions[0] += 0.02 * np.array([1.0, 1.0, 1.0]) / np.sqrt(3)  # C3v site
    operations = find_operations(displaced, 1e-5)
    assert operations.n_operations == 6
    _, raw, _ = predictions(displaced, factory())
    assert operations.max_force_violation(raw) > 1e-4
    _, projected, stress = predictions(
        displaced, SymmetrizedCalculator(factory(), space_group=True))
    assert operations.max_force_violation(projected) < ROUND_OFF
    np.testing.assert_allclose(operations.project_stress(stress), stress, atol=ROUND_OFF)
    # The perfect cubic crystal: an isotropic stress after projection.
    _, _, cubic_stress = predictions(cu_cubic, SymmetrizedCalculator(factory(), space_group=True))
    np.testing.assert_allclose(cubic_stress, np.trace(cubic_stress) / 3 * np.eye(3), atol=1e-12)


def test_o3_average_makes_test_models_equivariant(cu_cubic):
    probe = rattled(cu_cubic)
    for factory in (anisotropic_emt, nonconservative_emt):
        raw = equivariance_error(factory(), probe, n_rotations=2).error
        averaged = equivariance_error(
            SymmetrizedCalculator(factory(), rotations=3, include_inversion=False), probe,
            n_rotations=2).error
        assert raw > 1e-4
        # Their symmetry breaking is of low angular degree: order 3 integrates it exactly.
        assert averaged < 1e-10


def test_o3_error_falls_with_order(cu_cubic):
    probe = rattled(cu_cubic)
    errors = [equivariance_error(HighDegreeCalculator(), probe, n_rotations=1).error]
    for order in (3, 5):
        calc = SymmetrizedCalculator(HighDegreeCalculator(), rotations=order,
                                     include_inversion=False)
        errors.append(equivariance_error(calc, probe, n_rotations=1).error)
    assert errors[0] > 1e-4
    assert errors[0] > 10 * errors[1] > 100 * errors[2]


def test_equivariant_model_unchanged(cu_cubic):
    probe = rattled(cu_cubic)
    energy, forces, stress = predictions(probe, EMT())
    for kwargs in ({"space_group": True}, {"rotations": 3}, {"rotations": 3, "space_group": True}):
        e, f, s = predictions(probe, SymmetrizedCalculator(EMT(), **kwargs))
        assert abs(e - energy) < ROUND_OFF
        np.testing.assert_allclose(f, forces, atol=ROUND_OFF)
        np.testing.assert_allclose(s, stress, atol=ROUND_OFF)


def test_backend_matches_calculator(cu_cubic):
    structures = [rattled(cu_cubic, seed) for seed in (1, 2)]
    settings = SymmetrizationSettings(rotation_order=3, space_group=True, include_inversion=False)
    backend = SymmetrizedBackend(ASECalculatorBackend(anisotropic_emt(), "aniso"), settings)
    backend.batch_size = 7  # batches cut across structures
    batched = backend.forces(structures)
    calc = SymmetrizedCalculator(anisotropic_emt(), rotations=3, space_group=True,
                                 include_inversion=False)
    single = np.array([predictions(s, calc)[1] for s in structures])
    np.testing.assert_allclose(batched, single, atol=ROUND_OFF)
    assert backend.identity.startswith("aniso|") and "symmetrize=full" in backend.identity
    assert backend.stats.n_model_evaluations == 2 * 24


def test_symmetrize_model_identity_and_record():
    model = load_model("latdyn.models.testing:anisotropic_emt")
    assert symmetrize_model(model, "none") is model
    assert symmetrization_record(model)["evaluations_per_structure"] == 1
    wrapped = symmetrize_model(model, "o3", rotations=5)
    assert wrapped.identity != model.identity
    assert wrapped.options["symmetrize"] == "o3" and wrapped.options["rotations"] == 5
    assert isinstance(wrapped.calculator, SymmetrizedCalculator)
    assert unwrapped_model(wrapped).identity == model.identity
    projected = symmetrize_model(model, "spacegroup")
    assert projected.identity not in (model.identity, wrapped.identity)
    emt = symmetrize_model(load_model("emt"), "full")
    atoms = rattled(bulk("Cu", "fcc", a=3.61))
    atoms.calc = emt.calculator
    atoms.get_forces()
    record = symmetrization_record(emt)
    assert record["evaluations_per_structure"] == 6 * 4 * 2
    assert record["n_model_evaluations"] == 48 and record["measured_cost_multiplier"] > 1


@pytest.mark.parametrize("mode, rotations", [("bogus", None), ("none", 3), ("spacegroup", 5),
                                             ("o3", 4)])
def test_bad_settings_raise_input_error(mode, rotations):
    model = load_model("emt")
    with pytest.raises(InputError):
        symmetrize_model(model, mode, rotations)


def run_command(name: str, argv: list[str]) -> int:
    """Parse and run one latdyn command as ``latdyn.cli.main`` does (exit 2 on LatdynError)."""
    import argparse
    import importlib

    from latdyn.cli.main import COMMANDS
    from latdyn.errors import LatdynError

    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    importlib.import_module(f"latdyn.cli.{COMMANDS[name]}").register(subparsers, name)
    args = parser.parse_args([name, *argv])
    try:
        return int(args.handler(args) or 0)
    except LatdynError:
        return 2


def test_cli_phonons_records_symmetrization(tmp_path):
    import json

    out = tmp_path / "run"
    argv = [str(REPO / "examples" / "Cu" / "POSCAR"), "--model",
            "latdyn.models.testing:nonconservative_emt", "--no-relax", "--supercell", "2", "2",
            "2", "--symmetrize", "spacegroup", "--mesh", "4", "4", "4", "--band-npoints", "5",
            "--no-progress", "--out", str(out)]
    status = run_command("phonons", argv)
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symmetrization"]["symmetrize"] == "spacegroup"
    assert summary["symmetrization"]["evaluations_per_structure"] == 1
    assert summary["model"]["options"]["symmetrize"] == "spacegroup"
    diagnostics = summary["model_diagnostics"]
    assert diagnostics["equivariance_raw_model"]["error"] > 1e-4
    assert diagnostics["gamma_fitted_force_constants"]["max_splitting_THz"] < 1e-5
    bad = [str(REPO / "examples" / "Cu" / "POSCAR"), "--model", "emt", "--rotations", "5",
           "--out", str(tmp_path / "bad")]
    assert run_command("phonons", bad) == 2


@pytest.mark.mlip
def test_sevennet_unchanged_by_symmetrization():
    if not sevenn_installed():
        pytest.skip("sevenn is not installed")
    model = load_model("7net-0")
    silicon = rattled(bulk("Si", "diamond", a=5.43), scale=0.03)
    _, forces, _ = predictions(silicon, model.calculator)
    scale = np.sqrt(np.mean(forces**2))
    for kwargs in ({"space_group": True}, {"rotations": 3, "include_inversion": False}):
        calc = SymmetrizedCalculator(model.calculator, **kwargs)
        _, symmetrized, _ = predictions(silicon, calc)
        # float32 model: round-off is ~1e-6 of the force scale
        assert np.sqrt(np.mean((symmetrized - forces) ** 2)) < 1e-4 * scale


def test_symmetrized_model_wraps_its_family_backend(cu_cubic):
    """A symmetrized model's backend symmetrizes the raw model's own backend, with the
    symmetrized identity and the calculator's statistics, and gives the calculator's forces."""
    from latdyn.forces import ASECalculatorBackend

    model = load_model("latdyn.models.testing:anisotropic_emt")
    wrapped = symmetrize_model(model, "full", rotations=3)
    backend = wrapped.backend()
    assert isinstance(backend, SymmetrizedBackend)
    assert isinstance(backend.inner, ASECalculatorBackend)
    assert backend.identity == wrapped.identity
    structures = [rattled(cu_cubic, seed) for seed in (1, 2)]
    single = np.array([predictions(s, wrapped.calculator)[1] for s in structures])
    evaluations = wrapped.calculator.stats.n_model_evaluations
    np.testing.assert_allclose(backend.forces(structures), single, atol=ROUND_OFF)
    assert wrapped.calculator.stats.n_model_evaluations == 2 * evaluations
