"""Writers for QHA results: ``qha.h5`` and phonopy's QHA text files, each written atomically."""

from __future__ import annotations

import contextlib
from pathlib import Path

import h5py
import numpy as np

from latdyn.files import atomic_path
from latdyn.qha.gruneisen import Gruneisen
from latdyn.qha.qha import QHAResult

#: phonopy's QHA writers (``phonopy.qha.output``) and the files each writes.
PHONOPY_FILES = {
    "write_helmholtz_volume": ("helmholtz-volume.dat",),
    "write_volume_temperature": ("volume-temperature.dat",),
    "write_thermal_expansion": ("thermal_expansion.dat",),
    "write_gibbs_temperature": ("gibbs-temperature.dat",),
    "write_bulk_modulus_temperature": ("bulk_modulus-temperature.dat",),
    "write_heat_capacity_P": ("Cp-temperature.dat", "entropy-volume.dat", "Cv-volume.dat",
                              "dsdv-temperature.dat"),
    "write_gruneisen_temperature": ("gruneisen-temperature.dat",),
}


def write_qha_hdf5(qha: QHAResult, gruneisen: Gruneisen, path: str | Path) -> Path:
    """E(V), F(V; T), V(T), β(T), B(T), C_p(T), C_v(T), G(T), γ(T) and the mode γ in HDF5."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["eos"] = qha.eos
        h5.attrs["pressure_GPa"] = qha.pressure
        h5.attrs["t_max_trusted_K"] = qha.t_max_trusted
        h5.attrs["t_max_requested_K"] = qha.t_max_requested
        h5.attrs["per"] = "primitive cell"
        volumes = h5.create_group("volumes")
        for name, values, unit in [
            ("volumes", qha.volumes, "A^3"), ("energies", qha.energies, "eV"),
            ("fitted", qha.fitted, ""), ("free_energy", qha.free_energy, "kJ/mol"),
            ("entropy", qha.entropy, "J/K/mol"),
            ("heat_capacity_v", qha.heat_capacity_v_volumes, "J/K/mol"),
            ("helmholtz_volume", qha.helmholtz_volume, "eV"),
        ]:
            volumes[name] = values
            volumes[name].attrs["unit"] = unit
        volumes["mesh"] = qha.mesh
        thermo = h5.create_group("temperature")
        for name, values, unit in [
            ("temperatures", qha.temperatures, "K"),
            ("volume", qha.equilibrium_volumes, "A^3"),
            ("volumetric_expansion", qha.volumetric_expansion, "1/K"),
            ("linear_expansion", qha.linear_expansion, "1/K"),
            ("bulk_modulus", qha.bulk_modulus, "GPa"),
            ("gibbs_free_energy", qha.gibbs_free_energy, "eV"),
            ("heat_capacity_p", qha.heat_capacity_p, "J/K/mol"),
            ("heat_capacity_v", qha.heat_capacity_v, "J/K/mol"),
            ("gruneisen_thermodynamic", qha.gruneisen, ""),
            ("gruneisen_mode_average", gruneisen.average, ""),
            ("eos_parameters", qha.eos_parameters, "eV, eV/A^3, 1, A^3"),
        ]:
            thermo[name] = values
            thermo[name].attrs["unit"] = unit
        mode = h5.create_group("gruneisen")
        mode["volumes"] = np.array(gruneisen.volumes)
        mode["mesh"] = gruneisen.mesh
        mode["mesh_weights"] = gruneisen.mesh_weights
        mode["mesh_frequencies"] = gruneisen.mesh_frequencies
        mode["mesh_gamma"] = gruneisen.mesh_gamma
        band = mode.create_group("band")
        for k, (q, d, f, g) in enumerate(zip(gruneisen.band_qpoints, gruneisen.band_distances,
                                             gruneisen.band_frequencies, gruneisen.band_gamma,
                                             strict=True)):
            segment = band.create_group(f"segment_{k}")
            segment["qpoints"], segment["distances"] = q, d
            segment["frequencies"], segment["gamma"] = f, g
    return path


def write_phonopy_files(qha: QHAResult, out_dir: str | Path) -> list[Path]:
    """phonopy-qha's text files (``volume-temperature.dat``, ...) from phonopy's own writers,
    cut at the trusted temperature like every latdyn curve."""
    from phonopy.qha import output

    out = Path(out_dir)
    written = []
    for writer, names in PHONOPY_FILES.items():
        paths = [out / name for name in names]
        with contextlib.ExitStack() as stack:
            tmps = [stack.enter_context(atomic_path(p)) for p in paths]
            getattr(output, writer)(qha.phonopy_result, *tmps)
        written += paths
    return written
