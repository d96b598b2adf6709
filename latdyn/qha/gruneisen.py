"""Mode Grüneisen parameters γ = -(V/ω) dω/dV from three volumes (phonopy's Grüneisen module)
along the band path and on a q-mesh, and their heat-capacity-weighted average γ(T)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from phonopy import Phonopy

#: Modes below this frequency (THz) have no meaningful γ (acoustic modes at Γ) and are left
#: out of the average.
MIN_FREQUENCY = 1e-2

#: h / k_B in K/THz.
H_OVER_KB = 47.99243073


@dataclass(frozen=True)
class Gruneisen:
    """Mode Grüneisen parameters at the reference volume.

    Attributes
    ----------
    volumes
        The three volumes used, ``(V-, V0, V+)`` (Å³).
    band_qpoints
        Fractional q-points of the path, one array ``(n_q, 3)`` per segment.
    band_distances, band_frequencies, band_gamma
        Per segment: path distances ``(n_q,)``, frequencies (THz) and γ ``(n_q, n_bands)``.
    mesh
        Mesh numbers ``(3,)``.
    mesh_weights
        Weights of the irreducible mesh points, ``(n_irq,)``.
    mesh_frequencies, mesh_gamma
        Frequencies (THz) and γ on the mesh, ``(n_irq, n_bands)``.
    temperatures
        ``(n_T,)`` K.
    average
        Mode-heat-capacity-weighted mean γ(T) over the mesh, ``(n_T,)`` (NaN at 0 K).
    seconds
        Wall time (s).
    """

    volumes: tuple
    band_qpoints: tuple
    band_distances: tuple
    band_frequencies: tuple
    band_gamma: tuple
    mesh: np.ndarray
    mesh_weights: np.ndarray
    mesh_frequencies: np.ndarray
    mesh_gamma: np.ndarray
    temperatures: np.ndarray
    average: np.ndarray
    seconds: float

    @property
    def high_temperature_average(self) -> float:
        """Mean γ over all mesh modes with equal weights (the T → ∞ limit of ``average``)."""
        valid = self.mesh_frequencies > MIN_FREQUENCY
        weights = np.broadcast_to(self.mesh_weights[:, None], valid.shape)
        return float((self.mesh_gamma * weights)[valid].sum() / weights[valid].sum())


def mode_heat_capacity(frequencies: np.ndarray, temperature: float) -> np.ndarray:
    """Heat capacity of each mode in units of k_B; 0 at 0 K."""
    if temperature <= 0:
        return np.zeros_like(frequencies)
    x = H_OVER_KB * np.clip(frequencies, 0.0, None) / temperature
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        c = x * x * np.exp(x) / np.expm1(x) ** 2
    return np.where(x > 1e-8, np.nan_to_num(c), 1.0)


def average_gruneisen(weights: np.ndarray, frequencies: np.ndarray, gamma: np.ndarray,
                      temperatures: np.ndarray) -> np.ndarray:
    """γ(T) = Σ c_qν(T) γ_qν / Σ c_qν(T) over modes above ``MIN_FREQUENCY``."""
    valid = (frequencies > MIN_FREQUENCY) & np.isfinite(gamma)
    out = []
    for t in temperatures:
        c = mode_heat_capacity(frequencies, t) * weights[:, None] * valid
        total = c.sum()
        out.append(float((c * np.where(valid, gamma, 0.0)).sum() / total) if total > 0
                   else float("nan"))
    return np.array(out)


def run_gruneisen(
    phonon_minus: Phonopy, phonon: Phonopy, phonon_plus: Phonopy,
    band_paths: Sequence[np.ndarray], mesh: Sequence[int], temperatures: Sequence[float],
) -> Gruneisen:
    """γ along ``band_paths`` (segments of fractional q-points) and on ``mesh`` (Γ-centred,
    irreducible points), from FC2 at three volumes V- < V0 < V+ (central differences)."""
    from phonopy.api_gruneisen import PhonopyGruneisen

    start = time.perf_counter()
    gruneisen = PhonopyGruneisen(phonon, phonon_plus, phonon_minus)
    gruneisen.set_band_structure([np.asarray(p, dtype=float) for p in band_paths])
    qpoints, distances, frequencies, _, gammas = gruneisen.get_band_structure()
    gruneisen.set_mesh(list(map(int, mesh)), is_gamma_center=True)
    _, weights, mesh_frequencies, _, mesh_gamma = gruneisen.get_mesh()
    temperatures = np.asarray(temperatures, dtype=float)
    weights = np.asarray(weights, dtype=float)
    return Gruneisen(
        volumes=(phonon_minus.primitive.volume, phonon.primitive.volume,
                 phonon_plus.primitive.volume),
        band_qpoints=tuple(_readonly(q) for q in qpoints),
        band_distances=tuple(_readonly(d) for d in distances),
        band_frequencies=tuple(_readonly(f) for f in frequencies),
        band_gamma=tuple(_readonly(g) for g in gammas),
        mesh=_readonly(np.array(mesh, dtype=int)),
        mesh_weights=_readonly(weights),
        mesh_frequencies=_readonly(mesh_frequencies),
        mesh_gamma=_readonly(mesh_gamma),
        temperatures=_readonly(temperatures),
        average=_readonly(average_gruneisen(weights, np.asarray(mesh_frequencies),
                                            np.asarray(mesh_gamma), temperatures)),
        seconds=time.perf_counter() - start,
    )


def _readonly(values) -> np.ndarray:
    array = np.array(values)
    array.flags.writeable = False
    return array
