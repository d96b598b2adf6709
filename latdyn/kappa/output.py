"""Writers for κ results. Every file is written atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
from phono3py import Phono3py

from latdyn.files import atomic_path
from latdyn.kappa.conductivity import VOIGT, Kappa

#: Units of the datasets of ``kappa.h5`` (phono3py's names, then latdyn's additions).
_UNITS = {
    "temperature": "K",
    "kappa": "W/(m K)",
    "mode_kappa": "W/(m K)",
    "frequency": "THz",
    "heat_capacity": "eV/K",
    "gamma": "THz",
    "gamma_isotope": "THz",
    "group_velocity": "THz Angstrom",
    "boundary_mfp": "micrometre",
    "kappa_TOT_RTA": "W/(m K)",
    "kappa_P_RTA": "W/(m K)",
    "kappa_C": "W/(m K)",
    "mode_kappa_P_RTA": "W/(m K)",
    "mode_kappa_C": "W/(m K)",
    "kappa_trace_average": "W/(m K)",
    "lifetime": "ps",
    "mean_free_path_norm": "nm",
}


def write_kappa_hdf5(kappa: Kappa, path: str | Path) -> Path:
    """``kappa.h5``: phono3py's ``kappa-m*.hdf5`` layout, written by phono3py's own writer.

    phono3py's datasets and names (``temperature``, ``mesh``, ``frequency``, ``qpoint``,
    ``weight``, ``group_velocity``, ``heat_capacity``, ``gamma``, ``gamma_isotope``, ``kappa``,
    ``mode_kappa`` — the total κ per mode, times the q-point weights — and ``boundary_mfp``), so
    phono3py's readers and ``phono3py-kaccum`` accept the file; for Wigner also phono3py's
    ``kappa_TOT_RTA``, ``kappa_P_RTA``, ``kappa_C``, ``mode_kappa_P_RTA`` and ``mode_kappa_C``.
    Beside them latdyn's ``kappa_trace_average``, ``lifetime`` (all scattering included) and
    ``mean_free_path_norm``. Datasets carry a ``unit`` attribute; the file's attributes record
    the method, the Voigt order of the six κ components and the isotope setting.
    """
    from phono3py.file_IO import write_kappa_to_hdf5

    path = Path(path)
    extra = {"kappa_trace_average": kappa.kappa_trace_average,
             "lifetime": kappa.lifetimes, "mean_free_path_norm": kappa.mean_free_paths}
    if kappa.method == "wigner":
        extra.update(kappa_TOT_RTA=kappa.kappa, kappa_P_RTA=kappa.kappa_particle,
                     kappa_C=kappa.kappa_coherence, mode_kappa_P_RTA=kappa.mode_kappa_particle,
                     mode_kappa_C=kappa.mode_kappa_coherence)
    # phono3py's writer names the file itself (kappa-m*.hdf5, in the working folder)
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(dir=tmp.parent,
                                                               prefix=".kappa-") as folder:
        folder = Path(folder).resolve()
        with contextlib.chdir(folder):
            written = write_kappa_to_hdf5(
                np.asarray(kappa.temperatures), np.asarray(kappa.mesh),
                boundary_mfp=kappa.boundary_mfp, frequency=np.asarray(kappa.frequencies),
                group_velocity=np.asarray(kappa.group_velocities),
                heat_capacity=np.asarray(kappa.heat_capacity), kappa=np.asarray(kappa.kappa),
                mode_kappa=np.asarray(kappa.mode_kappa_total), gamma=np.asarray(kappa.gamma),
                gamma_isotope=None if kappa.gamma_isotope is None
                else np.asarray(kappa.gamma_isotope),
                qpoint=np.asarray(kappa.qpoints), weight=np.asarray(kappa.weights),
                extra_datasets={k: np.asarray(v) for k, v in extra.items()}, verbose=False)
        with h5py.File(folder / written, "a") as h5:
            h5.attrs["method"] = kappa.method
            h5.attrs["voigt_order"] = ",".join(VOIGT)
            h5.attrs["isotope"] = kappa.isotope
            h5.attrs["mode_kappa_note"] = ("mode values include q-point weights; "
                                           "kappa = sum / sum(weight)")
            for name, unit in _UNITS.items():
                if name in h5:
                    h5[name].attrs["unit"] = unit
        os.replace(folder / written, tmp)
    return path


def write_phono3py_params(ph3: Phono3py, path: str | Path) -> Path:
    """``phono3py_params.yaml``: structure, supercells, displacements and forces (FC2, FC3).

    ``phono3py.load(path)`` rebuilds the force constants from it.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        ph3.save(filename=tmp)
    return path
