"""Figures of energy landscapes: a line (1D) or a heat map with contours (2D)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latdyn.landscape.slice import (
    EnergyLandscape,
    LandscapeFeatures,
    ReferenceComparison,
    SliceAxis,
    relative_mev_per_atom,
)
from latdyn.plotting import pyplot, save_figure


def _axis_label(axis: SliceAxis) -> str:
    unit = "Å" if axis.unit == "Å" else "factor"
    return f"{axis.name} ({unit}): {axis.label}"


def draw_line(ax, axis: SliceAxis, energies: np.ndarray, features: LandscapeFeatures,
              color: str, label: str) -> None:
    """Energy (meV/atom) along one axis, the minimum and barriers marked."""
    ax.plot(axis.values, energies, "-o", ms=2.5, lw=1.2, color=color, label=label)
    ax.axvline(features.refined_minimum[0], color=color, lw=0.8, ls="--")
    ax.plot([features.minimum.coordinates[0]], [features.minimum.energy], "v", color=color,
            ms=7)
    for saddle in features.saddles:
        ax.plot([saddle.coordinates[0]], [saddle.energy], "^", color=color, ms=7,
                mfc="none")


def draw_map(ax, axes: tuple[SliceAxis, ...], energies: np.ndarray,
             features: LandscapeFeatures | None, cmap: str = "viridis",
             symmetric: bool = False):
    """Heat map with contour lines; minima (white circles) and saddles (red crosses) marked."""
    x, y = axes[1].values, axes[0].values
    limit = float(np.abs(energies).max()) or 1.0
    levels = np.linspace(-limit, limit, 21) if symmetric else 20
    image = ax.contourf(x, y, energies, levels=levels, cmap=cmap)
    ax.contour(x, y, energies, levels=image.levels, colors="k", linewidths=0.4, alpha=0.6)
    if features is not None:
        points = [features.minimum, *features.minima]
        ax.plot([p.coordinates[1] for p in points], [p.coordinates[0] for p in points], "o",
                mfc="white", mec="k", ms=7, ls="none", label="minimum")
        if features.saddles:
            ax.plot([p.coordinates[1] for p in features.saddles],
                    [p.coordinates[0] for p in features.saddles], "x", color="red", ms=7,
                    mew=2, ls="none", label="saddle")
        ax.legend(fontsize="small", loc="upper right")
    ax.set_xlabel(_axis_label(axes[1]), fontsize="small")
    ax.set_ylabel(_axis_label(axes[0]), fontsize="small")
    return image


def plot_landscape(landscape: EnergyLandscape, path: str | Path,
                   comparison: ReferenceComparison | None = None, title: str = "") -> Path:
    """Draw the landscape (and the reference and the difference, when given) to ``path``."""
    plt = pyplot()

    model = landscape.relative_energies
    name = landscape.model["name"]
    reference = None
    if comparison is not None:
        reference = relative_mev_per_atom(comparison.reference_energies, len(landscape.structure))
    if len(landscape.axes) == 1:
        axis = landscape.axes[0]
        if comparison is None:
            fig, ax = plt.subplots(figsize=(6, 4.2))
            axes_list = [ax]
        else:
            fig, axes_list = plt.subplots(2, 1, sharex=True, figsize=(6, 6),
                                          gridspec_kw={"height_ratios": [3, 1.3]})
        draw_line(axes_list[0], axis, model, landscape.features, "C0", name)
        if comparison is not None:
            draw_line(axes_list[0], axis, reference, comparison.reference_features, "k",
                      "reference (DFT)")
            axes_list[1].plot(axis.values, comparison.difference, "-", color="C3")
            axes_list[1].axhline(0.0, color="0.5", lw=0.5)
            axes_list[1].set_ylabel("model − DFT\n(meV/atom)")
            axes_list[1].set_title(f"RMS {comparison.rms_difference:.3g} meV/atom",
                                   fontsize="small")
        axes_list[0].set_ylabel("E − E$_{min}$ (meV/atom)")
        axes_list[0].legend(fontsize="small", frameon=False)
        axes_list[-1].set_xlabel(_axis_label(axis), fontsize="small")
    else:
        panels = 1 if comparison is None else 3
        fig, axes_list = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4), squeeze=False)
        axes_list = axes_list[0]
        image = draw_map(axes_list[0], landscape.axes, model, landscape.features)
        fig.colorbar(image, ax=axes_list[0], label="E − E$_{min}$ (meV/atom)")
        axes_list[0].set_title(name, fontsize="small")
        if comparison is not None:
            image = draw_map(axes_list[1], landscape.axes, reference,
                             comparison.reference_features)
            fig.colorbar(image, ax=axes_list[1], label="E − E$_{min}$ (meV/atom)")
            axes_list[1].set_title("reference (DFT)", fontsize="small")
            image = draw_map(axes_list[2], landscape.axes, comparison.difference, None,
                             cmap="RdBu_r", symmetric=True)
            fig.colorbar(image, ax=axes_list[2], label="model − DFT (meV/atom)")
            axes_list[2].set_title(f"difference, RMS {comparison.rms_difference:.3g} meV/atom",
                                   fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    (path,) = save_figure(fig, path)
    plt.close(fig)
    return path
