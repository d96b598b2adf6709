"""The first stages every command shares: standardize, check the model, relax."""

from __future__ import annotations

from dataclasses import dataclass

from ase import Atoms

from latdyn.models.registry import LoadedModel
from latdyn.relax import RelaxResult, RelaxSettings, run_relax
from latdyn.structure.symmetry import SymmetryInfo, get_symmetry, standardize_primitive


@dataclass(frozen=True)
class PreparedStructure:
    """The structure the force constants are computed for.

    Attributes
    ----------
    atoms
        Standardized primitive cell, relaxed unless relaxation was skipped.
    input_symmetry
        Space group of the structure as given.
    relax
        The relaxation result, or ``None`` when skipped.
    """

    atoms: Atoms
    input_symmetry: SymmetryInfo
    relax: RelaxResult | None

    @property
    def symmetry(self) -> SymmetryInfo:
        """Space group of the structure used."""
        return self.relax.symmetry_after if self.relax else self.input_symmetry


def prepare_structure(
    atoms: Atoms,
    model: LoadedModel,
    relax: bool = True,
    relax_settings: RelaxSettings | None = None,
    symprec: float = 1e-5,
    cache=None,
) -> PreparedStructure:
    """Standardize ``atoms`` to its primitive cell, check the model's elements, relax.

    With a force ``cache`` the relaxation is cached too (see :func:`latdyn.relax.run_relax`).
    """
    model.check_elements(atoms)
    input_symmetry = get_symmetry(atoms, symprec)
    primitive = standardize_primitive(atoms, symprec)
    result = None
    if relax:
        result = run_relax(primitive, model.calculator, relax_settings or RelaxSettings(),
                           cache=cache, identity=model.identity)
        primitive = result.atoms
    return PreparedStructure(atoms=primitive, input_symmetry=input_symmetry, relax=result)
