"""Overlay figures of DFT and MLIP: bands + DOS on shared axes, κ(T)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latdyn.compare.compare import Comparison
from latdyn.phonon.plot import draw_bands
from latdyn.plotting import pyplot, save_figure

DFT_STYLE = {"color": "k"}
MLIP_STYLE = {"color": "C3", "ls": "--"}


def plot_band_dos_overlay(comparison: Comparison, paths: Sequence[str | Path],
                           title: str = "") -> list[Path]:
    """DFT and MLIP band structures on the same path, and their DOS, on shared axes."""
    plt = pyplot()
    fig, (ax_band, ax_dos) = plt.subplots(
        1, 2, sharey=True, figsize=(8.5, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    model = comparison.model["name"]
    draw_bands(ax_band, comparison.dft, label="DFT", **DFT_STYLE)
    draw_bands(ax_band, comparison.mlip, label=model, **MLIP_STYLE)
    ax_band.legend(frameon=False, fontsize="small", loc="lower right")
    for phonons, label, style in ((comparison.dft, "DFT", DFT_STYLE),
                                  (comparison.mlip, model, MLIP_STYLE)):
        ax_dos.plot(phonons.total_dos, phonons.dos_frequencies, lw=1.0, label=label, **style)
    ax_dos.set_xlabel("DOS (1/THz)")
    ax_dos.set_xlim(left=0)
    stats = comparison.frequencies
    ax_band.set_title(f"{title}\nfrequency MAE {stats.mae:.3f} THz, RMSE {stats.rmse:.3f} THz "
                      f"({'x'.join(map(str, stats.mesh))} mesh)", fontsize="medium")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_kappa_overlay(comparison: Comparison, paths: Sequence[str | Path],
                       title: str = "") -> list[Path]:
    """κ(T) of DFT and MLIP: trace average and the diagonal components, log-log."""
    if comparison.kappa_dft is None or comparison.kappa_mlip is None:
        raise ValueError("the comparison has no κ")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    model = comparison.model["name"]
    for kappa, label, style in ((comparison.kappa_dft, "DFT", DFT_STYLE),
                                (comparison.kappa_mlip, model, MLIP_STYLE)):
        t = np.asarray(kappa.temperatures)
        ax.plot(t, kappa.kappa_trace_average, lw=1.5, label=f"{label} (trace/3)", **style)
        if not np.allclose(kappa.kappa[:, 0], kappa.kappa[:, 2], rtol=1e-3):
            ax.plot(t, kappa.kappa[:, 0], lw=0.8, alpha=0.6, label=f"{label} xx",
                    color=style["color"], ls=":")
            ax.plot(t, kappa.kappa[:, 2], lw=0.8, alpha=0.6, label=f"{label} zz",
                    color=style["color"], ls="-.")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Temperature (K)")
    ax.set_ylabel("κ (W/m/K)")
    ratio = comparison.kappa_ratio
    mesh = "x".join(map(str, comparison.kappa_dft.mesh))
    ax.set_title(f"{title}\nRTA, {mesh} mesh; κ ratio at 300 K {ratio:.3f}", fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written
