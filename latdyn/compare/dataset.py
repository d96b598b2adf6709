"""Reading a DFT phonopy or phono3py dataset folder.

Recognized layouts (first match wins):

- ``phono3py_disp_dimfc2.yaml`` + ``FORCES_FC3[.xz]`` + ``FORCES_FC2``: phono3py with a separate
  FC2 supercell (phono3py's AlN-LDA example);
- ``phono3py_params*.yaml[.xz]``: phono3py displacements and forces in one file (NaCl-rd);
- ``phono3py_disp.yaml`` + ``FORCES_FC3[.xz]`` (+ ``FORCES_FC2``): phono3py (Si-PBE);
- ``phonopy_params.yaml``, or ``phonopy_disp.yaml`` + ``FORCE_SETS``: phonopy;
- ``disp.yaml`` (phonopy 1.x/2.x, supercell only) + ``FORCE_SETS`` + ``POSCAR-unitcell``:
  phonopy; the supercell matrix is recovered from the two lattices.

A ``BORN`` file, when present, gives the non-analytical term correction (NAC); NAC parameters
stored in the yaml file are used otherwise.

phonopy and phono3py read YAML with a loader that constructs Python objects, so a tag such as
``!!python/object/apply:os.system`` in a dataset file would run a command: every YAML file of
the folder is parsed with a safe loader first (:func:`check_safe_yaml`), and a file with a
Python tag is refused.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.errors import DataError, InputError
from latdyn.harmonic.solvers import is_random_dataset
from latdyn.structure.convert import to_ase_atoms


@dataclass(frozen=True)
class DFTDataset:
    """A DFT displacement-force dataset, loaded but without force constants.

    Attributes
    ----------
    directory
        The dataset folder.
    kind
        ``phonopy`` or ``phono3py``.
    files
        Role -> file used (``displacements``, ``forces``, ``forces_fc2``, ``born``...).
    model
        The loaded ``Phonopy`` or ``Phono3py`` object (DFT forces set, no force constants).
    unitcell
        The unit cell of the dataset.
    supercell_matrix
        Supercell of the FC2 (harmonic) forces, 3x3 integers.
    fc3_supercell_matrix
        Supercell of the FC3 forces, or ``None`` for a phonopy dataset.
    primitive_matrix
        Primitive matrix relative to the unit cell, 3x3.
    """

    directory: Path
    kind: str
    files: dict
    model: object
    unitcell: Atoms
    supercell_matrix: np.ndarray
    fc3_supercell_matrix: np.ndarray | None
    primitive_matrix: np.ndarray

    @property
    def has_fc3(self) -> bool:
        return self.kind == "phono3py"

    @property
    def nac_params(self) -> dict | None:
        return self.model.nac_params

    @property
    def is_random(self) -> bool:
        """Whether the displacements are random (type-2 dataset: needs a fitting solver)."""
        return is_random_dataset(self.model.dataset)


def _open_text(path: Path):
    if path.suffix in (".xz", ".lzma"):
        import lzma

        return lzma.open(path, "rt")
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rt")
    return open(path)


def check_safe_yaml(path: str | Path) -> None:
    """Parse ``path`` (optionally compressed) with a safe YAML loader.

    Raises
    ------
    InputError
        The file holds a Python tag (or any tag a safe loader does not construct).
    DataError
        The file is not valid YAML.
    """
    import yaml

    path = Path(path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with _open_text(path) as handle:
            yaml.load(handle, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.constructor.ConstructorError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark else ""
        raise InputError(f"{path} holds a YAML tag that could run code{where}: "
                         f"{exc.problem}; latdyn reads only plain YAML, remove the tag"
                         ) from None
    except (yaml.YAMLError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not valid YAML ({type(exc).__name__}: {exc})") from None


def _check_yaml_files(files: dict) -> None:
    for path in files.values():
        name = Path(path).name
        if ".yaml" in name or ".yml" in name:
            check_safe_yaml(path)


def _first(directory: Path, *names: str) -> Path | None:
    for name in names:
        matches = sorted(directory.glob(name))
        if matches:
            return matches[0]
    return None


def _load_phono3py(directory: Path) -> DFTDataset:
    import phono3py

    born = _first(directory, "BORN")
    fc3 = _first(directory, "FORCES_FC3", "FORCES_FC3.xz", "FORCES_FC3.lzma")
    fc2 = _first(directory, "FORCES_FC2", "FORCES_FC2.xz")
    dimfc2 = _first(directory, "phono3py_disp_dimfc2.yaml")
    params = _first(directory, "phono3py_params*.yaml", "phono3py_params*.yaml.xz")
    if dimfc2 is not None and fc3 is not None and fc2 is not None:
        files = {"displacements": dimfc2, "forces_fc3": fc3, "forces_fc2": fc2}
    elif params is not None:
        files = {"displacements": params}
    else:
        disp = _first(directory, "phono3py_disp.yaml")
        if fc3 is None:
            raise InputError(f"{directory} has {disp.name} but no FORCES_FC3; the DFT forces are "
                             "needed")
        files = {"displacements": disp, "forces_fc3": fc3}
        if fc2 is not None:
            files["forces_fc2"] = fc2
    if born is not None:
        files["born"] = born
    _check_yaml_files(files)
    try:
        ph3 = phono3py.load(
            files["displacements"],
            forces_fc3_filename=files.get("forces_fc3"),
            forces_fc2_filename=files.get("forces_fc2"),
            born_filename=files.get("born"),
            produce_fc=False,
            log_level=0,
        )
    except Exception as exc:  # phono3py raises many kinds of parse errors
        raise DataError(f"phono3py cannot load the dataset in {directory} "
                        f"({type(exc).__name__}: {exc})") from None
    if ph3.dataset is None or ph3.forces is None:
        raise DataError(f"the phono3py dataset in {directory} has no forces")
    fc2_matrix = ph3.phonon_supercell_matrix
    return DFTDataset(
        directory=directory,
        kind="phono3py",
        files={k: str(v) for k, v in files.items()},
        model=ph3,
        unitcell=to_ase_atoms(ph3.unitcell),
        supercell_matrix=np.array(fc2_matrix if fc2_matrix is not None else ph3.supercell_matrix,
                                  dtype=int),
        fc3_supercell_matrix=np.array(ph3.supercell_matrix, dtype=int),
        primitive_matrix=_primitive_matrix(ph3.primitive_matrix),
    )


def _primitive_matrix(matrix) -> np.ndarray:
    return np.eye(3) if matrix is None else np.array(matrix, dtype=float)


def _legacy_supercell_matrix(disp_yaml: Path, unitcell: Atoms) -> np.ndarray:
    import yaml

    check_safe_yaml(disp_yaml)
    with open(disp_yaml) as handle:
        data = yaml.safe_load(handle)
    try:
        lattice = np.array(data["lattice"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{disp_yaml} has no supercell lattice") from None
    matrix = lattice @ np.linalg.inv(np.array(unitcell.cell))
    if not np.allclose(matrix, np.rint(matrix), atol=1e-4):
        raise DataError(f"the supercell of {disp_yaml} is not an integer multiple of the unit "
                        "cell POSCAR-unitcell")
    return np.rint(matrix).astype(int)


def _load_phonopy(directory: Path) -> DFTDataset:
    import phonopy
    from phonopy.interface.calculator import read_crystal_structure

    born = _first(directory, "BORN")
    params = _first(directory, "phonopy_params.yaml", "phonopy_params.yaml.xz")
    disp = _first(directory, "phonopy_disp.yaml")
    legacy = _first(directory, "disp.yaml")
    force_sets = _first(directory, "FORCE_SETS")
    kwargs = {}
    if params is not None:
        files = {"displacements": params}
        kwargs["phonopy_yaml"] = params
    elif disp is not None and force_sets is not None:
        files = {"displacements": disp, "forces": force_sets}
        kwargs.update(phonopy_yaml=disp, force_sets_filename=force_sets)
    elif legacy is not None and force_sets is not None:
        unitcell_file = _first(directory, "POSCAR-unitcell", "POSCAR")
        if unitcell_file is None:
            raise InputError(f"{directory} has the old-style disp.yaml but no POSCAR-unitcell")
        cell, _ = read_crystal_structure(str(unitcell_file), interface_mode="vasp")
        files = {"displacements": legacy, "forces": force_sets, "unitcell": unitcell_file}
        kwargs.update(unitcell_filename=unitcell_file, force_sets_filename=force_sets,
                      supercell_matrix=_legacy_supercell_matrix(legacy, to_ase_atoms(cell)))
    else:
        raise InputError(
            f"{directory} holds no phonopy or phono3py dataset; expected FORCE_SETS with "
            "phonopy_disp.yaml or disp.yaml, FORCES_FC3 with phono3py_disp.yaml, or a "
            "phono3py_params/phonopy_params yaml"
        )
    if born is not None:
        files["born"] = born
        kwargs["born_filename"] = born
    _check_yaml_files(files)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # phonopy 4's primitive_matrix='auto' notice
            phonon = phonopy.load(produce_fc=False, log_level=0, **kwargs)
    except Exception as exc:  # phonopy raises many kinds of parse errors
        raise DataError(f"phonopy cannot load the dataset in {directory} "
                        f"({type(exc).__name__}: {exc})") from None
    if phonon.dataset is None or phonon.forces is None:
        raise DataError(f"the phonopy dataset in {directory} has no forces")
    if "unitcell" in files:
        _check_legacy_supercell(legacy, phonon)
    return DFTDataset(
        directory=directory,
        kind="phonopy",
        files={k: str(v) for k, v in files.items()},
        model=phonon,
        unitcell=to_ase_atoms(phonon.unitcell),
        supercell_matrix=np.array(phonon.supercell_matrix, dtype=int),
        fc3_supercell_matrix=None,
        primitive_matrix=_primitive_matrix(phonon.primitive_matrix),
    )


def _check_legacy_supercell(disp_yaml: Path, phonon) -> None:
    """The atoms of an old disp.yaml must be phonopy's supercell, in phonopy's order."""
    import yaml

    with open(disp_yaml) as handle:
        atoms = yaml.safe_load(handle).get("atoms", [])
    positions = np.array([a["position"] for a in atoms], dtype=float)
    expected = phonon.supercell.scaled_positions
    if positions.shape != expected.shape:
        raise DataError(f"{disp_yaml} has {len(positions)} atoms, phonopy's supercell "
                        f"{len(expected)}")
    delta = positions - expected
    if np.abs(delta - np.rint(delta)).max() > 1e-5:
        raise DataError(f"the atoms of {disp_yaml} are not phonopy's supercell of the unit cell; "
                        "the forces cannot be assigned")


def load_dft_dataset(directory: str | Path) -> DFTDataset:
    """Load the DFT dataset in ``directory`` (see the module docstring for the layouts).

    Raises
    ------
    InputError
        The folder does not exist or holds no recognized dataset.
    DataError
        The files cannot be parsed or hold no forces.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"DFT dataset folder {directory} does not exist")
    if _first(directory, "phono3py_disp*.yaml", "phono3py_params*.yaml",
              "phono3py_params*.yaml.xz") is not None:
        return _load_phono3py(directory)
    return _load_phonopy(directory)


def displacement_dataset(dataset: dict) -> dict:
    """A copy of a phonopy/phono3py dataset without forces and energies (displacements only)."""
    clean = copy.deepcopy(dataset)
    for key in ("forces", "supercell_energies"):
        clean.pop(key, None)
    for first in clean.get("first_atoms", []):
        first.pop("forces", None)
        first.pop("supercell_energy", None)
        for second in first.get("second_atoms", []):
            second.pop("forces", None)
            second.pop("supercell_energy", None)
    return clean
