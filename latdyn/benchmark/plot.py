"""κSRME figures: κ parity, SRME histogram and cumulative SRME, two runs overlaid, mode κ."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from latdyn.benchmark.ksrme import CompoundScore
from latdyn.benchmark.reference import STRUCTURE_TYPES, ReferenceCompound
from latdyn.plotting import pyplot, save_figure

_TYPE_COLORS = {225: "C0", 216: "C1", 186: "C2"}


def plot_parity(scores: Sequence[CompoundScore], paths: Sequence[str | Path],
                title: str = "") -> list[Path]:
    """Log-log κ_MLIP against κ_DFT at 300 K, coloured by structure type; failures omitted."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    values = [s for s in scores if np.isfinite(s.kappa_mlip) and s.kappa_mlip > 0]
    for number, kind in STRUCTURE_TYPES.items():
        group = [s for s in values if s.space_group == number]
        if group:
            ax.scatter([s.kappa_dft for s in group], [s.kappa_mlip for s in group], s=18,
                       color=_TYPE_COLORS[number], label=f"{kind} ({number})")
    every = [s.kappa_dft for s in scores] + [s.kappa_mlip for s in values]
    low, high = (min(every) / 2, max(every) * 2) if every else (0.1, 1000.0)
    ax.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("κ DFT (W/m/K)")
    ax.set_ylabel("κ MLIP (W/m/K)")
    n_missing = len(scores) - len(values)
    ax.set_title(title + (f"\n{n_missing} without κ" if n_missing else ""), fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_srme_histogram(scores: Sequence[CompoundScore], paths: Sequence[str | Path],
                        title: str = "") -> list[Path]:
    """Histogram of SRME (0..2), stacked by structure type."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    groups, labels, colors = [], [], []
    for number, kind in STRUCTURE_TYPES.items():
        group = [s.srme for s in scores if s.space_group == number]
        if group:
            groups.append(group)
            labels.append(kind)
            colors.append(_TYPE_COLORS[number])
    if groups:
        ax.hist(groups, bins=np.linspace(0, 2, 21), stacked=True, label=labels, color=colors)
    mean = float(np.mean([s.srme for s in scores])) if scores else float("nan")
    ax.axvline(mean, color="k", lw=0.8, ls="--", label=f"mean {mean:.3f}")
    ax.set_xlabel("SRME")
    ax.set_ylabel("compounds")
    ax.set_xlim(0, 2)
    ax.set_title(title, fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_mode_kappa(compound: ReferenceCompound, prediction: dict, score: CompoundScore,
                    paths: Sequence[str | Path], model: str = "MLIP") -> list[Path]:
    """Mode-resolved κ at 300 K against frequency, DFT and MLIP.

    Left: each mode's contribution to κ (mode κ times weight over the number of q-points);
    right: the cumulative κ below a frequency.
    """
    plt = pyplot()
    fig, (ax_modes, ax_cumulative) = plt.subplots(1, 2, figsize=(9, 3.8))
    series = [("DFT (PBE)", "k", compound.frequencies, compound.mode_kappa[0],
               compound.weights)]
    if prediction.get("mode_kappa") is not None:
        series.append((model, "C3", np.array(prediction["frequencies"], dtype=float),
                       np.array(prediction["mode_kappa"], dtype=float),
                       np.array(prediction["weights"], dtype=float)))
    for label, color, frequencies, mode_kappa, weights in series:
        contribution = (mode_kappa / weights.sum()).ravel()
        nu = frequencies.ravel()
        ax_modes.scatter(nu, np.clip(contribution, 1e-8, None), s=4, color=color, alpha=0.5,
                         label=label, lw=0)
        order = np.argsort(nu)
        ax_cumulative.plot(nu[order], np.cumsum(contribution[order]), color=color, label=label)
    ax_modes.set_yscale("log")
    ax_modes.set_xlabel("Frequency (THz)")
    ax_modes.set_ylabel("κ per mode (W/m/K)")
    ax_cumulative.set_xlabel("Frequency (THz)")
    ax_cumulative.set_ylabel("cumulative κ (W/m/K)")
    ax_cumulative.legend(frameon=False, fontsize="small")
    fig.suptitle(f"{compound.label}: κ DFT {score.kappa_dft:.2f}, {model} "
                 f"{score.kappa_mlip:.2f} W/m/K, SRME {score.srme:.3f}", fontsize="medium")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_cumulative_srme(runs: Sequence[tuple[str, Sequence[CompoundScore]]],
                         paths: Sequence[str | Path], title: str = "") -> list[Path]:
    """Compounds with SRME at most x, against x, one curve per ``(label, scores)`` run;
    the mean of each run in its legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k, (label, scores) in enumerate(runs):
        srme = np.sort([s.srme for s in scores])
        if not len(srme):
            continue
        counts = np.arange(1, len(srme) + 1)
        ax.step(np.concatenate([[0.0], srme, [2.05]]),
                np.concatenate([[0], counts, [len(srme)]]), where="post", color=f"C{k}",
                label=f"{label} (mean {srme.mean():.3f})")
    ax.set_xlabel("SRME")
    ax.set_ylabel("compounds with SRME ≤ x")
    ax.set_xlim(0, 2.05)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize="medium")
    ax.legend(frameon=False, fontsize="small", loc="upper left")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written


def plot_run_overlay(first: tuple[str, Sequence[CompoundScore]],
                     second: tuple[str, Sequence[CompoundScore]],
                     paths: Sequence[str | Path]) -> list[Path]:
    """Two runs on their common compounds: left, κ_MLIP against κ_DFT of both (filled: the
    first, open: the second, a line joins a compound's two κ); right, SRME of the second
    against SRME of the first, coloured by structure type."""
    from matplotlib.lines import Line2D

    plt = pyplot()
    (label_a, scores_a), (label_b, scores_b) = first, second
    by_id = {s.mp_id: s for s in scores_b}
    pairs = [(a, by_id[a.mp_id]) for a in scores_a if a.mp_id in by_id]
    fig, (ax_kappa, ax_srme) = plt.subplots(1, 2, figsize=(10, 4.6))
    every = []

    def has_kappa(score: CompoundScore) -> bool:
        return bool(np.isfinite(score.kappa_mlip) and score.kappa_mlip > 0)

    for number, kind in STRUCTURE_TYPES.items():
        group = [(a, b) for a, b in pairs if a.space_group == number]
        if not group:
            continue
        color = _TYPE_COLORS[number]
        for a, b in group:
            if has_kappa(a) and has_kappa(b):
                ax_kappa.plot([a.kappa_dft] * 2, [a.kappa_mlip, b.kappa_mlip], color=color,
                              lw=0.6, alpha=0.6)
        with_a = [a for a, _ in group if has_kappa(a)]
        with_b = [b for _, b in group if has_kappa(b)]
        ax_kappa.scatter([s.kappa_dft for s in with_a], [s.kappa_mlip for s in with_a], s=18,
                         color=color)
        ax_kappa.scatter([s.kappa_dft for s in with_b], [s.kappa_mlip for s in with_b], s=24,
                         facecolors="none", edgecolors=color)
        every += [s.kappa_dft for s in with_a + with_b] + [s.kappa_mlip for s in with_a + with_b]
        ax_srme.scatter([a.srme for a, _ in group], [b.srme for _, b in group], s=18,
                        color=color, label=kind)
    low, high = (min(every) / 2, max(every) * 2) if every else (0.1, 1000.0)
    ax_kappa.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
    ax_kappa.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high),
                 xlabel="κ DFT (W/m/K)", ylabel="κ MLIP (W/m/K)")
    ax_kappa.legend(handles=[
        Line2D([], [], ls="", marker="o", color="k", label=label_a),
        Line2D([], [], ls="", marker="o", markerfacecolor="none", color="k", label=label_b)],
        frameon=False, fontsize="small", loc="upper left")
    ax_srme.plot([0, 2], [0, 2], color="0.5", lw=0.8, ls="--")
    mean_a = np.mean([a.srme for a, _ in pairs]) if pairs else float("nan")
    mean_b = np.mean([b.srme for _, b in pairs]) if pairs else float("nan")
    ax_srme.set(xlim=(0, 2.05), ylim=(0, 2.05), xlabel=f"SRME {label_a} (mean {mean_a:.3f})",
                ylabel=f"SRME {label_b} (mean {mean_b:.3f})")
    ax_srme.legend(frameon=False, fontsize="small", loc="upper left")
    fig.suptitle(f"{label_a} vs {label_b}: {len(pairs)} common compounds", fontsize="medium")
    fig.tight_layout()
    written = save_figure(fig, paths)
    plt.close(fig)
    return written
