"""The κSRME reference: 103 PhononDB-PBE structures and their DFT κ (the data dir's ``ksrme/``).

Structures come from ``phononDB-PBE-structures.extxyz`` (``atoms.info`` holds ``mp_id``, ``name``,
``symm.no``, the FC2/FC3 supercells, the q-mesh and, for cubic compounds, the primitive
matrix); the DFT κ without non-analytical correction from ``kappas_phononDB_PBE_noNAC.json.gz``
(column-oriented pandas JSON). The two files list the compounds in different orders; they are
matched by ``mp_id``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from latdyn.datadir import data_file
from latdyn.errors import DataError, InputError

STRUCTURES_FILE = "ksrme/phononDB-PBE-structures.extxyz"
KAPPA_FILE = "ksrme/kappas_phononDB_PBE_noNAC.json.gz"

#: Structure types of the set, by space-group number.
STRUCTURE_TYPES = {225: "rocksalt", 216: "zincblende", 186: "wurtzite"}

_COLUMNS = ("mp_id", "name", "symm.no", "q_mesh", "temperatures", "qpoints", "weights",
            "frequencies", "heat_capacity", "kappa_TOT_ave", "mode_kappa_TOT_ave")


@dataclass(frozen=True, eq=False)
class ReferenceCompound:
    """One compound of the κSRME set with its DFT (PBE, no NAC) κ.

    Attributes
    ----------
    mp_id, name
        Materials Project id (``no-mp-N`` for four compounds) and formula.
    space_group
        225 (rocksalt), 216 (zincblende) or 186 (wurtzite).
    atoms
        The PhononDB unit cell (8-atom conventional cubic or 4-atom wurtzite) with its
        ``info`` (supercells, q-mesh, primitive matrix).
    q_mesh
        ``(3,)``.
    temperatures
        ``(nT,)`` K (300 K).
    qpoints, weights
        Irreducible q-points ``(nq, 3)`` and their multiplicities ``(nq,)``.
    frequencies
        ``(nq, nb)`` THz.
    heat_capacity
        Mode heat capacities ``(nT, nq, nb)``.
    kappa
        Trace-averaged total κ ``(nT,)`` W/(m K).
    mode_kappa
        Trace-averaged mode κ times the q-point weights, ``(nT, nq, nb)`` W/(m K).
    """

    mp_id: str
    name: str
    space_group: int
    atoms: Atoms
    q_mesh: np.ndarray
    temperatures: np.ndarray
    qpoints: np.ndarray
    weights: np.ndarray
    frequencies: np.ndarray
    heat_capacity: np.ndarray
    kappa: np.ndarray
    mode_kappa: np.ndarray

    @property
    def structure_type(self) -> str:
        return STRUCTURE_TYPES.get(self.space_group, str(self.space_group))

    @property
    def label(self) -> str:
        """``name (mp_id, type)``."""
        return f"{self.name} ({self.mp_id}, {self.structure_type})"


def _array(value, name: str, mp_id: str) -> np.ndarray:
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"κSRME reference column {name!r} of {mp_id} is not numeric") from None
    array.flags.writeable = False
    return array


def load_reference(data_dir: str | os.PathLike | None = None) -> list[ReferenceCompound]:
    """All 103 compounds in the order of the structures file.

    Raises
    ------
    DataError
        A file is missing (the message says how to get it) or malformed.
    """
    import pandas as pd
    from ase.io import read

    structures_path = data_file(STRUCTURES_FILE, data_dir)
    kappa_path = data_file(KAPPA_FILE, data_dir)
    try:
        structures = read(structures_path, index=":", format="extxyz")
        frame = pd.read_json(kappa_path)
    except Exception as exc:  # pandas and ASE raise many kinds of parse errors
        raise DataError(f"cannot read the κSRME reference in {structures_path.parent} "
                        f"({type(exc).__name__}: {exc}); run `latdyn data fetch` again") from None
    missing = [c for c in _COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{kappa_path} lacks the column(s) {', '.join(missing)}")
    rows = {str(row["mp_id"]): row for _, row in frame.iterrows()}
    compounds = []
    for atoms in structures:
        mp_id = str(atoms.info.get("mp_id"))
        if mp_id not in rows:
            raise DataError(f"{kappa_path} has no DFT κ for {mp_id} of {structures_path}")
        row = rows[mp_id]
        arrays = {key: _array(row[column], column, mp_id) for key, column in [
            ("q_mesh", "q_mesh"), ("temperatures", "temperatures"), ("qpoints", "qpoints"),
            ("weights", "weights"), ("frequencies", "frequencies"),
            ("heat_capacity", "heat_capacity"), ("kappa", "kappa_TOT_ave"),
            ("mode_kappa", "mode_kappa_TOT_ave")]}
        compounds.append(ReferenceCompound(mp_id=mp_id, name=str(row["name"]),
                                           space_group=int(row["symm.no"]), atoms=atoms,
                                           **arrays))
    return compounds


def select_compounds(
    compounds: Sequence[ReferenceCompound],
    materials: Sequence[str] | None = None,
    subset: int | None = None,
) -> list[ReferenceCompound]:
    """The compounds asked for.

    Parameters
    ----------
    materials
        mp_ids or formulas (a formula shared by two structure types, such as BN, selects both;
        ``BN-186`` selects one).
    subset
        ``subset`` compounds spread over the structure types (after ``materials``): the
        first of each type in the set's order, then the second of each, and so on; 6 gives two
        rocksalts, two zincblendes and two wurtzites.

    Raises
    ------
    InputError
        An unknown id or formula, or a subset size below 1.
    """
    selected = list(compounds)
    if materials:
        chosen = []
        for wanted in materials:
            name, _, spg = wanted.partition("-")
            hits = [c for c in compounds if c.mp_id == wanted or (
                c.name == name and (not spg or (spg.isdigit() and c.space_group == int(spg))))]
            if not hits:
                raise InputError(f"unknown κSRME compound {wanted!r}; give mp_ids or formulas "
                                 "(e.g. mp-1265 or MgO; BN-186 for one structure type)")
            chosen.extend(c for c in hits if c.mp_id not in {d.mp_id for d in chosen})
        selected = chosen
    if subset is not None:
        if subset < 1:
            raise InputError(f"--subset must be at least 1, got {subset}")
        by_type: dict[str, list[ReferenceCompound]] = {}
        for compound in selected:
            by_type.setdefault(compound.structure_type, []).append(compound)
        rounds = itertools.zip_longest(*by_type.values())
        selected = [c for group in rounds for c in group if c is not None][:subset]
    return selected
