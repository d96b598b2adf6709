"""Write a κ run's results into an output folder (each file atomically, summary last)."""

from __future__ import annotations

from pathlib import Path

from latdyn.files import write_json
from latdyn.kappa.output import write_kappa_hdf5, write_phono3py_params
from latdyn.kappa.plot import plot_cumulative_kappa, plot_kappa_temperature, plot_linewidths
from latdyn.workflows.kappa import KappaWorkflowResult, kappa_summary


def write_kappa_run(result: KappaWorkflowResult, out_dir: str | Path, inputs: dict,
                    extra: dict | None = None, extra_outputs: tuple = ()) -> dict:
    """Write ``phono3py_params.yaml``, ``kappa.h5``, the figures and ``summary.json``.

    A gated run (no κ) writes ``phono3py_params.yaml`` (FC2 forces) and ``summary.json`` saying
    why. ``extra`` entries join the summary, ``extra_outputs`` (names of files already
    written into ``out_dir``) its list of outputs. Returns the summary; ``summary.json`` is written last, marking a complete run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = [write_phono3py_params(result.displacements.phono3py, out / "phono3py_params.yaml")]
    kappa = result.kappa
    if kappa is not None:
        atoms = result.structure.atoms
        title = (f"{atoms.get_chemical_formula(empirical=True)} {result.structure.symmetry} — "
                 f"{result.model['name']}, {kappa.method}")
        outputs.append(write_kappa_hdf5(kappa, out / "kappa.h5"))
        outputs += plot_kappa_temperature(kappa, [out / "kappa_temperature.png"], title)
        outputs += plot_cumulative_kappa(kappa, [out / "kappa_cumulative.png"], title)
        outputs += plot_linewidths(kappa, [out / "linewidths.png"], title)
    summary = {**kappa_summary(result, inputs), **(extra or {})}
    summary["outputs"] = [path.name for path in outputs] + list(extra_outputs) + ["summary.json"]
    write_json(out / "summary.json", summary)
    return summary
