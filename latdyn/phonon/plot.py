"""Band-structure and DOS figures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latdyn.phonon.phonons import Phonons
from latdyn.plotting import pyplot, save_figure


def _tick_labels(phonons: Phonons) -> tuple[list[float], list[str]]:
    """Positions and labels of the path's special points (phonopy label convention)."""
    starts = list(phonons.band_segment_starts) + [len(phonons.band_distances)]
    labels = list(phonons.band_labels)
    positions, names, k = [], [], 0
    for s in range(len(starts) - 1):
        first, last = starts[s], starts[s + 1] - 1
        if s == 0 or not phonons.band_connections[s - 1]:
            label = labels[k] if k < len(labels) else ""
            if s > 0 and positions and np.isclose(positions[-1], phonons.band_distances[first]):
                names[-1] = f"{names[-1]}|{label}"
            else:
                positions.append(float(phonons.band_distances[first]))
                names.append(label)
            k += 1
        positions.append(float(phonons.band_distances[last]))
        names.append(labels[k] if k < len(labels) else "")
        k += 1
    return positions, names


def draw_bands(ax, phonons: Phonons, color="C0", label: str | None = None, **kwargs) -> None:
    """Draw ``phonons``' band structure on ``ax`` (x: path distance, y: THz)."""
    starts = list(phonons.band_segment_starts) + [len(phonons.band_distances)]
    for s in range(len(starts) - 1):
        segment = slice(starts[s], starts[s + 1])
        lines = ax.plot(phonons.band_distances[segment], phonons.band_frequencies[segment],
                        color=color, lw=1.0, **kwargs)
        if label and s == 0:
            lines[0].set_label(label)
    positions, names = _tick_labels(phonons)
    ax.set_xticks(positions)
    ax.set_xticklabels(names)
    for x in positions:
        ax.axvline(x, color="0.7", lw=0.5)
    ax.axhline(0.0, color="0.5", lw=0.5, ls=":")
    ax.set_xlim(phonons.band_distances[0], phonons.band_distances[-1])
    low, high = phonons.band_frequencies.min(), phonons.band_frequencies.max()
    ax.set_ylim(min(0.0, low) - 0.03 * (high - low), high * 1.05)
    ax.set_ylabel("Frequency (THz)")


def draw_dos(ax, phonons: Phonons, element_labels: Sequence[str] | None = None,
             color="k", label="total") -> None:
    """Draw the total (and element-projected) DOS sideways on ``ax``."""
    ax.plot(phonons.total_dos, phonons.dos_frequencies, color=color, lw=1.0, label=label)
    if phonons.projected_dos is not None and element_labels is not None:
        for i, element in enumerate(dict.fromkeys(element_labels)):
            mask = np.array([e == element for e in element_labels])
            ax.fill_betweenx(phonons.dos_frequencies, phonons.projected_dos[mask].sum(axis=0),
                             alpha=0.35, color=f"C{i + 1}", label=element, lw=0)
    ax.set_xlabel("DOS (1/THz)")
    ax.set_xlim(left=0)
    ax.legend(fontsize="small", frameon=False)


def plot_band_dos(phonons: Phonons, paths: Sequence[str | Path], title: str = "",
                  element_labels: Sequence[str] | None = None) -> list[Path]:
    """Band structure and DOS side by side, saved to each of ``paths`` (PNG, PDF, ...)."""
    plt = pyplot()
    fig, (ax_band, ax_dos) = plt.subplots(
        1, 2, sharey=True, figsize=(8, 4.5), gridspec_kw={"width_ratios": [3, 1]}
    )
    draw_bands(ax_band, phonons)
    draw_dos(ax_dos, phonons, element_labels)
    ax_band.set_title(title)
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written
