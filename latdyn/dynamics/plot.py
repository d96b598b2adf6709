"""Figure of an NVE energy trace: total, potential and kinetic energy against time."""

from __future__ import annotations

from pathlib import Path

from latdyn.dynamics.conservation import ConservationResult
from latdyn.plotting import pyplot, save_figure


def plot_energy_trace(result: ConservationResult, path: str | Path, title: str = "") -> Path:
    """Top: total energy (meV/atom from its start) with the fitted drift; bottom: potential and
    kinetic energy (meV/atom from the start of the potential energy) and the temperature."""
    plt = pyplot()

    trace = result.trace
    t_ps = trace.time / 1000.0
    start = float(trace.total[0])
    fig, (ax_total, ax_parts) = plt.subplots(2, 1, sharex=True, figsize=(7, 6))
    ax_total.plot(t_ps, (trace.total - start) * 1000.0, color="k", lw=1.0, label="total")
    fit = result.drift * (t_ps - t_ps.mean()) + float(((trace.total - start) * 1000.0).mean())
    flag = "below" if result.drift_passed else "above"
    ax_total.plot(t_ps, fit, color="C3", ls="--",
                  label=f"drift {result.drift:.3g} meV/atom/ps ({flag} the threshold "
                  f"{result.settings.threshold:g})")
    ax_total.set_ylabel("E$_{total}$ − E$_{total}$(0)\n(meV/atom)")
    ax_total.legend(fontsize="small", frameon=False)
    reference = float(trace.potential[0])
    ax_parts.plot(t_ps, (trace.potential - reference) * 1000.0, color="C0", lw=1.0,
                  label="potential")
    ax_parts.plot(t_ps, trace.kinetic * 1000.0, color="C1", lw=1.0, label="kinetic")
    ax_parts.plot(t_ps, (trace.total - reference) * 1000.0, color="k", lw=1.0, label="total")
    ax_parts.set_ylabel("E − E$_{pot}$(0) (meV/atom)")
    ax_parts.set_xlabel("time (ps)")
    ax_temp = ax_parts.twinx()
    ax_temp.plot(t_ps, trace.temperature, color="0.6", lw=0.6, label="temperature (right)")
    ax_temp.set_ylabel("Temperature (K)", color="0.45")
    # one legend for both axes, above the curves (the total energy sits at the top)
    lines = ax_parts.get_lines() + ax_temp.get_lines()
    ax_parts.legend(lines, [line.get_label() for line in lines], fontsize="small",
                    frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)
    verdict = "PASS" if result.passed else "FAIL"
    if result.permutation_asymmetry is not None:
        verdict += f"; ||Φ−Φᵀ||/||Φ|| = {result.permutation_asymmetry:.2g}"
        if result.static_flagged:
            verdict += " (flagged)"
    ax_total.set_title(title or f"NVE, {result.n_atoms} atoms, {result.model['name']}: {verdict}",
                       fontsize="medium")
    fig.tight_layout()
    (path,) = save_figure(fig, path)
    plt.close(fig)
    return path
