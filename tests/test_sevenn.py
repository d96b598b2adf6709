"""A few checks with a real MLIP (SevenNet-0) on 2-atom Si."""

import importlib.util

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from phonopy import Phonopy

from latdyn.errors import ModelError
from latdyn.phonon import PhononSettings
from latdyn.settings import ExecutionSettings
from latdyn.structure.convert import to_phonopy_atoms
from latdyn.workflows.phonons import PhononWorkflowSettings, run_phonon_workflow

pytestmark = [
    pytest.mark.mlip,
    pytest.mark.skipif(importlib.util.find_spec("sevenn") is None,
                       reason="sevenn is not installed (pip install latdyn[sevenn])"),
]

#: MLIPs run in float32: frequencies agree to ~1e-3 THz between evaluation paths.
MLIP_FREQ_ATOL = 2e-3


@pytest.fixture(scope="module")
def model():
    from latdyn.models import load_model

    return load_model("7net-0")


@pytest.fixture(scope="module")
def si_run(model, tmp_path_factory):
    settings = PhononWorkflowSettings(
        model="7net-0", phonons=PhononSettings(band_npoints=11, mesh=(8, 8, 8), t_step=100.0),
        execution=ExecutionSettings(cache_dir=str(tmp_path_factory.mktemp("cache")),
                                    progress=False),
    )
    return run_phonon_workflow(bulk("Si", "diamond", a=5.43), settings, model=model)


def test_si_gamma_acoustic_zero_and_optical_degenerate(si_run):
    gamma = np.sort(si_run.phonons.gamma_frequencies)
    assert np.abs(gamma[:3]).max() < 1e-4
    assert np.ptp(gamma[3:]) < 1e-4
    assert 10.0 < gamma[3] < 17.0
    assert si_run.structure.relax.symmetry_after.number == 227
    assert not si_run.phonons.imaginary.has_imaginary


def test_si_matches_phonopy_with_sevenn_calculator(si_run, model):
    """Independent path: phonopy displacements, SevenNet's ASE calculator, phonopy + symfc."""
    reference = Phonopy(to_phonopy_atoms(si_run.structure.atoms),
                        supercell_matrix=si_run.displacements.settings.supercell_matrix,
                        primitive_matrix=None)
    reference.generate_displacements(distance=0.01, is_plusminus=True)
    forces = []
    for cell in [reference.supercell, *reference.supercells_with_displacements]:
        atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                      pbc=True)
        atoms.calc = model.calculator
        forces.append(atoms.get_forces())
    reference.forces = np.array(forces[1:]) - forces[0]
    reference.produce_force_constants(fc_calculator="symfc")
    reference.run_qpoints(si_run.phonons.band_qpoints)
    np.testing.assert_allclose(si_run.phonons.band_frequencies, reference.qpoints.frequencies,
                               atol=MLIP_FREQ_ATOL)


def test_unsupported_element_refused_before_work(model):
    atoms = Atoms("Es", cell=np.eye(3) * 4, pbc=True)  # einsteinium: not in SevenNet-0
    with pytest.raises(ModelError, match="does not support"):
        model.check_elements(atoms)


def test_batched_backend_equals_calculator(model):
    """The batched SevenNet path gives the calculator's forces (float32 round-off)."""
    from latdyn.forces import ASECalculatorBackend
    from latdyn.forces.sevenn import SevenNetBatchBackend

    backend = model.backend(batch_size=3)
    assert isinstance(backend, SevenNetBatchBackend)
    base = bulk("Si", "diamond", a=5.43, cubic=True)
    structures = []
    for k in range(3):
        atoms = base.copy()
        atoms.positions[k] += [0.03, -0.01, 0.02]
        structures.append(atoms)
    structures.append(bulk("Si", "diamond", a=5.50, cubic=True))  # another cell: fallback path
    reference = ASECalculatorBackend(model.calculator, model.identity).forces(structures)
    np.testing.assert_allclose(backend.forces(structures[:3]), reference[:3], atol=1e-5)
    np.testing.assert_allclose(backend.forces(structures), reference, atol=1e-5)


def test_symmetrized_sevenn_keeps_batching(model):
    """--symmetrize wraps SevenNet's batched backend instead of falling back to one at a time."""
    from latdyn.forces.sevenn import SevenNetBatchBackend
    from latdyn.symmetrize import SymmetrizedBackend, symmetrize_model

    backend = symmetrize_model(model, "spacegroup").backend(batch_size=3)
    assert isinstance(backend, SymmetrizedBackend)
    assert isinstance(backend.inner, SevenNetBatchBackend) and backend.batch_size == 3


def test_residual_forces_from_unit_cell_on_wurtzite(model):
    # wurtzite's site symmetry allows forces along c: an off-equilibrium u gives residual forces
    from latdyn.workflows.phonons import compute_supercell_forces

    unitcell = bulk("AlN", "wurtzite", a=3.11, c=4.98, u=0.36)
    supercell = unitcell.repeat((3, 3, 2))
    backend = model.backend()
    direct, _ = compute_supercell_forces(backend, supercell, [], None, False, "x")
    tiled, _ = compute_supercell_forces(backend, supercell, [], None, False, "x",
                                        unitcell=unitcell)
    assert np.abs(direct[:, 2]).max() > 0.05
    np.testing.assert_allclose(tiled, direct, atol=2e-5)


def test_model_is_built_once_and_without_torchscript_specialization(model):
    """A second load reuses the model; the profiling executor (which re-optimizes SevenNet's
    scripted activation for every new neighbour count) is off once a SevenNet model is loaded."""
    import torch

    from latdyn.models import load_model

    assert load_model("7net-0") is model
    previous = torch._C._jit_set_profiling_executor(False)
    assert previous is False
