"""Writers for phonon results. Every file is written atomically."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from phonopy import Phonopy

from latdyn.files import atomic_path
from latdyn.phonon.phonons import Phonons


def write_phonopy_params(phonon: Phonopy, path: str | Path) -> Path:
    """``phonopy_params.yaml`` with structure, displacements, forces and force constants.

    ``phonopy.load(path)`` rebuilds the same phonons.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        phonon.save(filename=tmp, settings={"force_constants": True})
    return path


def write_phonons_hdf5(phonons: Phonons, path: str | Path) -> Path:
    """Bands, DOS, projected DOS, thermal properties and Γ frequencies in one HDF5 file."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        band = h5.create_group("band")
        band["qpoints"] = phonons.band_qpoints
        band["distances"] = phonons.band_distances
        band["frequencies"] = phonons.band_frequencies
        band["frequencies"].attrs["unit"] = "THz"
        band["segment_starts"] = phonons.band_segment_starts
        band["labels"] = np.array(phonons.band_labels, dtype=h5py.string_dtype())
        band["connections"] = np.array(phonons.band_connections, dtype=bool)
        dos = h5.create_group("dos")
        dos["mesh"] = phonons.mesh
        dos["frequencies"] = phonons.dos_frequencies
        dos["total_dos"] = phonons.total_dos
        if phonons.projected_dos is not None:
            dos["projected_dos"] = phonons.projected_dos
        thermal = h5.create_group("thermal_properties")
        thermal["temperatures"] = phonons.temperatures
        thermal["free_energy"] = phonons.free_energy
        thermal["free_energy"].attrs["unit"] = "kJ/mol"
        thermal["entropy"] = phonons.entropy
        thermal["entropy"].attrs["unit"] = "J/K/mol"
        thermal["heat_capacity"] = phonons.heat_capacity
        thermal["heat_capacity"].attrs["unit"] = "J/K/mol"
        h5["gamma_frequencies"] = phonons.gamma_frequencies
    return path
