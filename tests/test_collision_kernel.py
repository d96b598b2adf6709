"""latdyn's collision kernel (``latdyn.kappa.collision``) against phono3py's own.

EMT force constants (finite differences, phono3py's fit) of AuCu in three binary structures,
a rocksalt, a zincblende and a wurtzite cell, 2x2x2 (wurtzite 2x2x1) FC3 supercells of the
primitive cell:
EMT is no physics for these compounds (some modes are imaginary, which phono3py's cutoff
leaves out like the kernel does), but the interaction strength, linewidths and κ are numbers
computed from the same FC2/FC3, so they must agree with phono3py's to round-off.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from numpy.testing import assert_allclose
from phono3py import Phono3py
from phono3py.phonon3.fc3 import compact_fc3_to_full_fc3
from phonopy.phonon.grid import get_ir_grid_points

from latdyn.errors import InputError
from latdyn.kappa import KappaSettings, run_kappa
from latdyn.kappa.collision import CollisionKernel, resolve_device
from latdyn.structure.convert import to_ase_atoms, to_phonopy_atoms

#: |Φ|² elements below this fraction of the largest are negligible.
NEGLIGIBLE = 1e-10
#: name -> (structure, FC3 supercell, q-mesh)
STRUCTURES = {
    "rocksalt": (lambda: bulk("AuCu", "rocksalt", a=5.0), (2, 2, 2), (4, 4, 4)),
    "zincblende": (lambda: bulk("AuCu", "zincblende", a=5.6), (2, 2, 2), (5, 5, 5)),
    "wurtzite": (lambda: bulk("AuCu", "wurtzite", a=3.9, c=6.4), (2, 2, 1), (4, 4, 3)),
}


@functools.lru_cache
def emt_dataset(name: str) -> dict:
    """phono3py's displacement dataset of ``name`` with EMT forces."""
    ph3 = Phono3py(to_phonopy_atoms(STRUCTURES[name][0]()),
                   supercell_matrix=np.diag(STRUCTURES[name][1]), primitive_matrix="auto")
    ph3.generate_displacements(distance=0.03)
    forces = []
    for cell in ph3.supercells_with_displacements:
        supercell = to_ase_atoms(cell)
        supercell.calc = EMT()
        forces.append(supercell.get_forces())
    ph3.forces = np.array(forces)
    return ph3.dataset


def emt_phono3py(name: str, **options) -> Phono3py:
    ph3 = Phono3py(to_phonopy_atoms(STRUCTURES[name][0]()),
                   supercell_matrix=np.diag(STRUCTURES[name][1]), primitive_matrix="auto",
                   **options)
    ph3.dataset = copy.deepcopy(emt_dataset(name))
    ph3.produce_fc3()
    ph3.produce_fc2()
    return ph3


@pytest.fixture(scope="module", params=list(STRUCTURES))
def cell(request):
    return request.param, emt_phono3py(request.param)


def assert_interaction_equal(ph3: Phono3py, mesh) -> None:
    """|Φ|² of every triplet of every irreducible grid point, all band triples."""
    ph3.mesh_numbers = mesh
    ph3.init_phph_interaction()
    pp = ph3.phph_interaction
    pp.run_phonon_solver()
    kernel = CollisionKernel(pp)
    ir_points, _, _ = get_ir_grid_points(pp.bz_grid)
    for grid_point in pp.bz_grid.grg2bzg[ir_points]:
        pp.set_grid_point(grid_point)
        triplets = pp.get_triplets_at_q()[0]
        pp.run()
        expected = pp.interaction_strength
        mine = kernel.interaction_strength(triplets).numpy()
        assert mine.shape == expected.shape
        large = np.abs(expected) > NEGLIGIBLE * np.abs(expected).max()
        assert large.any()
        relative = np.abs(mine - expected)[large] / expected[large]
        assert relative.max() <= 1e-8, (grid_point, relative.max())
        assert np.abs(mine[~large]).max() <= 1e-8 * np.abs(expected).max()


def test_interaction_strength_equals_phono3py(cell):
    name, ph3 = cell
    assert_interaction_equal(ph3, STRUCTURES[name][2])


@pytest.mark.parametrize("r0_average", [True, False])
def test_interaction_strength_full_fc3_and_r0_average(r0_average):
    """Full (not compact) FC3, with and without phono3py's r0 average."""
    ph3 = emt_phono3py("rocksalt", make_r0_average=r0_average)
    ph3.fc3 = compact_fc3_to_full_fc3(ph3.primitive, ph3.fc3)
    assert ph3.fc3.shape[0] == ph3.fc3.shape[1]
    assert_interaction_equal(ph3, (3, 3, 3))


def kappa_pair(ph3: Phono3py, **settings):
    kappas = {kernel: run_kappa(ph3, KappaSettings(kernel=kernel, **settings))
              for kernel in ("phono3py", "latdyn")}
    return kappas["phono3py"], kappas["latdyn"]


@pytest.mark.parametrize("method", ["rta", "wigner"])
def test_linewidths_and_kappa_equal_phono3py(cell, method):
    name, ph3 = cell
    expected, mine = kappa_pair(ph3, mesh=STRUCTURES[name][2], temperatures=(0.0, 300.0, 900.0),
                                method=method, isotope=True, boundary_mfp=0.5)
    assert mine.kernel == "latdyn" and expected.kernel == "phono3py"
    assert_allclose(mine.gamma, expected.gamma, rtol=1e-6, atol=1e-6 * expected.gamma.max())
    # latdyn's isotope kernel (tetrahedron weights as cubics): round-off of order 1e-12
    assert_allclose(mine.gamma_isotope, expected.gamma_isotope, rtol=1e-10)
    assert_allclose(mine.kappa, expected.kappa, rtol=1e-6, atol=1e-6 * np.abs(expected.kappa).max())
    assert np.abs(expected.kappa[1:, :3]).min() > 0
    assert {"interaction", "integration_weights", "imag_self_energy", "isotope",
            "assembly"} <= set(mine.timings)
    assert {"collision", "isotope", "assembly"} <= set(expected.timings)


def test_nac_kappa_equals_phono3py():
    """Non-analytic correction (Born charges ±2, ε = 10): phonons with NAC are phono3py's."""
    ph3 = emt_phono3py("rocksalt")
    ph3.nac_params = {"born": np.array([2 * np.eye(3), -2 * np.eye(3)]),
                      "dielectric": 10 * np.eye(3), "factor": 14.399652}
    expected, mine = kappa_pair(ph3, mesh=(4, 4, 4), temperatures=(300.0,), method="wigner")
    assert_allclose(mine.gamma, expected.gamma, rtol=1e-6, atol=1e-6 * expected.gamma.max())
    assert_allclose(mine.kappa, expected.kappa, rtol=1e-6, atol=1e-6 * np.abs(expected.kappa).max())


def test_default_kernel_is_latdyns_for_isotopes_too():
    """The default (kernel None, RTA) uses latdyn's isotope solver, not only its three-phonon
    one: its isotope linewidths are those of ``kernel="latdyn"`` to the bit (phono3py's differ
    by round-off)."""
    ph3 = emt_phono3py("rocksalt")
    settings = dict(mesh=(4, 4, 4), temperatures=(300.0,), method="rta", isotope=True)
    default = run_kappa(ph3, KappaSettings(**settings))
    latdyn = run_kappa(ph3, KappaSettings(kernel="latdyn", **settings))
    assert default.kernel == "latdyn"
    assert np.array_equal(default.gamma_isotope, latdyn.gamma_isotope)


def test_kernel_settings():
    assert KappaSettings().linewidth_kernel == "latdyn"
    assert KappaSettings(method="lbte").linewidth_kernel == "phono3py"
    with pytest.raises(InputError, match="LBTE needs phono3py's full collision matrix"):
        KappaSettings(method="lbte", kernel="latdyn")
    with pytest.raises(InputError, match="unknown κ kernel"):
        KappaSettings(kernel="fortran")


def test_device_selection(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cuda").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")


def test_cuda_request_runs_where_torch_can():
    """``device="cuda"`` runs on the GPU when torch has one, else on the CPU, same κ."""
    from latdyn.kappa.scattering import KernelScattering

    ph3 = emt_phono3py("rocksalt")
    cpu = run_kappa(ph3, KappaSettings(mesh=(3, 3, 3), method="rta"))
    cuda = run_kappa(ph3, KappaSettings(mesh=(3, 3, 3), method="rta", device="cuda"))
    assert_allclose(cuda.kappa, cpu.kappa, rtol=1e-10)
    solver = KernelScattering(ph3.phph_interaction, [300.0], device="cuda")
    assert solver.kernel.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_triplet_batches_give_the_same_linewidths(monkeypatch):
    """Triplets in batches (memory bound) share the grid point's DFT: same Γ as one batch."""
    from latdyn.kappa import scattering

    ph3 = emt_phono3py("rocksalt")
    settings = KappaSettings(mesh=(4, 4, 4), method="rta")
    whole = run_kappa(ph3, settings)
    monkeypatch.setattr(scattering, "TRIPLET_BATCH_ELEMENTS", 2 * 6 * 6**3 * 3)
    batched = run_kappa(ph3, settings)
    assert_allclose(batched.gamma, whole.gamma, rtol=1e-12, atol=1e-14)
