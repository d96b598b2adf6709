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
#: Vertex values of the candidates evaluated in one pass.
MASK_ELEMENTS = 2**24
#: The vertex about which I·g is expanded in each branch (:class:`TetrahedronPolynomials`).
ORIGINS = (0, 1, 3)
#: Tetrahedra whose formulas are evaluated at once (their temporaries stay in cache).
FORMULA_CHUNK = 2**16


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
        #: phonopy's relative grid addresses of the tetrahedra, ``(n_tetrahedra, 4, 3)``
        self.relative_address = np.ascontiguousarray(relative, dtype="int64")
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
    n, n_omega = len(values), len(omegas)
    flat = values.reshape(n, -1)
    low, high = flat.amin(dim=1), flat.amax(dim=1)
    rows, columns = ((low[:, None] <= omegas) & (omegas < high[:, None])).nonzero(as_tuple=True)
    out = torch.zeros(n * n_omega, dtype=torch.float64, device=values.device)
    out.index_add_(0, rows * n_omega + columns,
                   candidate_weights(values[rows], central, omegas[columns]))
    return out.view(n, n_omega)


def candidate_weights(values: torch.Tensor, central: torch.Tensor,
                      omega: torch.Tensor) -> torch.Tensor:
    """Weight of ``omega`` on each set of tetrahedra, ``(m,)``: Σ I·g / (n_tetrahedra / 4).

    ``values`` ``(m, n_tetrahedra, 4)``, ``omega`` ``(m,)``; only the tetrahedra whose range
    holds ω are evaluated.
    """
    m, n_tet = values.shape[:2]
    out = torch.zeros(m, dtype=torch.float64, device=values.device)
    step = max(1, MASK_ELEMENTS // (4 * n_tet))
    for first in range(0, m, step):
        part = values[first:first + step]
        w = omega[first:first + step, None]
        inside = (part.amin(dim=-1) <= w) & (w < part.amax(dim=-1))
        rows, tetrahedra = inside.nonzero(as_tuple=True)
        if len(rows):
            out.index_add_(0, rows + first, _tetrahedron_weights(
                part[rows, tetrahedra], central[tetrahedra], w[rows, 0]))
    return out / (n_tet / 4)


def _tetrahedron_weights(vertex_values: torch.Tensor, central: torch.Tensor,
                         omega: torch.Tensor) -> torch.Tensor:
    """I·g of single tetrahedra, ``(m,)``, where ``v0 <= omega < v3`` (sorted vertices).

    ``vertex_values`` ``(m, 4)``, ``central`` ``(m,)`` the grid point's vertex, ``omega``
    ``(m,)``: phonopy's ``TetrahedronMethod`` branches 1-3 (ω below v1, v2, v3), evaluated in
    chunks that stay in cache.
    """
    out = torch.empty(len(omega), dtype=torch.float64, device=omega.device)
    for first in range(0, len(omega), FORMULA_CHUNK):
        part = slice(first, first + FORMULA_CHUNK)
        out[part] = _tetrahedron_weights_chunk(vertex_values[part], central[part], omega[part])
    return out


def _tetrahedron_weights_chunk(vertex_values, central, omega):
    v, order = torch.sort(vertex_values, dim=-1, stable=True)
    rank = (order == central[:, None]).to(torch.int8).argmax(dim=-1)
    v0, v1, v2, v3 = v.unbind(dim=-1)
    e0, e1, e2, e3 = omega - v0, omega - v1, omega - v2, omega - v3

    def inverse(high, low):
        """1 / (high − low), 0 where the (sorted, non-negative) difference is below ε."""
        delta = high - low
        return torch.where(delta < EPSILON, 0.0, 1.0 / delta)

    i10, i20, i30 = inverse(v1, v0), inverse(v2, v0), inverse(v3, v0)
    i21, i31, i32 = inverse(v2, v1), inverse(v3, v1), inverse(v3, v2)
    # f(n, m) = (ω − v_m) / (v_n − v_m), phonopy's notation
    f10, f20, f30 = e0 * i10, e0 * i20, e0 * i30
    f01, f02, f03 = -e1 * i10, -e2 * i20, -e3 * i30
    f21, f31, f12 = e1 * i21, e1 * i31, -e2 * i21
    f13, f32, f23 = -e3 * i31, e2 * i32, -e3 * i32
    rank0, rank1, rank2 = rank == 0, rank == 1, rank == 2

    def pick(i0, i1, i2, i3):
        return torch.where(rank0, i0, torch.where(rank1, i1, torch.where(rank2, i2, i3)))

    # branch 1: v0 <= ω < v1; branch 2: v1 <= ω < v2; branch 3: v2 <= ω < v3
    weight1 = f10 * f20 * i30 * pick(f01 + f02 + f03, f10, f20, f30)
    weight3 = f13 * f23 * i30 * pick(f03, f13, f23, f30 + f31 + f32)
    denominator = f12 * f20 + f21 * f13
    safe = torch.where(denominator < EPSILON, 1.0, denominator)
    i2 = pick(f03 + f02 * f20 * f12 / safe, f12 + f13 * f13 * f21 / safe,
              f21 + f20 * f20 * f12 / safe, f30 + f31 * f13 * f21 / safe)
    weight2 = torch.where(denominator < EPSILON, 0.0, i30 * denominator * i2)
    weight = torch.where(omega < v1, weight1, torch.where(omega < v2, weight2, weight3))
    return weight  # 3 g · I / 3


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

    The elements (triplet, band0, j, k) and kinds (ω1 + ω2, −ω1 + ω2, ω1 − ω2) whose ω can
    lie in a tetrahedron are found from the ranges of ω1 and ω2 over all tetrahedra (a bound
    of the range of the sum), and only those are evaluated.
    """
    n_t, n_tet, _, n_band = frequencies1.shape
    n_band0 = len(omegas)
    f1 = frequencies1.clamp(min=0)
    f2 = frequencies2.clamp(min=0)
    low1, high1 = f1.amin(dim=(1, 2)), f1.amax(dim=(1, 2))  # (n_t, n_band)
    low2, high2 = f2.amin(dim=(1, 2)), f2.amax(dim=(1, 2))
    # bounds of each kind's range, (3, n_t, n_band, n_band)
    low = torch.stack([low1[:, :, None] + low2[:, None], low2[:, None] - high1[:, :, None],
                       low1[:, :, None] - high2[:, None]])
    high = torch.stack([high1[:, :, None] + high2[:, None], high2[:, None] - low1[:, :, None],
                        high1[:, :, None] - low2[:, None]])
    w = omegas[:, None, None]
    inside = (low[:, :, None] <= w) & (w < high[:, :, None])  # (3, n_t, n_band0, j, k)
    kind, t, b0, j, k = inside.nonzero(as_tuple=True)
    signs = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]], dtype=torch.float64,
                         device=omegas.device)[kind]  # of ω1 and ω2 in each kind
    values = (signs[:, 0, None, None] * f1[t, :, :, j]
              + signs[:, 1, None, None] * f2[t, :, :, k])  # (candidates, n_tet, 4)
    weights = candidate_weights(values, central, omegas[b0])
    g = torch.zeros((3, n_t, n_band0, n_band, n_band), dtype=torch.float64,
                    device=omegas.device)
    g.view(-1).index_add_(0, (((kind * n_t + t) * n_band0 + b0) * n_band + j) * n_band + k,
                          weights)
    return torch.stack([g[0], g[1] - g[2]])


def _linear(slope: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
    """slope · (x − root) as coefficients (constant, x)."""
    return torch.stack([-slope * root, slope], dim=-1)


def _times(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Product of polynomials in ω (coefficients, lowest first, last axis)."""
    out = torch.zeros((*p.shape[:-1], p.shape[-1] + q.shape[-1] - 1), dtype=p.dtype,
                      device=p.device)
    for i in range(p.shape[-1]):
        out[..., i:i + q.shape[-1]] += p[..., i:i + 1] * q
    return out


class TetrahedronPolynomials:
    """Tetrahedron δ weights of fixed vertex values as piecewise cubics in ω.

    Between sorted vertices, I·g of a tetrahedron is a cubic in ω − v0 (phonopy's f(n, m) are
    linear in ω, the ε guards in their slopes); the coefficients are computed once, and each
    :meth:`weights` call evaluates only the tetrahedra whose range holds an ω. (phonopy's
    guard of the branch-2 denominator, below 1e-10, is not applied: I·g is a polynomial
    there, the difference of the order of that guard.)

    Parameters
    ----------
    values
        Values at the vertices, ``(n, n_tetrahedra, 4)`` float64.
    central
        Which vertex of each tetrahedron is the grid point itself, ``(n_tetrahedra,)``.
    """

    def __init__(self, values: torch.Tensor, central: torch.Tensor):
        n, n_tet = values.shape[:2]
        self.shape = (n, n_tet)
        v, order = torch.sort(values, dim=-1, stable=True)
        rank = (order == central[:, None]).to(torch.int8).argmax(dim=-1).reshape(-1)
        v = v.reshape(-1, 4)
        # per tetrahedron: [low, high] (the range tested first), the two inner vertices (the
        # branch) and, per branch, its origin vertex and cubic (flat: tetrahedron·3 + branch)
        self.bounds = v[:, [0, 3]].reshape(n, n_tet, 2).contiguous()
        self.breaks = v[:, 1:3].contiguous()
        self.origins = v[:, list(ORIGINS)].reshape(-1).contiguous()
        flat = values.reshape(n, -1)
        self.row_low, self.row_high = flat.amin(dim=1), flat.amax(dim=1)
        self.coefficients = torch.empty((len(v), 3, 4), dtype=torch.float64,
                                        device=values.device)
        for first in range(0, len(v), FORMULA_CHUNK):
            part = slice(first, first + FORMULA_CHUNK)
            self.coefficients[part] = _cubics(v[part], rank[part])
        self.coefficients = self.coefficients.view(-1, 4)

    def weights(self, omegas: torch.Tensor) -> torch.Tensor:
        """``(n, n_omega)``: Σ_tetrahedra I·g / (n_tetrahedra / 4) of each row at ``omegas``."""
        n, n_tet = self.shape
        n_omega = len(omegas)
        rows, columns = ((self.row_low[:, None] <= omegas)
                         & (omegas < self.row_high[:, None])).nonzero(as_tuple=True)
        omega = omegas[columns][:, None]
        bounds = self.bounds.index_select(0, rows)  # (candidates, n_tet, 2)
        inside = (bounds[..., 0] <= omega) & (omega < bounds[..., 1])
        hit_row, hit_tet = inside.nonzero(as_tuple=True)
        index = rows[hit_row] * n_tet + hit_tet
        w = omega[hit_row, 0]
        branch = (self.breaks.index_select(0, index) <= w[:, None]).sum(dim=-1)  # 0, 1, 2
        flat = index * 3 + branch
        c = self.coefficients.index_select(0, flat)  # (hits, 4)
        x = w - self.origins.index_select(0, flat)
        value = ((c[:, 3] * x + c[:, 2]) * x + c[:, 1]) * x + c[:, 0]
        out = torch.zeros(n * n_omega, dtype=torch.float64, device=omegas.device)
        out.index_add_(0, rows[hit_row] * n_omega + columns[hit_row], value)
        return out.view(n, n_omega) / (n_tet / 4)


def _cubics(v: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """Coefficients of I·g in branches 1-3 of sorted tetrahedra ``v`` (m, 4), as cubics in
    ω − v0, ω − v1 and ω − v3 (:data:`ORIGINS`: each factor stays of order one in its
    branch, so near-degenerate vertices cause no cancellation): (m, 3, 4)."""
    def inverse(high, low):
        delta = high - low
        return torch.where(delta < EPSILON, 0.0, 1.0 / delta)

    i10, i20, i30 = inverse(v[:, 1], v[:, 0]), inverse(v[:, 2], v[:, 0]), inverse(v[:, 3], v[:, 0])
    i21, i31, i32 = inverse(v[:, 2], v[:, 1]), inverse(v[:, 3], v[:, 1]), inverse(v[:, 3], v[:, 2])
    choose = rank[:, None]

    def pick(i0, i1, i2, i3):
        return torch.where(choose == 0, i0, torch.where(choose == 1, i1,
                                                        torch.where(choose == 2, i2, i3)))

    def pad(p):
        return torch.nn.functional.pad(p, (0, 4 - p.shape[-1]))

    scale = i30[:, None]
    branches = []
    for branch, origin in enumerate(ORIGINS):
        v0, v1, v2, v3 = (v - v[:, origin, None]).unbind(dim=-1)
        f10, f20, f30 = _linear(i10, v0), _linear(i20, v0), _linear(i30, v0)
        f01, f02, f03 = _linear(-i10, v1), _linear(-i20, v2), _linear(-i30, v3)
        f21, f31, f12 = _linear(i21, v1), _linear(i31, v1), _linear(-i21, v2)
        f13, f32, f23 = _linear(-i31, v3), _linear(i32, v2), _linear(-i32, v3)
        if branch == 0:
            cubic = _times(_times(f10, f20) * scale, pick(f01 + f02 + f03, f10, f20, f30))
        elif branch == 2:
            cubic = _times(_times(f13, f23) * scale, pick(f03, f13, f23, f30 + f31 + f32))
        else:
            denominator = _times(f12, f20) + _times(f21, f13)
            # G · I·3 = G·x + y for I·3 = x + y / G (phonopy's branch-2 I, each rank)
            xy = [(f03, _times(_times(f02, f20), f12)), (f12, _times(_times(f13, f13), f21)),
                  (f21, _times(_times(f20, f20), f12)), (f30, _times(_times(f31, f13), f21))]
            cubic = pick(*[_times(denominator, x) + y for x, y in xy]) * scale
        branches.append(pad(cubic))
    return torch.stack(branches, dim=1)
