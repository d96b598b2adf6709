"""κ figures: κ(T), cumulative κ against frequency and mean free path, linewidths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latdyn.kappa.conductivity import Kappa
from latdyn.plotting import finish_figure, plain_log_ticks, pyplot


def cumulative(values: np.ndarray, contributions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``values`` and the running sum of ``contributions`` in that order."""
    order = np.argsort(values, kind="stable")
    return values[order], np.cumsum(contributions[order])


#: Mean free paths below this (nm) are not physical (a tenth of the shortest bond): they are
#: the zero-velocity modes at Γ and band crossings, left out of the cumulative-κ(MFP) curve.
MIN_MEANINGFUL_MFP_NM = 0.01

#: Mode contributions below this fraction of the largest one are round-off (zero-velocity
#: modes), not κ: the figures leave them out.
NEGLIGIBLE_SHARE = 1e-8


def _trace(mode_kappa: np.ndarray) -> np.ndarray:
    return mode_kappa[..., :3].mean(axis=-1)


def meaningful_mfp(paths_nm: np.ndarray, contributions: np.ndarray) -> np.ndarray:
    """Mask of the modes whose mean free path means something: finite, at least
    :data:`MIN_MEANINGFUL_MFP_NM`, and carrying κ (non-zero contribution)."""
    return (np.isfinite(paths_nm) & (paths_nm >= MIN_MEANINGFUL_MFP_NM)
            & carries_kappa(contributions))


def carries_kappa(contributions: np.ndarray) -> np.ndarray:
    """Mask of the mode contributions above :data:`NEGLIGIBLE_SHARE` of the largest."""
    largest = np.abs(contributions).max() if contributions.size else 0.0
    return np.abs(contributions) > NEGLIGIBLE_SHARE * largest


def plot_kappa_temperature(
    kappa: Kappa, paths: Sequence[str | Path], title: str = ""
) -> list[Path]:
    """Trace-average κ against temperature (total, and particle/coherence for Wigner)."""
    if len(kappa.temperatures) == 1:
        return _plot_mode_kappa(kappa, paths, title)
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
    if np.all(kappa.kappa_trace_average > 0):
        ax.set_yscale("log")
        if kappa.kappa_trace_average.max() < 10 * kappa.kappa_trace_average.min():
            plain_log_ticks(ax.yaxis)  # within a decade: label the minor ticks too
    ax.legend(frameon=False)
    ax.set_title(title)
    return finish_figure(fig, paths)


def _plot_mode_kappa(kappa: Kappa, paths: Sequence[str | Path], title: str) -> list[Path]:
    """One temperature: each mode's share of κ against its frequency (instead of one dot)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    temperature = float(kappa.temperatures[0])
    share = np.ravel(_trace(kappa.mode_kappa_total[0])) / kappa.weights.sum()
    frequencies = np.ravel(kappa.frequencies)
    positive = (share > 0) & carries_kappa(share)
    ax.scatter(frequencies[positive], share[positive], s=8, color="k")
    ax.set_yscale("log")
    ax.set_xlabel("Frequency (THz)")
    ax.set_ylabel("κ per mode (W/m/K)")
    ax.set_title(f"{title}\nκ = {kappa.kappa_trace_average[0]:.3g} W/m/K at {temperature:g} K "
                 f"({int(positive.sum())} of {share.size} modes shown)", fontsize="medium")
    return finish_figure(fig, paths)


def plot_cumulative_kappa(kappa: Kappa, paths: Sequence[str | Path], title: str = "") -> list[Path]:
    """Cumulative trace-average κ against frequency (total κ per mode) and against mean free
    path (particle-like κ, the part a mean free path describes), one line per temperature.

    The mean-free-path axis spans the modes of :func:`meaningful_mfp`; the figure says how many
    modes (and how much κ) it leaves out.
    """
    plt = pyplot()
    fig, (ax_f, ax_l) = plt.subplots(1, 2, figsize=(9, 4), sharey=True)
    total = _trace(kappa.mode_kappa_total) / kappa.weights.sum()
    particle = _trace(kappa.mode_kappa_particle) / kappa.weights.sum()
    paths_nm = kappa.mean_free_paths
    low, high, dropped, dropped_kappa = np.inf, 0.0, 0, 0.0
    for t, temperature in enumerate(kappa.temperatures):
        label = f"{temperature:g} K"
        x, y = cumulative(np.ravel(kappa.frequencies), np.ravel(total[t]))
        ax_f.plot(x, y, label=label)
        mfp, share = np.ravel(paths_nm[t]), np.ravel(particle[t])
        keep = meaningful_mfp(mfp, share)
        dropped = max(dropped, int((~keep).sum()))
        total_share = share.sum()
        if total_share:
            dropped_kappa = max(dropped_kappa, abs(share[~keep].sum() / total_share))
        if keep.any():
            x, y = cumulative(mfp[keep], share[keep])
            ax_l.plot(np.concatenate([[x[0]], x]), np.concatenate([[0.0], y]), label=label)
            low, high = min(low, x[0]), max(high, x[-1])
    if high > 0:
        ax_l.set_xlim(low / 1.5, high * 1.5)
    ax_f.set_xlabel("Frequency (THz)")
    ax_f.set_ylabel("Cumulative κ (W/m/K)")
    ax_l.set_xlabel("Mean free path (nm)")
    ax_l.set_xscale("log")
    ax_l.set_title(f"particle-like κ; {dropped} modes without a meaningful MFP left out\n"
                   f"(below {MIN_MEANINGFUL_MFP_NM:g} nm, undefined or carrying no κ: "
                   f"{dropped_kappa:.1%} of κ)", fontsize="small")
    ax_f.legend(frameon=False, fontsize="small")
    fig.suptitle(title)
    return finish_figure(fig, paths)


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
    return finish_figure(fig, paths)
