"""κ figures: κ(T), cumulative κ against frequency and mean free path, linewidths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latdyn.kappa.conductivity import Kappa
from latdyn.plotting import pyplot, save_figure


def cumulative(values: np.ndarray, contributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``values`` and the running sum of ``contributions`` in that order."""
    order = np.argsort(values, kind="stable")
    return values[order], np.cumsum(contributions[order])


def _trace(mode_kappa: np.ndarray) -> np.ndarray:
    return mode_kappa[..., :3].mean(axis=-1)


def plot_kappa_temperature(
    kappa: Kappa, paths: Sequence[str | Path], title: str = ""
) -> list[Path]:
    """Trace-average κ against temperature (total, and particle/coherence for Wigner)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    marker = "o" if len(kappa.temperatures) < 20 else None
    ax.plot(kappa.temperatures, kappa.kappa_trace_average, marker=marker, color="k", label="total")
    if kappa.mode_kappa_coherence is not None:
        ax.plot(kappa.temperatures, kappa.kappa_particle[:, :3].mean(axis=1), marker=marker,
                ls="--", label="particle")
        ax.plot(kappa.temperatures, kappa.kappa_coherence[:, :3].mean(axis=1), marker=marker,
                ls=":", label="coherence")
    ax.set_xlabel("Temperature (K)")
    ax.set_ylabel("κ (W/m/K)")
    if np.all(kappa.kappa_trace_average > 0) and len(kappa.temperatures) > 1:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_cumulative_kappa(kappa: Kappa, paths: Sequence[str | Path], title: str = "") -> list[Path]:
    """Cumulative trace-average κ against frequency (total κ per mode) and against mean free
    path (particle-like κ, the part a mean free path describes), one line per temperature."""
    plt = pyplot()
    fig, (ax_f, ax_l) = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    total = _trace(kappa.mode_kappa_total) / kappa.weights.sum()
    particle = _trace(kappa.mode_kappa_particle) / kappa.weights.sum()
    paths_nm = kappa.mean_free_paths
    for t, temperature in enumerate(kappa.temperatures):
        label = f"{temperature:g} K"
        x, y = cumulative(np.ravel(kappa.frequencies), np.ravel(total[t]))
        ax_f.plot(x, y, label=label)
        finite = np.isfinite(np.ravel(paths_nm[t])) & (np.ravel(paths_nm[t]) > 0)
        x, y = cumulative(np.ravel(paths_nm[t])[finite], np.ravel(particle[t])[finite])
        ax_l.plot(x, y, label=label)
    ax_f.set_xlabel("Frequency (THz)")
    ax_f.set_ylabel("Cumulative κ (W/m/K)")
    ax_l.set_xlabel("Mean free path (nm)")
    ax_l.set_xscale("log")
    ax_l.set_title("particle-like κ", fontsize="small")
    ax_f.legend(frameon=False, fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_linewidths(kappa: Kappa, paths: Sequence[str | Path], title: str = "") -> list[Path]:
    """Three-phonon linewidths 2Γ against frequency, one colour per temperature."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    frequencies = np.ravel(kappa.frequencies)
    for t, temperature in enumerate(kappa.temperatures):
        width = 2.0 * np.ravel(kappa.gamma[t])
        keep = width > 0
        ax.scatter(frequencies[keep], width[keep], s=6, label=f"{temperature:g} K")
    ax.set_xlabel("Frequency (THz)")
    ax.set_ylabel("Linewidth 2Γ (THz)")
    ax.set_yscale("log")
    ax.legend(frameon=False, fontsize="small")
    ax.set_title(title)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written
