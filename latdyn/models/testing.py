"""Analytic models that break what MLIPs should respect, for tests and demonstrations.

:class:`PerturbedCalculator` adds to a base calculator (EMT by default)

- an *anisotropic* pair energy ``a * sum_{i<j} w(r_ij) (r_ij . d)^2 / r_ij^2`` along a fixed
  direction ``d``: conservative, but not rotation-equivariant;
- a *curl* pair force ``F_i += c * sum_j w(r_ij) (d x r_ij)``: momentum-conserving but not the
  gradient of any energy (its force-constant matrix is not symmetric) and not equivariant.

``w(r) = exp(-(r / r0)^2)`` for ``r < cutoff``. Use ``--model latdyn.models.testing:FACTORY``.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list


class PerturbedCalculator(Calculator):
    """A base calculator plus symmetry-breaking analytic terms (see the module docstring)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, base: Calculator | None = None, anisotropy: float = 0.0, curl: float = 0.0,
                 direction=(0.0, 0.0, 1.0), r0: float = 2.5, cutoff: float = 5.0):
        super().__init__()
        self.base = base if base is not None else EMT()
        self.anisotropy = float(anisotropy)
        self.curl = float(curl)
        direction = np.asarray(direction, dtype=float)
        self.direction = direction / np.linalg.norm(direction)
        self.r0 = r0
        self.cutoff = cutoff

    @property
    def latdyn_identity(self) -> str:
        """The parameters that fix the predictions, with latdyn's version (which fixes this
        code): declared so that the force cache may be used."""
        from latdyn import __version__

        return (f"PerturbedCalculator(base={type(self.base).__name__}, "
                f"anisotropy={self.anisotropy!r}, curl={self.curl!r}, "
                f"direction={self.direction.tolist()!r}, r0={self.r0!r}, "
                f"cutoff={self.cutoff!r})|latdyn=={__version__}")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = self.base
        energy = work.get_potential_energy()
        forces = np.array(work.get_forces())
        stress = np.array(work.get_stress(voigt=False)) if all(work.pbc) else np.zeros((3, 3))

        i, j, vectors = neighbor_list("ijD", self.atoms, self.cutoff)
        r = np.linalg.norm(vectors, axis=1)
        w = np.exp(-((r / self.r0) ** 2))
        dw_dr = -2.0 * r / self.r0**2 * w
        unit = vectors / r[:, None]
        cos = unit @ self.direction
        # Each pair appears twice (i->j and j->i): halve the energy.
        energy += 0.5 * self.anisotropy * np.sum(w * cos**2)
        # gradient of e(D) = a w(r) (D.d)^2/r^2 with respect to D = r_j - r_i
        grad = self.anisotropy * (
            dw_dr[:, None] * cos[:, None] ** 2 * unit
            + w[:, None] * 2.0 * cos[:, None] * (self.direction[None] - cos[:, None] * unit)
            / r[:, None]
        )
        pair_forces = 0.5 * grad  # half for each ordered pair
        np.add.at(forces, i, pair_forces)
        np.add.at(forces, j, -pair_forces)
        if all(self.atoms.pbc):
            virial = 0.5 * np.einsum("pa,pb->ab", vectors, grad)
            stress += 0.5 * (virial + virial.T) / self.atoms.get_volume()
        if self.curl:
            curl_forces = self.curl * w[:, None] * np.cross(self.direction[None], vectors)
            np.add.at(forces, i, curl_forces)

        self.results["energy"] = float(energy)
        self.results["free_energy"] = float(energy)
        self.results["forces"] = forces
        self.results["stress"] = stress.reshape(9)[[0, 4, 8, 5, 2, 1]]


def anisotropic_emt() -> PerturbedCalculator:
    """EMT plus a conservative anisotropic term (0.05 eV scale): not rotation-equivariant."""
    return PerturbedCalculator(anisotropy=0.05)


def nonconservative_emt() -> PerturbedCalculator:
    """EMT plus a curl force (0.02 eV/Å² scale): neither conservative nor equivariant."""
    return PerturbedCalculator(curl=0.02)


def strongly_nonconservative_emt() -> PerturbedCalculator:
    """EMT plus a curl force 25x that of :func:`nonconservative_emt` (0.5 eV/Å² scale): its
    energy drifts by tens of meV/atom/ps in a short NVE run."""
    return PerturbedCalculator(curl=0.5)
