"""Figures of a screen: the distribution of the ranked quantity and it against atomic mass."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latdyn.plotting import pyplot, save_figure
from latdyn.screen.ranking import Ranking


def _label(ranking: Ranking) -> str:
    if ranking.task == "kappa":
        return f"κ at {ranking.temperature:g} K (W/m/K)"
    return "mean acoustic frequency (THz)"


def plot_screen(ranking: Ranking, distribution_path: str | Path,
                descriptor_path: str | Path) -> list[Path]:
    """Histogram of the ranked quantity (log scale for κ) and a scatter against mean atomic mass.

    Only ranked materials are drawn; both figures are written even when none is ranked.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    values = np.array(ranking.column(ranking.quantity), dtype=float)
    masses = np.array(ranking.column("mean_atomic_mass"), dtype=float)
    imaginary = np.array([bool(x) for x in ranking.column("imaginary_modes")], dtype=bool)
    lowest = np.array([np.nan if x is None else x
                       for x in ranking.column("lowest_frequency_THz")], dtype=float)
    log = ranking.task == "kappa" and len(values) and np.all(values > 0)
    written = []

    fig, ax = plt.subplots(figsize=(5, 3.5))
    if len(values):
        bins = (np.geomspace(values.min(), values.max() * 1.0001, 21) if log and
                values.max() > values.min() else 20)
        ax.hist(values, bins=bins, color="C0", edgecolor="k", lw=0.5)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(_label(ranking))
    ax.set_ylabel("number of materials")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{len(values)} materials ranked, {int(imaginary.sum())} with imaginary modes",
                 fontsize="medium")
    fig.tight_layout()
    written += save_figure(fig, distribution_path)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(masses[~imaginary], values[~imaginary], s=16, color="C1", edgecolor="k", lw=0.3,
               label="no imaginary modes")
    if imaginary.any():
        ax.scatter(masses[imaginary], values[imaginary], s=30, color="C3", marker="X",
                   label="imaginary modes (lowest THz)")
    for k, name in enumerate(ranking.column("id")):
        if len(values) <= 30 or imaginary[k]:
            text = f"{name} ({lowest[k]:.2f})" if imaginary[k] else name
            ax.annotate(text, (masses[k], values[k]), fontsize=7, xytext=(2, 2),
                        textcoords="offset points", color="C3" if imaginary[k] else "k")
    if len(values):
        ax.legend(fontsize="small", frameon=False)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("mean atomic mass (u)")
    ax.set_ylabel(_label(ranking))
    fig.tight_layout()
    written += save_figure(fig, descriptor_path)
    plt.close(fig)
    return written
