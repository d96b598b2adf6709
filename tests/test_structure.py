"""Reading, validation, symmetry and supercells."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from latdyn.errors import InputError, StructureError
from latdyn.structure import (
    choose_supercell,
    get_symmetry,
    parse_supercell,
    read_structure,
    standardize_primitive,
)
from latdyn.structure.supercell import face_widths


@pytest.mark.parametrize("fmt,name", [("vasp", "POSCAR"), ("cif", "Cu.cif"),
                                      ("extxyz", "Cu.extxyz")])
def test_read_formats(tmp_path, fmt, name):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    write(tmp_path / name, atoms, format=fmt)
    read = read_structure(tmp_path / name)
    assert len(read) == 4
    assert np.allclose(read.cell.lengths(), 3.61)


def test_read_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_structure(tmp_path / "nope")
    garbage = tmp_path / "POSCAR"
    garbage.write_text("this is not a structure\n1 2 3\n")
    with pytest.raises(InputError, match="cannot read"):
        read_structure(garbage)
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_structure(empty)


def test_molecule_and_overlap_rejected(tmp_path):
    molecule = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    write(tmp_path / "water.xyz", molecule, format="extxyz")
    with pytest.raises(StructureError, match="no 3D periodic cell"):
        read_structure(tmp_path / "water.xyz")
    overlapping = bulk("Cu", "fcc", a=3.61, cubic=True)
    overlapping.append("Cu")
    overlapping.positions[-1] = overlapping.positions[0] + 0.1
    write(tmp_path / "POSCAR", overlapping, format="vasp")
    with pytest.raises(StructureError, match="apart"):
        read_structure(tmp_path / "POSCAR")


def test_standardize_and_symmetry():
    conventional = bulk("Si", "diamond", a=5.43, cubic=True)
    primitive = standardize_primitive(conventional)
    assert len(primitive) == 2
    assert get_symmetry(primitive).number == 227
    assert get_symmetry(bulk("AlN", "wurtzite", a=3.11, c=4.98)).number == 186


def test_parse_supercell():
    assert parse_supercell([2, 3, 4]).tolist() == [[2, 0, 0], [0, 3, 0], [0, 0, 4]]
    assert parse_supercell([-1, 1, 1, 1, -1, 1, 1, 1, -1]).shape == (3, 3)
    for bad in ([0, 0, 0], [2, 2], [1.5, 1, 1], [-2, 2, 2]):
        with pytest.raises(InputError):
            parse_supercell(bad)


@pytest.mark.parametrize("atoms,n_atoms", [
    (bulk("Si", "diamond", a=5.43), 64),
    (bulk("Cu", "fcc", a=3.61), 108),
    (bulk("AlN", "wurtzite", a=3.11, c=4.98), 192),
])
def test_automatic_supercell(atoms, n_atoms):
    primitive = standardize_primitive(atoms)
    matrix = choose_supercell(primitive, min_length=10.0)
    lattice = matrix @ np.array(primitive.cell)
    assert face_widths(lattice).min() >= 10.0 - 1e-8
    assert len(primitive) * round(np.linalg.det(matrix)) == n_atoms


def test_small_cells_relax_with_single_threaded():
    import torch

    from latdyn.relax import SMALL_CELL_ATOMS, _single_threaded

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with _single_threaded(4):
            assert torch.get_num_threads() == 1
            from threadpoolctl import threadpool_info

            assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert torch.get_num_threads() == 2
        with _single_threaded(SMALL_CELL_ATOMS + 1):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
