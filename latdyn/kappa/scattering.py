"""latdyn's collision kernel inside phono3py's conductivity machinery.

phono3py's RTA and Wigner calculators ask a *scattering solver* for the three-phonon linewidths
of one grid point at a time (``compute(grid_point) -> ScatteringResult``, the
``ScatteringSolver`` protocol of ``phono3py.conductivity.protocols``). :class:`KernelScattering`
is such a solver: phono3py's triplets, latdyn's tetrahedron integration weights
(:mod:`latdyn.kappa.tetrahedron`, all triplets of a batch at once) and
:class:`~latdyn.kappa.collision.CollisionKernel` for |Φ|², then the imaginary self-energy as a
batched sum. :class:`~latdyn.kappa.isotope.KernelIsotope` does the same for isotope
scattering. :func:`conductivity_calculator` hands it to phono3py's calculator, which keeps
the grid, symmetry, group velocities, heat capacities, isotope and boundary scattering and the
RTA/Wigner assembly.

The LBTE needs the full collision matrix (phono3py's ``CollisionMatrix``, the interaction
strengths of every triplet with the g[2] weights, and for each irreducible grid point the
rotated rows); this kernel provides only the diagonal (linewidths), so LBTE stays phono3py's.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import torch
from phono3py.conductivity.grid_point_data import ScatteringResult
from phono3py.phonon3.imag_self_energy import average_by_degeneracy
from phono3py.phonon3.triplets import get_triplets_at_q, get_triplets_integration_weights
from phonopy.physical_units import get_physical_units

from latdyn.kappa.collision import CollisionKernel, bose_einstein
from latdyn.kappa.tetrahedron import TetrahedronGrid, triplets_integration_weights

#: Elements of the largest per-batch array (|Φ|² or weights, float64) of triplets at once.
TRIPLET_BATCH_ELEMENTS = 2**25


def imag_self_energy_unit() -> float:
    """phono3py's factor from Σ w |Φ|² g to Γ in THz (``ImagSelfEnergy.unit_conversion_factor``)."""
    units = get_physical_units()
    return (18 * np.pi / (units.Hbar * units.EV) ** 2 / (2 * np.pi * units.THz) ** 2
            * units.EV ** 2)


class KernelScattering:
    """Three-phonon linewidths of a grid point (tetrahedron method) with latdyn's kernel.

    Parameters
    ----------
    interaction
        phono3py's ``Interaction`` (mesh set, phonons solved).
    temperatures
        Temperatures (K).
    device
        Torch device (``cpu`` or ``cuda``; see :func:`~latdyn.kappa.collision.resolve_device`).

    Attributes
    ----------
    seconds
        Time spent per part (``interaction``, ``integration_weights``, ``imag_self_energy``).
    batched_weights
        Triplet integration weights from latdyn's torch batch (default on CUDA) rather than
        phonors' (default on the CPU, where it is faster).
    """

    is_full_pp = False
    gamma_N = None
    gamma_U = None
    gamma_detail_at_q = None
    supports_rust_batching = False

    def __init__(self, interaction, temperatures, device="cpu"):
        self._pp = interaction
        self._temperatures = np.asarray(temperatures, dtype=float)
        self.kernel = CollisionKernel(interaction, device=device)
        self.seconds: dict[str, float] = defaultdict(float)
        self._unit = imag_self_energy_unit()
        self.batched_weights = self.kernel.device.type == "cuda"
        self._tetrahedra = TetrahedronGrid(interaction.bz_grid, interaction.symmetrize_tetrahedra,
                                           self.kernel.device)

    def compute(self, grid_point: int) -> ScatteringResult:
        """Linewidths Γ at ``grid_point``: ``gamma`` of shape (1, n_temperatures, n_band0)."""
        pp = self._pp
        start = time.perf_counter()
        band_indices = np.asarray(pp.band_indices)
        triplets, weights, g = self._triplets_and_weights(grid_point, band_indices)
        self.seconds["integration_weights"] += time.perf_counter() - start
        n_band = self.kernel.n_band
        n_tetrahedra = self._tetrahedra.n_tetrahedra
        # |Φ|² and g, or the tetrahedron vertex values (3 kinds, 4 vertices)
        per_triplet = max(2 * len(band_indices) * n_band**3, 12 * n_tetrahedra * n_band**2)
        step = max(1, TRIPLET_BATCH_ELEMENTS // per_triplet)
        device = self.kernel.device
        collisions = torch.zeros((len(self._temperatures), len(band_indices)),
                                 dtype=torch.float64, device=device)
        f0 = torch.as_tensor(pp.phonons.frequencies[grid_point][band_indices], device=device)
        for first in range(0, len(triplets), step):
            part = slice(first, first + step)
            if g is None:
                start = time.perf_counter()
                g_part = self._integration_weights(triplets[part], f0)
                self.seconds["integration_weights"] += time.perf_counter() - start
            else:
                g_part = torch.as_tensor(g[:, part], device=device)
            collisions += self._collisions(triplets[part], weights[part], g_part, band_indices)
        gamma = collisions.cpu().numpy() * self._unit
        gamma = average_by_degeneracy(gamma, band_indices, pp.phonons.degenerate_ids[grid_point])
        return ScatteringResult(gamma=gamma[None], averaged_pp_interaction=None)

    def _triplets_and_weights(self, grid_point: int, band_indices: np.ndarray):
        """phono3py's irreducible triplets of ``grid_point``, their weights, and phono3py's
        tetrahedron integration weights ``g`` (2, n_t, n_band0, n_band, n_band) where they are
        not latdyn's (``None`` otherwise: see :meth:`_integration_weights`).

        The plain case (mesh symmetry, no q-direction, no weight averaging) calls phono3py's
        triplet search directly, without ``Interaction.set_grid_point``'s per-triplet check
        loop in Python; its weights are latdyn's, per batch of triplets.
        """
        pp = self._pp
        if (not pp.is_mesh_symmetry or pp.nac_q_direction is not None
                or pp.average_degenerate_weights):
            f0 = np.array(pp.phonons.frequencies[grid_point][band_indices], dtype="double")
            pp.set_grid_point(grid_point)
            triplets, weights = pp.get_triplets_at_q()[:2]
            g, _ = get_triplets_integration_weights(
                pp, f0, None, average_degenerate_weights=pp.average_degenerate_weights)
            return triplets, weights, g
        triplets, weights, _, _ = get_triplets_at_q(grid_point, pp.bz_grid)
        return triplets, weights, None

    def _integration_weights(self, triplets: np.ndarray, f0: torch.Tensor) -> torch.Tensor:
        """g[0], g[1] of ``triplets`` at the frequencies ``f0`` of q0, ``(2, n_t, n_band0,
        n_band, n_band)``: on CUDA latdyn's batched weights
        (:func:`~latdyn.kappa.tetrahedron.triplets_integration_weights`); on the CPU phonors'
        (one call for the batch), which is faster there (4-5x on MgO 19³: its loop rejects
        most of the tetrahedra before any arithmetic)."""
        pp = self._pp
        tetrahedra = self._tetrahedra
        frequencies = pp.phonons.frequencies
        if self.batched_weights:
            on_device = torch.as_tensor(frequencies, device=self.kernel.device)
            return triplets_integration_weights(
                f0, on_device[tetrahedra.vertices(triplets[:, 1], 1)],
                on_device[tetrahedra.vertices(triplets[:, 2], -1)], tetrahedra.central)
        import phonors

        bz_grid = pp.bz_grid
        n_band = frequencies.shape[1]
        g = np.zeros((2, len(triplets), len(f0), n_band, n_band), dtype="double")
        g_zero = np.zeros(g.shape[1:], dtype="byte")
        phonors.triplets_integration_weights(
            g, g_zero, f0.numpy(), tetrahedra.relative_address, bz_grid.D_diag,
            np.ascontiguousarray(triplets), frequencies, frequencies, bz_grid.addresses,
            bz_grid.gp_map, bz_grid.store_dense_gp_map * 1 + 1, 2)
        return torch.from_numpy(g)

    def _collisions(self, triplets, weights, g, band_indices) -> torch.Tensor:
        """Σ_t w_t Σ_jk |Φ|² ((n_j + n_k + 1) g0 + (n_j − n_k) g1) for triplets, (nT, n_band0)."""
        device = self.kernel.device
        start = time.perf_counter()
        strength = self.kernel.interaction_strength(triplets, band_indices)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        middle = time.perf_counter()
        self.seconds["interaction"] += middle - start
        cutoff = self.kernel.cutoff_frequency
        frequencies = torch.as_tensor(self._pp.phonons.frequencies[triplets[:, 1:]],
                                      device=device)
        frequencies = torch.where(frequencies > cutoff, frequencies, 1.0)
        weighted = strength * torch.as_tensor(weights, dtype=torch.float64,
                                              device=device)[:, None, None, None]
        g0, g1 = g[0], g[1]
        rows = []
        for temperature in self._temperatures:
            if temperature > 0:
                n = bose_einstein(frequencies, temperature)
                n1, n2 = n[:, 0][:, None, :, None], n[:, 1][:, None, None, :]
                factor = (n1 + n2 + 1) * g0 + (n1 - n2) * g1
            else:
                factor = g0
            rows.append((weighted * factor).sum(dim=(0, 2, 3)))
        result = torch.stack(rows)
        self.seconds["imag_self_energy"] += time.perf_counter() - middle
        return result


class Timed:
    """One of phono3py's per-grid-point solvers (scattering or isotope), its ``compute`` time
    added to ``seconds[name]``; everything else is the solver's."""

    def __init__(self, solver, seconds: dict, name: str):
        self._solver = solver
        self._seconds = seconds
        self._name = name
        seconds.setdefault(name, 0.0)

    def __getattr__(self, name):
        return getattr(self._solver, name)

    def compute(self, grid_point: int):
        """The solver's result at ``grid_point``."""
        start = time.perf_counter()
        result = self._solver.compute(grid_point)
        self._seconds[self._name] += time.perf_counter() - start
        return result

    def compute_batched(self, grid_points):
        """The solver's results at ``grid_points`` (phono3py's batched Rust path)."""
        start = time.perf_counter()
        result = self._solver.compute_batched(grid_points)
        self._seconds[self._name] += time.perf_counter() - start
        return result
