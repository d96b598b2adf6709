"""Non-analytical term correction (NAC) of polar crystals from a phonopy ``BORN`` file.

The ``BORN`` file (phonopy's format) holds an optional unit-conversion factor, the
high-frequency dielectric tensor and the Born effective charges of the symmetry-independent
atoms of the primitive cell, in that cell's Cartesian frame; phonopy's own parser reads it and
expands the charges to all atoms with the cell's symmetry. When latdyn computes phonons on the
spglib-standardized primitive cell, the tensors are read in the input structure's frame and
rotated into the standardized one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.errors import InputError

#: Name of the file phonopy (and latdyn) reads beside a structure.
BORN_FILENAME = "BORN"


@dataclass(frozen=True)
class BornFile:
    """A BORN file chosen for a run.

    Attributes
    ----------
    path
        The file.
    auto_found
        Found beside the structure (not given with ``--born``).
    """

    path: Path
    auto_found: bool

    def record(self) -> dict:
        """``summary.json``'s record: path, sha256 and whether it was found automatically."""
        from latdyn.provenance import file_sha256

        return {"path": str(self.path), "sha256": file_sha256(self.path),
                "auto_found": self.auto_found}


def find_born(structure_path: str | Path, given: str | Path | None) -> BornFile | None:
    """The BORN file of a run: ``given``, else a file named ``BORN`` beside the structure."""
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise InputError(f"BORN file {path} not found; give an existing file to --born")
        return BornFile(path=path, auto_found=False)
    beside = Path(structure_path).parent / BORN_FILENAME
    return BornFile(path=beside, auto_found=True) if beside.is_file() else None


def looks_polar(atoms: Atoms) -> bool:
    """The polar-crystal guess used for the missing-BORN warning: more than one species.

    (A compound may be polar; an elemental crystal has no LO–TO splitting. Metallic compounds
    pass the test too, which is why it only warns.)
    """
    return len(set(atoms.get_chemical_symbols())) > 1


def standard_rotation(atoms: Atoms, symprec: float) -> np.ndarray:
    """Rotation ``R`` taking Cartesian vectors of ``atoms`` into spglib's standardized frame."""
    import spglib

    from latdyn.structure.symmetry import spglib_cell

    dataset = spglib.get_symmetry_dataset(spglib_cell(atoms), symprec=symprec)
    return np.array(dataset.std_rotation_matrix, dtype=float)


def read_nac_params(path: str | Path, primitive: Atoms, symprec: float = 1e-5,
                    rotation: np.ndarray | None = None) -> dict:
    """phonopy's NAC parameters (``born``, ``dielectric``, optional ``factor``) for ``primitive``.

    ``rotation`` (see :func:`standard_rotation`): the BORN tensors are in the frame of the
    input structure and ``primitive`` is in the standardized frame.

    Raises
    ------
    InputError
        The file cannot be parsed for this primitive cell (one line saying why).
    """
    from phonopy.exception import BORNFileParseError
    from phonopy.file_IO import parse_BORN

    from latdyn.structure.convert import to_phonopy_atoms

    rotation = np.eye(3) if rotation is None else np.asarray(rotation, dtype=float)
    cell = primitive.copy()
    cell.set_cell(np.array(primitive.cell) @ rotation, scale_atoms=True)
    try:
        params = parse_BORN(to_phonopy_atoms(cell), symprec=symprec, filename=str(path))
    except (BORNFileParseError, ValueError, TypeError, IndexError, OSError,
            UnicodeDecodeError) as exc:
        raise InputError(f"BORN file {path}: {exc} (phonopy's BORN format: factor line, 9 "
                         f"dielectric components, 9 Born-charge components per independent "
                         f"atom of the {len(primitive)}-atom primitive cell)") from None
    if np.any(~np.isfinite(params["dielectric"])) or np.any(~np.isfinite(params["born"])):
        raise InputError(f"BORN file {path}: non-finite dielectric or Born-charge values")
    born = np.einsum("ij,ajk,lk->ail", rotation, params["born"], rotation)
    dielectric = rotation @ params["dielectric"] @ rotation.T
    return {**params, "born": np.ascontiguousarray(born),
            "dielectric": np.ascontiguousarray(dielectric)}


def nac_summary(params: dict | None) -> dict:
    """``summary.json``'s ``nac`` record (the file itself is recorded under ``inputs.born``)."""
    if params is None:
        return {"applied": False}
    return {
        "applied": True,
        "dielectric": np.asarray(params["dielectric"]).tolist(),
        "born_charges": np.asarray(params["born"]).tolist(),
        "factor": params.get("factor"),
    }
