"""The harmonic pipeline on fcc Cu with EMT: physics invariants and phonopy cross-checks."""

import numpy as np
import pytest
from ase.build import bulk, make_supercell
from ase.calculators.emt import EMT
from phonopy import Phonopy

from latdyn.forces import ForceCache, evaluate_forces
from latdyn.harmonic import asr_violation, permutation_asymmetry
from latdyn.models import load_model
from latdyn.phonon import PhononSettings
from latdyn.relax import RelaxSettings, run_relax
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_phonopy_atoms
from latdyn.structure.symmetry import get_symmetry
from latdyn.workflows.phonons import PhononWorkflowSettings, run_phonon_workflow

#: Frequencies (THz) that must agree to round-off.
FREQ_ATOL = 1e-5

FAST_PHONONS = PhononSettings(band_npoints=11, mesh=(8, 8, 8), t_step=50.0)


@pytest.fixture(scope="module")
def cu_run(tmp_path_factory):
    settings = PhononWorkflowSettings(
        model="emt", min_length=7.0, phonons=FAST_PHONONS,
        execution=ExecutionSettings(cache_dir=str(tmp_path_factory.mktemp("cache")),
                                    progress=False),
    )
    return run_phonon_workflow(bulk("Cu", "fcc", a=3.7), settings)


def test_relaxation_keeps_symmetry_and_converges(cu_run):
    relax = cu_run.structure.relax
    assert relax.converged
    assert relax.symmetry_before.number == relax.symmetry_after.number == 225
    assert relax.max_force < 1e-4
    assert 3.55 < cu_run.structure.atoms.cell.lengths()[0] * np.sqrt(2) < 3.65


def test_acoustic_modes_vanish_at_gamma(cu_run):
    gamma = cu_run.phonons.gamma_frequencies
    assert gamma.shape == (3,)
    assert np.abs(gamma).max() < FREQ_ATOL
    assert not cu_run.phonons.imaginary.has_imaginary


def test_force_constants_obey_sum_rules(cu_run):
    fc = cu_run.force_constants
    assert fc.asr_violation < 1e-10
    assert permutation_asymmetry(fc.force_constants) < 1e-10
    # EMT is conservative: the raw finite-difference constants are nearly symmetric too.
    assert fc.raw_permutation_asymmetry < 1e-3


def test_frequencies_equal_phonopy_from_same_force_sets(cu_run):
    displacements = cu_run.displacements
    reference = Phonopy(
        to_phonopy_atoms(cu_run.structure.atoms),
        supercell_matrix=displacements.settings.supercell_matrix,
        primitive_matrix=None,
    )
    reference.dataset = displacements.phonopy.dataset
    reference.forces = np.array(cu_run.force_sets.forces) - cu_run.residual_forces
    reference.produce_force_constants(fc_calculator="symfc")
    qpoints = cu_run.phonons.band_qpoints
    reference.run_qpoints(qpoints)
    np.testing.assert_allclose(
        cu_run.phonons.band_frequencies, reference.qpoints.frequencies, atol=FREQ_ATOL
    )


def test_band_degeneracy_along_gamma_x(cu_run):
    """Along Γ-X of fcc the two transverse branches are degenerate."""
    phonons = cu_run.phonons
    first = slice(phonons.band_segment_starts[0], phonons.band_segment_starts[1])
    frequencies = np.sort(phonons.band_frequencies[first], axis=1)
    np.testing.assert_allclose(frequencies[:, 0], frequencies[:, 1], atol=1e-6)


def test_thermal_properties_sane(cu_run):
    phonons = cu_run.phonons
    assert phonons.temperatures[0] == 0 and phonons.temperatures[-1] == 1000
    # Dulong-Petit: Cv -> 3R per atom at high temperature
    assert phonons.heat_capacity[-1] == pytest.approx(3 * 8.314462618, rel=0.02)
    assert np.all(np.diff(phonons.entropy) >= -1e-9)


def test_cache_prevents_recomputation(tmp_path):
    settings = PhononWorkflowSettings(model="emt", relax=False, min_length=7.0,
                                      phonons=FAST_PHONONS,
                                      execution=ExecutionSettings(cache_dir=str(tmp_path),
                                                                  progress=False))
    first = run_phonon_workflow(bulk("Cu", "fcc", a=3.61), settings)
    second = run_phonon_workflow(bulk("Cu", "fcc", a=3.61), settings)
    assert first.force_sets.n_computed == first.displacements.n_supercells > 0
    assert second.force_sets.n_computed == 0
    assert second.force_sets.n_cached == first.displacements.n_supercells
    np.testing.assert_array_equal(first.phonons.band_frequencies,
                                  second.phonons.band_frequencies)


class CountingBackend:
    batch_size = 2
    identity = "counting-emt"

    def __init__(self):
        self.calls = 0

    def forces(self, structures):
        self.calls += len(structures)
        out = []
        for atoms in structures:
            work = atoms.copy()
            work.calc = EMT()
            out.append(work.get_forces())
        return np.array(out)


def test_evaluate_forces_batches_and_caches(tmp_path):
    backend = CountingBackend()
    cache = ForceCache(tmp_path)
    structures = []
    for seed in range(5):
        atoms = bulk("Cu", "fcc", a=3.61) * (2, 2, 2)
        atoms.rattle(0.01, seed=seed)
        structures.append(atoms)
    first = evaluate_forces(backend, structures, cache, progress=False)
    assert backend.calls == 5 and first.n_computed == 5
    second = evaluate_forces(backend, structures, cache, progress=False)
    assert backend.calls == 5 and second.n_cached == 5
    np.testing.assert_array_equal(first.forces, second.forces)
    one_by_one = [evaluate_forces(backend, [s], None, progress=False).forces[0]
                  for s in structures]
    np.testing.assert_allclose(first.forces, np.array(one_by_one), atol=1e-12)


def test_relax_strained_cell_keeps_space_group():
    model = load_model("emt")
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.set_cell(atoms.cell * 1.03, scale_atoms=True)
    result = run_relax(atoms, model.calculator, RelaxSettings(fmax=1e-4, optimizer="BFGS"))
    assert result.converged
    assert get_symmetry(result.atoms).number == 225
    assert result.atoms.cell.lengths()[0] == pytest.approx(3.59, abs=0.02)


def test_asr_violation_detects_broken_constants():
    fc = np.zeros((2, 2, 3, 3))
    fc[0, 0] = fc[1, 1] = np.eye(3)
    fc[0, 1] = fc[1, 0] = -np.eye(3)
    assert asr_violation(fc) == pytest.approx(0.0)
    fc[0, 1] *= 0.9
    assert asr_violation(fc) == pytest.approx(0.1)


def test_residual_forces_from_unit_cell_equal_supercell_ones():
    # a distorted two-atom cell: non-zero residual forces, no symmetry to hide a wrong map
    from latdyn.structure.supercell import unitcell_indices
    from latdyn.workflows.phonons import compute_supercell_forces

    unitcell = bulk("Cu", "fcc", a=3.6).repeat((2, 1, 1))
    unitcell.positions[1] += [0.05, -0.03, 0.02]
    supercell = make_supercell(unitcell, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    backend = load_model("emt").backend()
    direct, _ = compute_supercell_forces(backend, supercell, [], None, False, "x")
    tiled, evaluation = compute_supercell_forces(backend, supercell, [], None, False, "x",
                                                 unitcell=unitcell)
    assert np.abs(direct).max() > 0.05
    np.testing.assert_allclose(tiled, direct, atol=1e-10)
    indices = unitcell_indices(unitcell, supercell)
    assert np.bincount(indices).tolist() == [4, 4]
    with pytest.raises(ValueError, match="repeats 0 unit-cell atoms"):
        unitcell_indices(bulk("Cu", "fcc", a=3.7), supercell)


class _SizeRecordingEMT(EMT):
    """EMT that records the number of atoms of every evaluation."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        self.sizes.append(len(atoms))
        super().calculate(atoms, properties, system_changes or ["positions"])


@pytest.mark.parametrize("small_cells_exact", [True, False])
def test_residual_forces_from_the_supercell_when_small_cells_are_not_exact(small_cells_exact):
    import dataclasses

    calculator = _SizeRecordingEMT()
    model = dataclasses.replace(load_model("emt"), calculator=calculator,
                                small_cells_exact=small_cells_exact)
    settings = PhononWorkflowSettings(model="emt", relax=False, min_length=7.0,
                                      phonons=FAST_PHONONS,
                                      execution=ExecutionSettings(use_cache=False,
                                                                  progress=False))
    result = run_phonon_workflow(bulk("Cu", "fcc", a=3.6), settings, model=model)
    n_supercell = len(result.displacements.supercell)
    residual_size = len(result.structure.atoms) if small_cells_exact else n_supercell
    assert residual_size in calculator.sizes
    assert (1 in calculator.sizes) is small_cells_exact
    assert np.abs(result.residual_forces).max() < 1e-10
