"""Linear tetrahedron integration weights in torch, batched, in phono3py's conventions.

phono3py computes them triplet by triplet (``phonors.triplets_integration_weights``) and, for
isotope scattering, for every grid point of the mesh at each grid point again
(``phonors.integration_weights_at_grid_points``). The weight of a value ω on one tetrahedron
depends only on its four vertex values, so here all tetrahedra of a batch are tested at once
for ω inside their range (where the weight can be non-zero) and only those are evaluated: the
formulas of phonopy's ``TetrahedronMethod`` (the ``"I"`` weight, the δ-function: ``I·g`` of
each tetrahedron, the vertex at the grid point itself picking the ``I`` branch, summed over
the tetrahedra around the grid point and divided by their number over four), vertex ties
ordered by a stable sort like ``numpy.argsort``.

The vertices are phonopy's (``get_tetrahedra_relative_gr_grid_address``, optionally
symmetrized, and phonors' BZ-grid neighbour lookup); for a triplet (q0, q1, q2) the
tetrahedra of q1 are shifted by +r and those of q2 by −r, the frequencies clipped at zero, and

    g[0] = w(ω1 + ω2),   g[1] = w(−ω1 + ω2) − w(ω1 − ω2)

at ω = the frequencies of q0 (``get_triplets_integration_weights``). An element all of whose
weights vanish is what phono3py marks in ``g_zero`` and skips; here it contributes zero.
"""

from __future__ import annotations

import numpy as np
import torch
from phonopy.phonon.tetrahedron_method import get_tetrahedra_relative_gr_grid_address

#: phonopy's ``_THM_EPSILON``: vertex differences and denominators below it count as zero.
EPSILON = 1e-10
#: Elements (values × tetrahedra × ω) of the largest hit mask of one pass.
MASK_ELEMENTS = 2**24


class TetrahedronGrid:
    """The tetrahedra around the grid points of a phono3py BZ grid.

    Parameters
    ----------
    bz_grid
        phono3py's ``BZGrid``.
    symmetrize_tetrahedra
        Use the 24 tetrahedra rotated by the point group (phono3py's option).
    device
        Torch device of the index tensors.
    """

    def __init__(self, bz_grid, symmetrize_tetrahedra: bool, device: torch.device):
        self._bz_grid = bz_grid
        self.device = device
        relative = get_tetrahedra_relative_gr_grid_address(bz_grid, symmetrize_tetrahedra)
        self._relative = np.ascontiguousarray(relative.reshape(-1, 3), dtype="int64")
        self.n_tetrahedra = len(relative)
        # position of the grid point itself (relative address 0) in each tetrahedron
        self.central = torch.as_tensor(np.argmax((relative == 0).all(axis=2), axis=1),
                                       device=device)

    def vertices(self, grid_points: np.ndarray, sign: int = 1) -> torch.Tensor:
        """BZ grid points at the vertices of the tetrahedra around ``grid_points`` (shifted by
        ``sign``·r), ``(n, n_tetrahedra, 4)`` int64."""
        import phonors

        bz = self._bz_grid
        points = np.ascontiguousarray(grid_points, dtype="int64")
        out = np.zeros(len(points) * len(self._relative), dtype="int64")
        phonors.neighboring_grid_points(
            out, points, np.ascontiguousarray(sign * self._relative), bz.D_diag,
            bz.addresses, bz.gp_map, bz.store_dense_gp_map * 1 + 1)
        return torch.as_tensor(out.reshape(len(points), self.n_tetrahedra, 4),
                               device=self.device)


def integration_weights(values: torch.Tensor, central: torch.Tensor,
                        omegas: torch.Tensor) -> torch.Tensor:
    """Tetrahedron-method δ weights of ``omegas`` for each set of tetrahedra.

    Parameters
    ----------
    values
        Values at the vertices, ``(n, n_tetrahedra, 4)`` float64.
    central
        Which vertex of each tetrahedron is the grid point itself, ``(n_tetrahedra,)``.
    omegas
        ``(n_omega,)`` float64, same units as ``values``.

    Returns
    -------
    torch.Tensor
        ``(n, n_omega)`` float64: Σ_tetrahedra I·g / (n_tetrahedra / 4).
    """
    n, n_tet = values.shape[:2]
    n_omega = len(omegas)
    out = torch.zeros(n * n_omega, dtype=torch.float64, device=values.device)
    low, high = values.amin(dim=-1), values.amax(dim=-1)
    step = max(1, MASK_ELEMENTS // (n_tet * n_omega))
    for first in range(0, n, step):
        part = slice(first, first + step)
        inside = ((low[part, :, None] <= omegas) & (omegas < high[part, :, None]))
        rows, tetrahedra, columns = inside.nonzero(as_tuple=True)
        if len(rows) == 0:
            continue
        rows = rows + first
        weights = _tetrahedron_weights(values[rows, tetrahedra], central[tetrahedra],
                                       omegas[columns])
        out.index_add_(0, rows * n_omega + columns, weights)
    return out.view(n, n_omega) / (n_tet / 4)


def _tetrahedron_weights(vertex_values: torch.Tensor, central: torch.Tensor,
                         omega: torch.Tensor) -> torch.Tensor:
    """I·g of single tetrahedra, ``(m,)``, where ``v0 <= omega < v3`` (sorted vertices).

    ``vertex_values`` ``(m, 4)``, ``central`` ``(m,)`` the grid point's vertex, ``omega``
    ``(m,)``: phonopy's ``TetrahedronMethod`` branches 1-3 (ω below v1, v2, v3).
    """
    v, order = torch.sort(vertex_values, dim=-1, stable=True)
    rank = (order == central[:, None]).to(torch.int8).argmax(dim=-1)
    branch = (v[:, 1:3] <= omega[:, None]).sum(dim=-1) + 1  # 1, 2 or 3

    def f(a: int, b: int) -> torch.Tensor:
        delta = v[:, a] - v[:, b]
        small = delta.abs() < EPSILON
        return torch.where(small, 0.0, (omega - v[:, b]) / torch.where(small, 1.0, delta))

    f01, f02, f03 = f(0, 1), f(0, 2), f(0, 3)
    f10, f12, f13 = f(1, 0), f(1, 2), f(1, 3)
    f20, f21, f23 = f(2, 0), f(2, 1), f(2, 3)
    f30, f31, f32 = f(3, 0), f(3, 1), f(3, 2)
    span = v[:, 3] - v[:, 0]
    # branch 1: v0 <= ω < v1
    g1 = 3 * f10 * f20 / span
    i1 = torch.stack([(f01 + f02 + f03) / 3, f10 / 3, f20 / 3, f30 / 3], dim=-1)
    # branch 2: v1 <= ω < v2
    denominator = f12 * f20 + f21 * f13
    g2 = 3 / span * denominator
    safe = torch.where(denominator < EPSILON, 1.0, denominator)
    i2 = torch.stack([f03 + f02 * f20 * f12 / safe, f12 + f13**2 * f21 / safe,
                      f21 + f20**2 * f12 / safe, f30 + f31 * f13 * f21 / safe], dim=-1) / 3
    i2 = torch.where((denominator < EPSILON)[:, None], 0.0, i2)
    # branch 3: v2 <= ω < v3
    g3 = 3 * f13 * f23 / span
    i3 = torch.stack([f03 / 3, f13 / 3, f23 / 3, (f30 + f31 + f32) / 3], dim=-1)
    g = torch.where(branch == 1, g1, torch.where(branch == 2, g2, g3))
    i = torch.where((branch == 1)[:, None], i1, torch.where((branch == 2)[:, None], i2, i3))
    return g * i.gather(1, rank[:, None].long())[:, 0]


def triplets_integration_weights(omegas: torch.Tensor, frequencies1: torch.Tensor,
                                 frequencies2: torch.Tensor,
                                 central: torch.Tensor) -> torch.Tensor:
    """phono3py's g[0], g[1] of triplets (tetrahedron method), all at once.

    Parameters
    ----------
    omegas
        Frequencies at q0 (the bands wanted), ``(n_band0,)`` THz.
    frequencies1, frequencies2
        Frequencies at the vertices of the tetrahedra around q1 (shifted +r) and q2
        (shifted −r), ``(n_t, n_tetrahedra, 4, n_band)`` THz.
    central
        The grid point's vertex of each tetrahedron, ``(n_tetrahedra,)``.

    Returns
    -------
    torch.Tensor
        ``(2, n_t, n_band0, n_band, n_band)`` float64, as ``get_triplets_integration_weights``.
    """
    n_t, n_tet, _, n_band = frequencies1.shape
    f1 = frequencies1.clamp(min=0).permute(0, 3, 1, 2)[:, :, None]  # (n_t, n_b, 1, tet, 4)
    f2 = frequencies2.clamp(min=0).permute(0, 3, 1, 2)[:, None]  # (n_t, 1, n_b, tet, 4)
    values = torch.stack([f1 + f2, f2 - f1, f1 - f2])  # (3, n_t, n_b, n_b, tet, 4)
    w = integration_weights(values.reshape(-1, n_tet, 4), central, omegas)
    w = w.view(3, n_t, n_band, n_band, len(omegas)).permute(0, 1, 4, 2, 3)
    return torch.stack([w[0], w[1] - w[2]])
