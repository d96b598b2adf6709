"""One-line descriptions of the workflows' stages and their expected cost (printed on stderr by
:class:`latdyn.provenance.StageTimer` when a stage starts)."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from latdyn.relax import RelaxSettings


def relax_note(atoms: Atoms, settings: RelaxSettings, relax: bool) -> str:
    """The relaxation: optimizer, tolerance and its largest cost in model evaluations."""
    if not relax:
        return f"standardizing the {len(atoms)}-atom input (no relaxation)"
    return (f"relaxing {len(atoms)} atoms ({settings.optimizer}, fmax {settings.fmax:g} eV/Å): "
            f"one {len(atoms)}-atom evaluation per step, at most {settings.max_steps} steps")


def forces_note(n_cells: int, n_atoms: int) -> str:
    """A force evaluation: how many supercells of how many atoms."""
    return f"forces on {n_cells} displaced supercells of {n_atoms} atoms"


def phonon_note(band_npoints: int, mesh: np.ndarray, n_atoms: int, projected: bool) -> str:
    """Phonon post-processing: the number of q-points and the size of each diagonalization."""
    n_mesh = int(np.prod(mesh))
    symmetry = ("every point with eigenvectors for the projected DOS" if projected
                else "irreducible points")
    return (f"bands ({band_npoints} q-points per segment), DOS and thermal properties on a "
            f"{'x'.join(map(str, mesh))} mesh ({n_mesh} points, {symmetry}); "
            f"{3 * n_atoms}x{3 * n_atoms} dynamical matrices")


def diagnostics_note(n_atoms: int) -> str:
    """The model diagnostics of a phonon run."""
    return (f"model diagnostics: equivariance probe on a rattled {n_atoms}-atom cell "
            f"(3 evaluations), force-constant symmetry")
