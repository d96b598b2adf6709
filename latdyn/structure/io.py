"""Reading and validating crystal structures (POSCAR/CONTCAR, CIF, extended XYZ)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms

from latdyn.errors import InputError, StructureError

logger = logging.getLogger(__name__)

#: Two atoms closer than this (Å) are taken to overlap, also an atom and its own periodic image.
MIN_INTERATOMIC_DISTANCE = 0.5

#: An empty slab at least this thick (Å) across a lattice direction is taken as vacuum.
VACUUM_GAP = 7.0

#: CIF occupancies this close to 1 count as full.
OCCUPANCY_TOLERANCE = 1e-3

_VASP_NAMES = ("POSCAR", "CONTCAR")


def _guess_format(path: Path) -> str | None:
    name = path.name.upper()
    if any(name.startswith(stem) for stem in _VASP_NAMES) or name.endswith(".VASP"):
        return "vasp"
    return None


def _is_cif(path: Path) -> bool:
    return path.suffix.lower() in (".cif", ".mcif")


def check_cif_occupancies(path: Path) -> None:
    """Refuse a CIF with partially occupied sites (ASE would read an ordered crystal)."""
    from ase.io.cif import parse_cif

    try:
        blocks = list(parse_cif(str(path)))
    except Exception:  # a file ASE cannot parse is reported by the reader itself
        return
    for block in blocks:
        occupancies = block.get("_atom_site_occupancy")
        if occupancies is None:
            continue
        labels = block.get("_atom_site_label") or [str(i) for i in range(len(occupancies))]
        for label, occupancy in zip(labels, occupancies, strict=False):
            try:
                value = float(occupancy)
            except (TypeError, ValueError):
                continue
            if abs(value - 1.0) > OCCUPANCY_TOLERANCE:
                raise StructureError(
                    f"{path}: site {label} has occupancy {value:g}; latdyn needs an ordered "
                    "crystal with every site fully occupied: build an ordered supercell (e.g. "
                    "a special quasirandom structure) and give that")


def check_poscar_counts(path: Path) -> None:
    """Refuse a POSCAR whose counts line and coordinate lines disagree."""
    lines = path.read_text(errors="replace").splitlines()
    try:
        line = 5
        if not lines[line].split()[0].lstrip("+-").replace(".", "", 1).isdigit():
            line += 1  # the optional element-symbols line
        counts = [int(word) for word in lines[line].split()]
        line += 1
        if lines[line].strip()[:1].lower() == "s":  # Selective dynamics
            line += 1
        line += 1  # Direct / Cartesian
    except (IndexError, ValueError):
        return  # not the layout checked here; the reader reports what it finds
    coordinates = 0
    for text in lines[line:]:
        words = text.split()
        if len(words) < 3:
            break
        try:
            [float(w) for w in words[:3]]
        except ValueError:
            break
        coordinates += 1
    expected = sum(counts)
    if coordinates != expected:
        raise StructureError(
            f"{path}: the counts line says {' + '.join(map(str, counts))} = {expected} atoms but "
            f"{coordinates} coordinate line(s) follow; make the counts and the coordinates agree")


def _count_structures(path: Path) -> int | None:
    from ase.io import read

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return len(read(path, index=":", format=_guess_format(path)))
    except Exception:  # the count is only for the message
        return None


def read_structure(path: str | Path, index: int | str = 0) -> Atoms:
    """Read one periodic structure and check that it can be used.

    Parameters
    ----------
    path
        POSCAR/CONTCAR, CIF, extended XYZ or any format ASE reads.
    index
        Which structure of a multi-structure file (ASE index syntax).

    Raises
    ------
    InputError
        The file is missing or cannot be parsed.
    StructureError
        The structure has no 3D periodic cell or overlapping atoms.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"structure file {path} does not exist; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a structure file (POSCAR, CIF, extended XYZ)")
    if path.stat().st_size == 0:
        raise InputError(f"structure file {path} is empty")
    from ase.io import read

    if _is_cif(path):
        check_cif_occupancies(path)
    if _guess_format(path) == "vasp":
        check_poscar_counts(path)
    if isinstance(index, int) and index != 0:  # ASE may wrap an index out of range
        count = _count_structures(path)
        if count is not None and not -count <= index < count:
            raise InputError(
                f"--index {index} is out of range: {path} holds {count} structure(s); give "
                f"an index from 0 to {count - 1} (or -{count} to -1 from the end)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = read(path, index=index, format=_guess_format(path))
    except Exception as exc:  # ASE raises many kinds of errors for unparsable files
        raise InputError(
            f"cannot read a structure from {path} ({type(exc).__name__}: {exc}); "
            "give a POSCAR, CIF or extended XYZ file"
        ) from None
    if isinstance(atoms, list):  # a slice index
        raise InputError("give the index of a single structure, not a slice")
    validate_structure(atoms, source=str(path))
    gaps = vacuum_gaps(atoms)
    if gaps:
        logger.warning("%s: %s; computed as a 3D crystal of periodic copies (recorded in "
                       "summary.json)", path, describe_vacuum(gaps))
    return atoms


def validate_structure(atoms: Atoms, source: str = "structure") -> None:
    """Raise :class:`StructureError` unless ``atoms`` is a 3D-periodic crystal without overlaps."""
    if len(atoms) == 0:
        raise StructureError(f"{source} contains no atoms")
    if not all(atoms.pbc) or atoms.cell.rank < 3 or abs(atoms.cell.volume) < 1e-6:
        raise StructureError(
            f"{source} has no 3D periodic cell (a molecule?); "
            "give a crystal with three lattice vectors and periodic boundaries"
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise StructureError(f"{source} has non-finite atomic positions")
    distance, pair = _min_distance(atoms)
    if distance < MIN_INTERATOMIC_DISTANCE:
        i, j = pair
        if i == j:
            raise StructureError(
                f"{source}: atom {i} ({atoms[i].symbol}) is {distance:.3f} Å from its own "
                f"periodic image (< {MIN_INTERATOMIC_DISTANCE} Å): the cell is too small; "
                "check the lattice vectors and their scale factor")
        raise StructureError(
            f"{source}: atoms {i} ({atoms[i].symbol}) and {j} ({atoms[j].symbol}) are "
            f"{distance:.3f} Å apart (< {MIN_INTERATOMIC_DISTANCE} Å); remove duplicated atoms"
        )


def _min_distance(atoms: Atoms) -> tuple[float, tuple[int, int]]:
    """Shortest interatomic distance under periodic boundaries (an atom and its own images
    included), and the pair."""
    from ase.neighborlist import neighbor_list

    i, j, d = neighbor_list("ijd", atoms, MIN_INTERATOMIC_DISTANCE + 1e-9, self_interaction=False)
    if len(d) == 0:
        return float("inf"), (0, 0)
    k = int(np.argmin(d))
    return float(d[k]), (int(i[k]), int(j[k]))


def vacuum_gaps(atoms: Atoms, threshold: float = VACUUM_GAP) -> dict[str, float]:
    """Lattice direction (``a``, ``b``, ``c``) -> thickness (Å) of the widest atom-free slab
    across it, for the directions where that is at least ``threshold``: a slab has one, a wire
    two, a molecule in a box three."""
    from latdyn.structure.supercell import face_widths

    widths = face_widths(np.array(atoms.cell))
    scaled = atoms.get_scaled_positions(wrap=True)
    gaps = {}
    for axis, name in enumerate("abc"):
        fractions = np.sort(scaled[:, axis])
        steps = np.diff(np.concatenate([fractions, [fractions[0] + 1.0]]))
        gap = float(steps.max() * widths[axis])
        if gap >= threshold:
            gaps[name] = round(gap, 3)
    return gaps


def describe_vacuum(gaps: dict[str, float]) -> str:
    """One phrase for :func:`vacuum_gaps`' result."""
    kind = {1: "a slab", 2: "a wire", 3: "a molecule or cluster in a box"}[len(gaps)]
    where = ", ".join(f"{gap:.1f} Å along {name}" for name, gap in gaps.items())
    return f"looks like {kind} (vacuum {where})"
