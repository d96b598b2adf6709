"""latdyn's tetrahedron integration weights (``latdyn.kappa.tetrahedron``) against phono3py's.

The EMT cells of ``test_collision_kernel`` (rocksalt and wurtzite AuCu; some modes imaginary,
which exercises the clipping at zero and the cutoff): the two weights of every triplet of
every irreducible grid point (``get_triplets_integration_weights``, phonors) and the isotope
weights of every grid point of the mesh (``get_integration_weights``; direct and as
piecewise cubics), plain and with
phono3py's symmetrized tetrahedra; and the isotope linewidths against phono3py's solver.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from phono3py.conductivity.scattering_solvers import IsotopeScatteringSolver
from phono3py.other.isotope import Isotope
from phono3py.phonon3.triplets import get_triplets_integration_weights
from phonopy.phonon.grid import get_ir_grid_points
from phonopy.phonon.tetrahedron_method import get_integration_weights
from test_collision_kernel import STRUCTURES, emt_phono3py

from latdyn.kappa.isotope import KernelIsotope
from latdyn.kappa.tetrahedron import (
    TetrahedronGrid,
    TetrahedronPolynomials,
    integration_weights,
    triplets_integration_weights,
)

CPU = torch.device("cpu")


def solved_interaction(name: str, symmetrize_tetrahedra: bool = False):
    ph3 = emt_phono3py(name)
    ph3.mesh_numbers = STRUCTURES[name][2]
    ph3.init_phph_interaction(symmetrize_tetrahedra=symmetrize_tetrahedra)
    pp = ph3.phph_interaction
    pp.run_phonon_solver()
    return pp


def irreducible_points(pp) -> np.ndarray:
    return pp.bz_grid.grg2bzg[get_ir_grid_points(pp.bz_grid)[0]]


@pytest.mark.parametrize(("name", "symmetrize"),
                         [("rocksalt", False), ("wurtzite", False), ("wurtzite", True)])
def test_triplet_weights_equal_phono3py(name, symmetrize):
    pp = solved_interaction(name, symmetrize)
    frequencies = pp.phonons.frequencies
    assert (frequencies < 0).any()  # imaginary modes: the clipping at zero is exercised
    tetrahedra = TetrahedronGrid(pp.bz_grid, symmetrize, CPU)
    on_grid = torch.as_tensor(frequencies)
    for grid_point in irreducible_points(pp):
        pp.set_grid_point(grid_point)
        triplets = pp.get_triplets_at_q()[0]
        f0 = np.array(frequencies[grid_point], dtype="double")
        expected, g_zero = get_triplets_integration_weights(pp, f0, None)
        mine = triplets_integration_weights(
            torch.as_tensor(f0), on_grid[tetrahedra.vertices(triplets[:, 1], 1)],
            on_grid[tetrahedra.vertices(triplets[:, 2], -1)], tetrahedra.central).numpy()
        assert mine.shape == expected.shape
        assert np.abs(expected).max() > 0
        assert np.abs(mine - expected).max() <= 1e-10 * np.abs(expected).max(), grid_point
        # what phono3py skips (g_zero) has zero weights here too
        assert not mine[:, g_zero.astype(bool)].any()


@pytest.mark.parametrize(("name", "symmetrize"),
                         [("rocksalt", False), ("wurtzite", False), ("wurtzite", True)])
def test_isotope_weights_equal_phono3py(name, symmetrize):
    pp = solved_interaction(name, symmetrize)
    frequencies = pp.phonons.frequencies
    tetrahedra = TetrahedronGrid(pp.bz_grid, symmetrize, CPU)
    points = pp.bz_grid.grg2bzg
    vertex_values = torch.as_tensor(frequencies)[tetrahedra.vertices(points)]
    n_band = frequencies.shape[1]
    values = vertex_values.permute(0, 3, 1, 2).reshape(-1, tetrahedra.n_tetrahedra, 4)
    polynomials = TetrahedronPolynomials(values.contiguous(), tetrahedra.central)
    for grid_point in irreducible_points(pp):
        f0 = np.array(frequencies[grid_point], dtype="double")
        expected = get_integration_weights(f0, frequencies, pp.bz_grid, grid_points=points,
                                           symmetrize_tetrahedra=symmetrize)
        assert np.abs(expected).max() > 0
        for mine in (integration_weights(values, tetrahedra.central, torch.as_tensor(f0)),
                     polynomials.weights(torch.as_tensor(f0))):
            mine = mine.view(len(points), n_band, len(f0)).permute(0, 2, 1).numpy()
            assert np.abs(mine - expected).max() <= 1e-10 * np.abs(expected).max(), grid_point


def test_isotope_linewidths_equal_phono3py():
    """KernelIsotope against phono3py's IsotopeScatteringSolver at every irreducible point."""
    pp = solved_interaction("wurtzite")
    isotope = Isotope(pp.mesh_numbers, pp.primitive, bz_grid=pp.bz_grid,
                      cutoff_frequency=pp.cutoff_frequency)
    isotope.set_phonons(pp.phonons, dm=pp.dynamical_matrix)
    solver = IsotopeScatteringSolver(isotope, [None])
    mine = KernelIsotope(solver, pp, [None], CPU)
    for grid_point in irreducible_points(pp):
        expected = solver.compute(grid_point)
        assert expected.max() > 0
        assert_allclose(mine.compute(grid_point), expected, rtol=1e-10,
                        atol=1e-12 * expected.max())
    assert not KernelIsotope.applies(solver, [0.1])


@pytest.mark.parametrize("name", ["rocksalt", "wurtzite"])
def test_linewidths_with_batched_triplet_weights(name):
    """KernelScattering with latdyn's triplet weights (the CUDA default, here on the CPU) gives
    phonors-weight linewidths."""
    from latdyn.kappa.scattering import KernelScattering

    pp = solved_interaction(name)
    temperatures = [300.0]
    plain = KernelScattering(pp, temperatures)
    batched = KernelScattering(pp, temperatures)
    assert not plain.batched_weights
    batched.batched_weights = True
    for grid_point in irreducible_points(pp):
        expected = plain.compute(grid_point).gamma
        assert_allclose(batched.compute(grid_point).gamma, expected, rtol=1e-10,
                        atol=1e-12 * max(expected.max(), 1e-30))
