"""latdyn's three-phonon collision kernel: |Φ_λλ'λ''|² and the linewidths of a grid point, batched.

phono3py computes the interaction strength triplet by triplet: the real→reciprocal transform of
the FC3 costs O(n_p·n_s²·27) per triplet, then a loop over band triples. Here, for a fixed grid
point q0 (so q2 = G − q0 − q1), the transform for *all* q1 of the mesh is one discrete Fourier
transform over lattice-vector differences:

    Φ_ijk(q0, q1, q2) = P_jk(q1, G) · Σ_R A_ijk(R; q0) e^{2πi q1·R}

with ``A`` the FC3 binned by the lattice vector R between the images of atoms j and k (image
multiplicities of phono3py's shortest vectors folded in), R taken modulo the mesh (q1 lies on
it), and ``P_jk = exp(2πi (G·x_k + q1·(x_j − x_k)))``. phono3py's r0 average (the transform
anchored at each of the three atoms, its ``all_shortest`` shortcut included) is three such sums
that land on the same bins, so one DFT per channel serves a grid point. The binning is a sparse
matrix of fixed structure (its values the q0 phases) times the FC3; the eigenvector at q0,
shared by all triplets, is contracted before the DFT, which runs separably over the lattice
vectors that occur (a few per axis) to the whole mesh; the irreducible triplets are gathered
from it, and the remaining reciprocal→normal transform is two batched matrix products (q2's
eigenvectors, then q1's).

Everything runs in torch (float64/complex128) on CPU or CUDA. Grid, symmetry, triplets,
phonons and tetrahedron integration weights are phono3py's (:mod:`latdyn.kappa.scattering`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from phonopy.physical_units import get_physical_units

# the binning matrix (below) is built once from sorted indices; torch warns that CSR is beta
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def resolve_device(device: str | None) -> torch.device:
    """The torch device of the kernel: ``cuda`` when asked for and available, else ``cpu``.

    ``None`` or ``"cpu"`` give the CPU; ``"cuda"`` (or ``"cuda:N"``) the GPU when
    ``torch.cuda.is_available()``, otherwise the CPU.
    """
    if device is not None and str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.device(device)
    return torch.device("cpu")


@dataclass(frozen=True)
class _Entries:
    """FC3 elements as terms of the binned transform (one row per term).

    channel: (i·n_p + j)·n_p + k of the primitive-atom triple; bin: R mod mesh, ``(n, 3)``;
    row: row of ``fc3_rows`` (27 Cartesian components in (α, β, γ) order); weight: the term's
    real factor (multiplicities, r0-average); phase_vector: v with the term's q0 phase
    exp(2πi q0·v) (primitive fractional coordinates).
    """

    channel: np.ndarray
    bin: np.ndarray
    row: np.ndarray
    weight: np.ndarray
    phase_vector: np.ndarray


class CollisionKernel:
    """Interaction strengths of all triplets of a grid point, phono3py's conventions.

    Built from a phono3py ``Interaction`` (its FC3, primitive cell, shortest vectors and
    multiplicities, ``all_shortest``, ``make_r0_average``, masses, BZ grid, phonons and cutoff
    frequency); :meth:`interaction_strength` returns what ``Interaction.run()`` stores after
    ``set_grid_point`` (eV², per grid point, phono3py's unit conversion included).
    """

    def __init__(self, interaction, device: str | torch.device | None = "cpu"):
        self.device = (device if isinstance(device, torch.device)
                       else resolve_device(device))
        pp = interaction
        self._pp = pp
        if pp.symmetrize_fc3q:
            raise ValueError("latdyn's collision kernel does not symmetrize fc3 in q-space")
        primitive = pp.primitive
        self.n_patom = len(primitive)
        self.n_band = 3 * self.n_patom
        self.mesh = np.array(pp.bz_grid.D_diag, dtype=int)
        self.n_bins = int(np.prod(self.mesh))
        self.QDinv = np.array(pp.bz_grid.QDinv, dtype=float)
        self.r0_average = bool(pp.make_r0_average)
        self.unit_conversion = float(pp.unit_conversion_factor)
        self.cutoff_frequency = float(pp.cutoff_frequency)
        self.positions = np.array(primitive.scaled_positions, dtype=float)
        masses = np.array(primitive.masses, dtype=float)
        self._inv_sqrt_mass = torch.tensor(np.repeat(1.0 / np.sqrt(masses), 3),
                                           dtype=torch.float64, device=self.device)
        entries, rows = self._entries(pp)
        # the lattice vectors R (mod mesh) that occur, per axis: the DFT runs over these only
        self._residues = [np.unique(entries.bin[:, axis]) for axis in range(3)]
        compact = np.stack([np.searchsorted(self._residues[axis], entries.bin[:, axis])
                            for axis in range(3)], axis=1)
        self._occupied = tuple(len(r) for r in self._residues)
        target = entries.channel.astype(np.int64) * int(np.prod(self._occupied)) + (
            (compact[:, 0] * self._occupied[1] + compact[:, 1]) * self._occupied[2]
            + compact[:, 2])
        # the binning as a sparse matrix (targets x FC3 rows) with a fixed structure
        order = np.lexsort((entries.row, target))
        self._n_targets = self.n_patom**3 * int(np.prod(self._occupied))
        counts = np.bincount(target, minlength=self._n_targets)
        self._crow = torch.as_tensor(np.concatenate([[0], np.cumsum(counts)]), device=self.device)
        self._column = torch.as_tensor(entries.row[order], dtype=torch.int64, device=self.device)
        self._rows = torch.as_tensor(rows, dtype=torch.float64, device=self.device)
        self._weight = torch.as_tensor(entries.weight[order], dtype=torch.float64,
                                       device=self.device)
        self._phase_vector = torch.as_tensor(entries.phase_vector[order], dtype=torch.float64,
                                             device=self.device)
        self._dft_cache = None  # (q0 and e0, DFT to the mesh) of the last grid point
        # DFT matrices exp(2πi a R / D) from the occupied residues R to all a of each axis
        self._dft = [torch.exp(2j * np.pi * torch.as_tensor(
            np.outer(np.arange(n), r) / n, device=self.device))
            for n, r in zip(self.mesh, self._residues, strict=True)]

    # --- static part: the FC3 as terms of the binned transform ---------------------------------

    def _entries(self, pp) -> tuple[_Entries, np.ndarray]:
        """The FC3 entries of ``pp`` binned by lattice-vector difference, with their image
        weights (one pass over the non-zero FC3 elements; it is long because the image
        bookkeeping of both legs shares the local arrays it sets up, and splitting it would
        pass a dozen of them around)."""
        primitive = pp.primitive
        n_p = self.n_patom
        svecs, multi = primitive.get_smallest_vectors()
        svecs = np.asarray(svecs, dtype=float)
        multi = np.asarray(multi)
        p2s = np.asarray(primitive.p2s_map)
        s2pp = np.array([primitive.p2p_map[s] for s in primitive.s2p_map])
        n_s = len(s2pp)
        fc3 = np.asarray(pp.fc3, dtype=float)
        compact = fc3.shape[0] != fc3.shape[1]
        nonzero = np.asarray(pp.fc3_nonzero_indices)
        all_shortest = np.asarray(pp.all_shortest, dtype=bool)
        x = self.positions
        # Q^T maps R (primitive lattice vector) to the grid's integer coordinates
        q_transpose = np.rint(np.array(pp.bz_grid.Q, dtype=float).T).astype(np.int64)

        def images(b: np.ndarray, a: int) -> tuple[list[np.ndarray], np.ndarray]:
            """Shortest vectors from primitive atom a to supercell atoms b (lists of images)."""
            counts = multi[b, a, 0]
            starts = multi[b, a, 1]
            return [svecs[s:s + c] for s, c in zip(starts, counts, strict=True)], counts

        chans, bins, rows_idx, weights, vectors, rows = [], [], [], [], [], []

        def add(leg_rows, channel, r_vectors, weight, phase_vectors):
            """Terms of one FC3 element set: r_vectors (n, 3) lattice vectors (float)."""
            r_int = np.rint(r_vectors).astype(np.int64) @ q_transpose.T
            r_int %= self.mesh
            chans.append(channel)
            bins.append(r_int)
            rows_idx.append(leg_rows)
            weights.append(weight)
            vectors.append(phase_vectors)

        n_rows = 0
        for a in range(n_p):
            block = fc3[a] if compact else fc3[p2s[a]]  # (n_s, n_s, 3, 3, 3)
            mask = nonzero[a] if compact else nonzero[p2s[a]]
            img, counts = images(np.arange(n_s), a)
            bb, cc = np.nonzero(mask)
            values = block[bb, cc].reshape(len(bb), 3, 3, 3)
            legs = [(values, "leg1")]
            if self.r0_average:
                skip = all_shortest[a][bb, cc]
                legs += [(values.transpose(0, 2, 1, 3), "leg2"),
                         (values.transpose(0, 3, 2, 1), "leg3")]
            for leg_values, leg in legs:
                if leg == "leg1":
                    keep = np.ones(len(bb), dtype=bool)
                    element_weight = np.where(all_shortest[a][bb, cc], 3.0, 1.0) \
                        if self.r0_average else np.ones(len(bb))
                else:
                    keep = ~skip
                    element_weight = np.ones(len(bb))
                kb, kc, kw = bb[keep], cc[keep], element_weight[keep]
                rows.append(leg_values[keep].reshape(-1, 27))
                row_ids = n_rows + np.arange(len(kb))
                n_rows += len(kb)
                # expand the images of b' and c' (m, n)
                mb, mc = counts[kb], counts[kc]
                n_terms = mb * mc
                term_row = np.repeat(row_ids, n_terms)
                term_element = np.repeat(np.arange(len(kb)), n_terms)
                starts = np.repeat(np.cumsum(n_terms) - n_terms, n_terms)
                local = np.arange(n_terms.sum()) - starts
                m_index = local // mc[term_element]
                n_index = local % mc[term_element]
                sb = multi[kb, a, 1][term_element] + m_index
                sc = multi[kc, a, 1][term_element] + n_index
                vb, vc = svecs[sb], svecs[sc]
                pb, pc = s2pp[kb][term_element], s2pp[kc][term_element]
                weight = (kw / (mb * mc))[term_element]
                if leg == "leg1":  # anchor i = a, j' = b', k' = c'
                    i, j, k = np.full_like(pb, a), pb, pc
                    r = vb - vc - (x[j] - x[k])
                    phase_vector = -vc
                elif leg == "leg2":  # anchor j = a, i' = b', k' = c'; bin -R
                    i, j, k = pb, np.full_like(pb, a), pc
                    r = -(vc - (x[k] - x[j]))
                    phase_vector = vb - vc
                else:  # leg 3: anchor k = a, j' = b', i' = c'
                    i, j, k = pc, pb, np.full_like(pb, a)
                    r = vb - (x[j] - x[k])
                    phase_vector = vc
                channel = (i * n_p + j) * n_p + k
                add(term_row, channel, r, weight, phase_vector)
        entries = _Entries(
            channel=np.concatenate(chans), bin=np.concatenate(bins),
            row=np.concatenate(rows_idx), weight=np.concatenate(weights),
            phase_vector=np.concatenate(vectors))
        return entries, np.concatenate(rows)

    # --- per grid point --------------------------------------------------------------------

    def binned_normal(self, q0: np.ndarray, e0: torch.Tensor) -> torch.Tensor:
        """The FC3 binned by lattice vector for q0, contracted with the eigenvectors at q0.

        ``e0`` (mass-scaled, ``(n_band, n_band0)``). Returns ``(o0, o1, o2, n_p, 3, n_band0,
        n_p, 3)`` complex: the occupied residues of R, (j, β), band at q0, (k, γ).
        """
        q0_t = torch.as_tensor(q0, dtype=torch.float64, device=self.device)
        angle = 2 * np.pi * (self._phase_vector @ q0_t)
        size = (self._n_targets, len(self._rows))
        parts = []
        for values in (self._weight * torch.cos(angle), self._weight * torch.sin(angle)):
            matrix = torch.sparse_csr_tensor(self._crow, self._column, values, size=size,
                                             check_invariants=False)
            parts.append(matrix @ self._rows)
        n_p = self.n_patom
        binned = torch.complex(*parts).reshape(n_p, n_p, n_p, *self._occupied, 3, 3, 3)
        e0 = e0.reshape(n_p, 3, -1)
        return torch.einsum("ijkxyzabc,iap->xyzjbpkc", binned, e0)

    def _dft_to_mesh(self, binned: torch.Tensor) -> torch.Tensor:
        """Separable DFT of ``binned`` (occupied residues first, channels last) to the whole
        mesh: ``(n_mesh, channels)``, mesh points in C order. Each axis is one matrix product
        with the channels innermost (x, then y batched over x, then z batched over x and y),
        2-3x faster than contracting with the channels outermost."""
        o0, o1, o2 = self._occupied
        n0, n1, _ = self.mesh
        w0, w1, w2 = self._dft
        out = w0 @ binned.reshape(o0, -1)                          # (n0, o1·o2·C)
        out = torch.matmul(w1, out.reshape(n0, o1, -1))            # (n0, n1, o2·C)
        out = torch.matmul(w2, out.reshape(n0 * n1, o2, -1))       # (n0·n1, n2, C)
        return out.reshape(self.n_bins, -1)

    def normal_reciprocal(self, q0: np.ndarray, e0: torch.Tensor,
                          triplets_addresses: np.ndarray) -> torch.Tensor:
        """FC3 for triplets sharing q0, contracted with the eigenvectors ``e0`` at q0, without
        the atom phases (see :meth:`atom_phases`).

        Parameters
        ----------
        q0
            q0 (primitive reciprocal fractional coordinates), ``(3,)``.
        e0
            Mass-scaled eigenvectors at q0 of the bands wanted, ``(n_band, n_band0)``.
        triplets_addresses
            BZ-grid addresses of the triplets, ``(n_t, 3, 3)``.

        Returns
        -------
        torch.Tensor
            ``(n_t, n_band, n_band0, n_band)`` complex: Σ_iα e0[iα, b0] Φ[iα, jβ, kγ] at
            [t, jβ, b0, kγ], with
            Φ phono3py's fc3_reciprocal divided by the phases P_jk. The DFT to the mesh is kept
            for the next call with the same q0 and ``e0`` (batches of one grid point's
            triplets).
        """
        n_b = self.n_band
        key = (np.asarray(q0).tobytes(), e0.cpu().numpy().tobytes())
        if self._dft_cache is None or self._dft_cache[0] != key:
            self._dft_cache = None  # free the previous grid point's first
            self._dft_cache = (key, self._dft_to_mesh(self.binned_normal(q0, e0)))
        addresses = np.asarray(triplets_addresses)
        q1 = torch.as_tensor(np.ravel_multi_index(tuple((addresses[:, 1] % self.mesh).T),
                                                  tuple(self.mesh)), device=self.device)
        return self._dft_cache[1][q1].reshape(-1, n_b, e0.shape[1], n_b)

    def atom_phases(self, triplets_addresses: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The phases P_jk = exp(2πi (G·x_k + q1·(x_j − x_k))) of the triplets as a product
        a_j b_k: ``a = exp(2πi q1·x_j)``, ``b = exp(2πi (G − q1)·x_k)`` (1/3 of it with the
        r0 average), each ``(n_t, n_band)`` (repeated over the three Cartesian components), so
        that they scale the eigenvectors of q1 and q2 instead of the FC3."""
        q = np.asarray(triplets_addresses) @ self.QDinv.T  # (n_t, 3, 3) fractional q-vectors
        x = self.positions
        q1_x = q[:, 1] @ x.T
        phases = torch.exp(2j * np.pi * torch.as_tensor(
            np.stack([q1_x, q.sum(axis=1) @ x.T - q1_x]), device=self.device))
        if self.r0_average:
            phases[1] /= 3.0
        phases = phases.repeat_interleave(3, dim=2)
        return phases[0], phases[1]

    def interaction_strength(self, triplets: np.ndarray,
                             band_indices: np.ndarray | None = None) -> torch.Tensor:
        """|Φ|² of ``triplets`` (BZ grid points, ``(n_t, 3)``, as
        ``Interaction.get_triplets_at_q`` gives them: their first points are one q-point, on
        the BZ surface possibly several grid points).

        Returns ``(n_t, n_band0, n_band, n_band)`` float64 (eV², phono3py's units); zero where a
        frequency is at or below the cutoff.
        """
        pp = self._pp
        dev = self.device
        n_b = self.n_band
        if band_indices is None:
            band_indices = np.arange(n_b)
        first_points = np.unique(triplets[:, 0])
        if len(first_points) > 1:
            strength = torch.empty((len(triplets), len(band_indices), n_b, n_b),
                                   dtype=torch.float64, device=dev)
            for point in first_points:
                rows = np.nonzero(triplets[:, 0] == point)[0]
                strength[torch.as_tensor(rows, device=dev)] = self.interaction_strength(
                    triplets[rows], band_indices)
            return strength
        addresses = pp.bz_grid.addresses[triplets]
        q0 = self.QDinv @ addresses[0, 0]
        # |Φ|²/(f0 f1 f2) with phono3py's unit and cutoff as |Φ'|², Φ' made of eigenvectors
        # scaled by 1/sqrt(f) (zero at or below the cutoff), e0 by sqrt(unit) too
        frequencies = torch.as_tensor(pp.phonons.frequencies[triplets], device=dev)
        scale = torch.where(frequencies > self.cutoff_frequency,
                            frequencies.clamp(min=self.cutoff_frequency).rsqrt(), 0.0)
        vectors = torch.as_tensor(pp.phonons.eigenvectors[triplets], device=dev)
        vectors = vectors * self._inv_sqrt_mass[None, None, :, None] * scale[:, :, None, :]
        e0 = vectors[0, 0][:, band_indices] * np.sqrt(self.unit_conversion)
        n_t, n_band0 = len(triplets), len(band_indices)
        # contracted with e0 before the DFT, then k γ (q2), then j β (q1), as batched matrix
        # products over the triplets; the order [jβ, b0, kγ] makes both contiguous
        normal = self.normal_reciprocal(q0, e0, addresses)
        phase_j, phase_k = self.atom_phases(addresses)
        e1 = vectors[:, 1] * phase_j[:, :, None]
        e2 = vectors[:, 2] * phase_k[:, :, None]
        normal = torch.bmm(normal.reshape(n_t, n_b * n_band0, n_b), e2)  # (t, j·b0, b2)
        normal = torch.bmm(e1.transpose(1, 2), normal.reshape(n_t, n_b, n_band0 * n_b))
        strength = torch.addcmul(normal.real * normal.real, normal.imag, normal.imag)
        return strength.reshape(n_t, n_b, n_band0, n_b).transpose(1, 2)


def bose_einstein(frequencies: torch.Tensor, temperature: float) -> torch.Tensor:
    """Phonon occupation at ``temperature`` (K) of ``frequencies`` (THz)."""
    units = get_physical_units()
    t_thz = temperature * units.KB / units.THzToEv
    return 1.0 / torch.expm1(frequencies / t_thz)
