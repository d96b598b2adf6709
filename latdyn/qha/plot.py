"""QHA figures: F(V) with the fits, the thermodynamic curves, the Grüneisen dispersion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latdyn.plotting import pyplot, save_figure
from latdyn.qha.gruneisen import MIN_FREQUENCY, Gruneisen
from latdyn.qha.qha import QHAResult


def plot_energy_volume(qha: QHAResult, paths: Sequence[str | Path], title: str = "",
                       n_curves: int = 6) -> list[Path]:
    """E(V) + F_ph(V; T) at ``n_curves`` temperatures: points, the EOS fit and its minimum."""
    from phonopy.qha.eos import get_eos

    plt = pyplot()
    eos = get_eos(qha.eos)
    volumes = qha.volumes[qha.fitted]
    fine = np.linspace(volumes.min(), volumes.max(), 200)
    picks = np.unique(np.linspace(0, len(qha.temperatures) - 1, n_curves).round().astype(int))
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    colors = plt.cm.coolwarm(np.linspace(0, 1, len(picks)))
    for color, k in zip(colors, picks, strict=True):
        ax.plot(volumes, qha.helmholtz_volume[k], "o", color=color, ms=4)
        ax.plot(fine, eos(fine, qha.eos_parameters[k]), color=color,
                label=f"{qha.temperatures[k]:g} K")
    ax.plot(qha.equilibrium_volumes, qha.gibbs_free_energy, color="k", lw=1, ls="--",
            label="minimum")
    if not qha.fitted.all():
        ax.plot(qha.volumes[~qha.fitted], qha.energies[~qha.fitted], "x", color="r",
                label="imaginary modes (not fitted)")
    ax.set_xlabel("Volume (Å³ per primitive cell)")
    ax.set_ylabel("F (eV)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_thermodynamics(qha: QHAResult, paths: Sequence[str | Path], title: str = "",
                        gruneisen: Gruneisen | None = None) -> list[Path]:
    """V(T), linear α(T), B(T), and C_p(T) against C_v(T), up to the trusted temperature."""
    plt = pyplot()
    t = qha.temperatures
    fig, axes = plt.subplots(2, 2, figsize=(8, 6), sharex=True)
    (ax_v, ax_a), (ax_b, ax_c) = axes
    ax_v.plot(t, qha.equilibrium_volumes, color="k")
    ax_v.set_ylabel("V (Å³)")
    ax_a.plot(t, qha.linear_expansion * 1e6, color="C0")
    ax_a.axhline(0, color="0.6", lw=0.5)
    ax_a.set_ylabel("α = β/3 (10⁻⁶/K)")
    ax_b.plot(t, qha.bulk_modulus, color="C2")
    ax_b.set_ylabel("B_T (GPa)")
    ax_c.plot(t, qha.heat_capacity_p, color="C3", label="C_p")
    ax_c.plot(t, qha.heat_capacity_v, color="C3", ls="--", label="C_v at V(T)")
    ax_c.set_ylabel("C (J/K/mol)")
    ax_c.legend(frameon=False, fontsize=8)
    if gruneisen is not None:
        twin = ax_b.twinx()
        twin.plot(t, gruneisen.average, color="C1", ls=":")
        twin.set_ylabel("mean γ (dotted)", color="C1")
    for ax in (ax_b, ax_c):
        ax.set_xlabel("Temperature (K)")
    if qha.truncated:
        for ax in axes.flat:
            ax.axvline(qha.t_max_trusted, color="r", lw=0.5, ls=":")
    fig.suptitle(title + (f" (trusted up to {qha.t_max_trusted:g} K)" if qha.truncated else ""),
                 fontsize=9)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_gruneisen(gruneisen: Gruneisen, paths: Sequence[str | Path], title: str = "",
                   labels: Sequence[str] = ()) -> list[Path]:
    """Phonon dispersion at V0 coloured by the mode γ, and γ against frequency on the mesh."""
    plt = pyplot()
    from matplotlib.colors import Normalize

    fig, (ax_d, ax_m) = plt.subplots(1, 2, figsize=(9, 4), width_ratios=[2, 1], sharey=True)
    finite = np.concatenate([g[np.isfinite(g)] for g in gruneisen.band_gamma])
    limit = float(np.percentile(np.abs(finite), 98)) if len(finite) else 1.0
    norm = Normalize(-limit, limit)
    ticks = [float(gruneisen.band_distances[0][0])]
    for d, f, g in zip(gruneisen.band_distances, gruneisen.band_frequencies,
                       gruneisen.band_gamma, strict=True):
        for band in range(f.shape[1]):
            points = ax_d.scatter(d, f[:, band], c=np.nan_to_num(g[:, band]), cmap="coolwarm",
                                  norm=norm, s=4)
        ticks.append(float(d[-1]))
    for x in ticks:
        ax_d.axvline(x, color="0.7", lw=0.5)
    ax_d.set_xticks(ticks)
    ax_d.set_xticklabels(labels if len(labels) == len(ticks) else [""] * len(ticks))
    ax_d.set_xlim(ticks[0], ticks[-1])
    ax_d.set_ylabel("Frequency (THz)")
    fig.colorbar(points, ax=ax_m, label="mode Grüneisen γ")
    valid = gruneisen.mesh_frequencies > MIN_FREQUENCY  # no γ for the acoustic modes at Γ
    ax_m.scatter(gruneisen.mesh_gamma[valid], gruneisen.mesh_frequencies[valid],
                 c=gruneisen.mesh_gamma[valid], cmap="coolwarm", norm=norm, s=3)
    ax_m.axvline(0, color="0.6", lw=0.5)
    ax_m.set_xlabel("γ (mesh)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_kappa_volume(temperatures: np.ndarray, kappa_fixed: np.ndarray,
                      kappa_expanded: np.ndarray, paths: Sequence[str | Path],
                      title: str = "") -> list[Path]:
    """Trace-average κ(T) at the static volume and at the QHA volume V(T)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(temperatures, kappa_fixed, "o-", color="k", label="static volume")
    ax.plot(temperatures, kappa_expanded, "s--", color="C3", label="QHA volume V(T)")
    ax.set_xlabel("Temperature (K)")
    ax.set_ylabel("κ (W/m/K)")
    if np.all(np.isfinite(kappa_fixed) & (kappa_fixed > 0)) and len(temperatures) > 1:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written
