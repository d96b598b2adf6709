"""Writers for κ results. Every file is written atomically."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from phono3py import Phono3py

from latdyn.files import atomic_path
from latdyn.kappa.conductivity import VOIGT, Kappa

_UNITS = {
    "temperatures": "K",
    "kappa": "W/(m K)",
    "kappa_particle": "W/(m K)",
    "kappa_coherence": "W/(m K)",
    "kappa_trace_average": "W/(m K)",
    "frequencies": "THz",
    "heat_capacity": "eV/K",
    "gamma": "THz",
    "gamma_isotope": "THz",
    "group_velocities": "THz Angstrom",
    "mode_kappa_particle": "W/(m K)",
    "mode_kappa_coherence": "W/(m K)",
    "mode_kappa_total": "W/(m K)",
    "lifetimes": "ps",
    "mean_free_paths": "nm",
}


def write_kappa_hdf5(kappa: Kappa, path: str | Path) -> Path:
    """κ tensors per temperature and the mode-resolved quantities in one HDF5 file.

    Datasets carry a ``unit`` attribute; the file's attributes record the method, the Voigt
    order of the six κ components and that mode-resolved κ values include the q-point weights.
    """
    path = Path(path)
    arrays = {
        "temperatures": kappa.temperatures,
        "kappa": kappa.kappa,
        "kappa_particle": kappa.kappa_particle,
        "kappa_coherence": kappa.kappa_coherence,
        "kappa_trace_average": kappa.kappa_trace_average,
        "mesh": kappa.mesh,
        "qpoints": kappa.qpoints,
        "weights": kappa.weights,
        "frequencies": kappa.frequencies,
        "heat_capacity": kappa.heat_capacity,
        "gamma": kappa.gamma,
        "gamma_isotope": kappa.gamma_isotope,
        "group_velocities": kappa.group_velocities,
        "mode_kappa_particle": kappa.mode_kappa_particle,
        "mode_kappa_coherence": kappa.mode_kappa_coherence,
        "mode_kappa_total": kappa.mode_kappa_total,
        "lifetimes": kappa.lifetimes,
        "mean_free_paths": kappa.mean_free_paths,
    }
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["method"] = kappa.method
        h5.attrs["voigt_order"] = ",".join(VOIGT)
        h5.attrs["isotope"] = kappa.isotope
        h5.attrs["boundary_mfp_um"] = np.nan if kappa.boundary_mfp is None else kappa.boundary_mfp
        h5.attrs["mode_kappa_note"] = ("mode values include q-point weights; "
                                       "kappa = sum / sum(weights)")
        for name, value in arrays.items():
            if value is None:
                continue
            compression = "gzip" if np.size(value) > 1000 else None
            h5.create_dataset(name, data=value, compression=compression)
            if name in _UNITS:
                h5[name].attrs["unit"] = _UNITS[name]
    return path


def write_phono3py_params(ph3: Phono3py, path: str | Path) -> Path:
    """``phono3py_params.yaml``: structure, supercells, displacements and forces (FC2, FC3).

    ``phono3py.load(path)`` rebuilds the force constants from it.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        ph3.save(filename=tmp)
    return path
