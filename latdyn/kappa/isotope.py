"""Isotope scattering with latdyn's tetrahedron weights: phono3py's ``Isotope``, batched in torch.

phono3py's isotope solver computes, at each grid point, the tetrahedron weights of its
frequencies against every band of every grid point of the mesh, then (Tamura)

    Γ_λ = π ω_λ² / (4 N) Σ_{q', j: ω' ≥ cutoff} g(ω_λ; q' j) Σ_κ g2_κ |Σ_α e*_κα(λ) e_κα(q' j)|²

with g2 the mass variances and N the number of grid points (zero where ω_λ is below the
cutoff, as phono3py's Rust kernel has it). Here the vertex frequencies of all
tetrahedra of the mesh are gathered once; each grid point evaluates only the tetrahedra whose
range holds one of its frequencies, and the eigenvector overlaps only where a weight is
non-zero.
"""

from __future__ import annotations

import numpy as np
import torch

from latdyn.kappa.tetrahedron import TetrahedronGrid, TetrahedronPolynomials


class KernelIsotope:
    """phono3py's ``IsotopeScatteringSolver`` (tetrahedron method) in torch.

    Parameters
    ----------
    solver
        phono3py's ``IsotopeScatteringSolver`` of the calculator (its ``Isotope``: mesh, mass
        variances, tetrahedra; its phonons are set when the calculator runs).
    interaction
        phono3py's ``Interaction`` (cutoff frequency, as the calculator gives ``Isotope``).
    sigmas
        The calculator's smearing widths (``[None]``: the tetrahedron method).
    device
        Torch device.
    """

    def __init__(self, solver, interaction, sigmas, device: torch.device):
        if not self.applies(solver, sigmas):
            raise ValueError("latdyn's isotope kernel: tetrahedron method without weight "
                             "averaging only")
        self._solver = solver
        self._isotope = solver.isotope
        self._cutoff = float(interaction.cutoff_frequency)
        self._device = device
        self._tetrahedra = TetrahedronGrid(self._isotope.bz_grid,
                                           self._isotope.symmetrize_tetrahedra, device)
        self._mesh = None  # vertex frequencies of the mesh, set at the first grid point

    @staticmethod
    def applies(solver, sigmas) -> bool:
        """Whether ``solver`` with ``sigmas`` is what this kernel computes (tetrahedron method,
        no averaging over degenerate bands); otherwise phono3py's solver stays."""
        return list(sigmas) == [None] and not solver.isotope.average_degenerate_weights

    def __getattr__(self, name):
        return getattr(self._solver, name)

    def _prepare(self) -> None:
        """Vertex frequencies of the tetrahedra of every regular grid point, their ranges."""
        bz_grid = self._isotope.bz_grid
        phonons = self._isotope.phonons
        if not np.all(phonons.phonon_done):
            # phono3py's run solves every BZ grid point (once, for all grid points)
            self._isotope.set_grid_point(int(bz_grid.grg2bzg[0]))
            self._isotope.run()
        dev = self._device
        points = np.asarray(bz_grid.grg2bzg)
        frequencies = torch.as_tensor(phonons.frequencies, device=dev)
        vertices = frequencies[self._tetrahedra.vertices(points)]  # (n, tet, 4, n_band)
        n_band = frequencies.shape[1]
        values = vertices.permute(0, 3, 1, 2).reshape(-1, self._tetrahedra.n_tetrahedra, 4)
        counted = (frequencies[points] >= self._cutoff).reshape(-1)  # (n·n_band,)
        self._mesh = {
            "polynomials": TetrahedronPolynomials(values.contiguous(), self._tetrahedra.central),
            "counted": counted,
            "points": torch.as_tensor(points, device=dev),
            "n_band": n_band,
            "mass_variances": torch.as_tensor(np.asarray(self._isotope.mass_variances,
                                                         dtype=float), device=dev),
        }

    def compute(self, grid_point: int) -> np.ndarray:
        """Γ_isotope at ``grid_point`` for all bands, ``(1, n_band)`` THz (one σ: ``None``)."""
        if self._mesh is None:
            self._prepare()
        mesh = self._mesh
        dev = self._device
        phonons = self._isotope.phonons
        bands = np.asarray(self._isotope.band_indices)
        f0 = torch.as_tensor(phonons.frequencies[grid_point][bands], device=dev)
        weights = mesh["polynomials"].weights(f0)
        weights = torch.where(mesh["counted"][:, None], weights, 0.0)  # (n·n_band, n_band0)
        rows, columns = weights.nonzero(as_tuple=True)
        n_band = mesh["n_band"]
        eigenvectors = torch.as_tensor(phonons.eigenvectors, device=dev)
        e0 = eigenvectors[grid_point][:, bands].conj()  # (n_band, n_band0)
        # e(q', j) for the non-zero weights, overlap with e*(λ) per atom
        e1 = eigenvectors[mesh["points"][rows // n_band], :, rows % n_band]
        overlap = (e1 * e0[:, columns].T).reshape(len(rows), -1, 3).sum(dim=-1)
        strength = (overlap.real**2 + overlap.imag**2) @ mesh["mass_variances"]
        total = torch.zeros(len(bands), dtype=torch.float64, device=dev)
        total.index_add_(0, columns, weights[rows, columns] * strength)
        n_points = int(np.prod(self._isotope.bz_grid.D_diag))
        # phono3py's Rust kernel leaves out bands at q0 below the cutoff (its Python one not)
        gamma = torch.where(f0 < self._cutoff, 0.0, np.pi / 4 / n_points * f0**2 * total)
        return gamma.cpu().numpy()[None]
